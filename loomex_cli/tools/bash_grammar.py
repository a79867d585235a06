"""What bash will run: a command line parsed with bash's grammar (tree-sitter-bash).

    a = analyse("git status && rm -rf $(pwd)")
    a.plain          # False: a command substitution
    a.why            # "a command substitution ($(...) or backticks)"
    [c.words for c in a.commands]   # [("git", "status"), ("rm", "-rf", None), ("pwd",)]

A line is *plain* when every node of its tree is of a kind listed in :data:`PLAIN_KINDS`
(simple commands of literal words and quoted strings joined by ``&&``, ``||``, ``;``, ``|``
and newlines, redirections to /dev/null and the like) **and** an independent strict reader
(:func:`.bash_words.lex_plain`) splits it into the same words and operators. Only a plain
line has words that are known before it runs; only a plain line can be approved by a rule
or by ``--yes``. Everything else is still searched for every simple command anywhere in it
(substitutions, subshells, function bodies, loops, here-documents fed to a shell, and
``bash -c``/``eval``/``env -S`` strings, recursively up to :data:`MAX_DEPTH`), for the
deny rules and the danger checks.

tree-sitter is imported on the first call (about 15 ms), never at start-up.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .bash_tree import SimpleCommand, rough_commands, tree_commands
from .bash_words import NotPlain, Tok, command_trouble, commands_of, lex_plain
from .bash_wrappers import SHELLS, inner_scripts, unwrap

#: nested shell code (bash -c inside eval inside ...) deeper than this is not read: the line
#: is then not plain and is dangerous (fail closed)
MAX_DEPTH = 4
PLAIN_KINDS = frozenset({
    "program", "list", "pipeline", "redirected_statement", "command", "command_name",
    "word", "number", "string", "string_content", "raw_string", "concatenation",
    "file_redirect", "file_descriptor",
    "&&", "||", "|", ";", '"', ">", ">>", "&>", "&>>", ">&", "<&", ">|", "<",
})
_WHY = {
    "comment": "a comment", "ansi_c_string": "$'...' (an ANSI-C quoted string)",
    "simple_expansion": "a parameter expansion ($x)", "expansion": "a parameter expansion",
    "command_substitution": "a command substitution ($(...) or backticks)",
    "process_substitution": "a process substitution", "arithmetic_expansion": "arithmetic",
    "variable_assignment": "an assignment", "heredoc_redirect": "a here-document",
    "herestring_redirect": "a here-string", "function_definition": "a function definition",
    "subshell": "a subshell", "compound_statement": "a { ...; } group",
    "translated_string": '$"..." (a translated string)', "&": "'&' (runs in the background)",
    "negated_command": "'!'", "test_command": "a test ([ ] or [[ ]])",
    "declaration_command": "a declaration (export, declare, local ...)",
    "unset_command": "unset", "brace_expression": "brace expansion",
}
_lock = threading.Lock()
_parser_obj: Any = None


@dataclass(frozen=True, slots=True)
class Analysis:
    """What a bash line will run: its commands, its redirections, and why it is not plain."""
    commands: tuple[SimpleCommand, ...]
    #: (operator, target value or None) of every redirection anywhere
    redirects: tuple[tuple[str, str | None], ...]
    #: why the line is not plain, or None when it is
    why: str | None
    #: nested shell code went deeper than MAX_DEPTH
    too_deep: bool = False

    @property
    def plain(self) -> bool:
        return self.why is None


def analyse(command: str) -> Analysis:
    """The simple commands of ``command`` and whether it is plain (see the module doc)."""
    try:
        return _analyse(command, os.environ.get("HOME") or None, 0)
    except (RecursionError, MemoryError, ValueError) as e:  # fail closed: a person decides
        return Analysis((), (), f"a command loomex could not read ({type(e).__name__})",
                        too_deep=True)


def parser() -> Any:
    """The tree-sitter parser for bash, loaded on first use."""
    global _parser_obj
    if _parser_obj is None:
        import tree_sitter
        import tree_sitter_bash
        _parser_obj = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))
    return _parser_obj


@lru_cache(maxsize=64)
def _analyse(command: str, home: str | None, depth: int) -> Analysis:
    if depth > MAX_DEPTH:
        return Analysis((), (), "shell code nested too deeply to check", too_deep=True)
    try:
        data = command.encode("utf-8")
    except UnicodeEncodeError:
        return Analysis((), (), "text that is not valid UTF-8")
    try:
        # bash reads a carriage return as part of a word; the grammar as a blank: DEL is a
        # word character for both, and the values are read from the original text
        seen = data.replace(b"\r", b"\x7f") if b"\x7f" not in data else data
        with _lock:
            root = parser().parse(seen).root_node
    except ImportError as e:  # pragma: no cover - a broken install: nothing is plain
        return Analysis((), (), f"bash's grammar is not available ({e})")
    why = _kinds_trouble(root)
    toks: list[Tok] = []
    if why is None:
        try:
            toks = lex_plain(command, home)
        except NotPlain as e:
            why = str(e)
    if why is None and _stream(root, data, command) != _norm(toks):
        why = "a line bash may split differently than it looks"
    if why is None:
        why = next((w for c in commands_of(toks) if (w := command_trouble(c))), None)
    if why is None:
        commands, redirects = _plain_commands(toks, depth)
    else:
        commands, redirects = tree_commands(root, data, home, depth)
        # the grammar and bash may disagree on a line that is not plain: also split the
        # text roughly, so that what hides in it is still seen by deny rules and danger
        commands += rough_commands(command, depth)
        if "\\\n" in command:  # bash joins `l\<newline>s` into `ls`; the grammar may not
            joined = command
            while "\\\n" in joined:
                joined = joined.replace("\\\n", "")
            alt = _analyse(joined, home, depth)
            commands += alt.commands
            redirects += alt.redirects
    too_deep = False
    for c in list(commands):
        scripts = _scripts_of(c)
        for script in scripts:
            if script is None:
                continue
            sub = _analyse(script, home, depth + 1)
            commands.extend(sub.commands)
            redirects.extend(sub.redirects)
            too_deep = too_deep or sub.too_deep
            if sub.why is not None and why is None:
                why = sub.why if "code given to" in sub.why else \
                    f"{sub.why}, in the code given to '{c.words[0]}'"
    return Analysis(tuple(commands), tuple(redirects), why, too_deep)


def _scripts_of(c: SimpleCommand) -> list[str | None]:
    known = [w if w is not None else "\0" for w in c.words]
    scripts: list[str | None] = [s if "\0" not in s else None for s in inner_scripts(known)]
    name = unwrap(known)[0]
    if c.stdin_text is not None and name in SHELLS and not scripts:
        scripts.append(c.stdin_text)  # bash <<EOF ... EOF
    return scripts


# -- plain ---------------------------------------------------------------------------------

def _kinds_trouble(root: Any) -> str | None:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing:
            return "an incomplete command"
        t = node.type
        if t == "ERROR" or (t not in PLAIN_KINDS):
            return "a syntax error" if t == "ERROR" else _WHY.get(t, f"'{t}'")
        stack.extend(node.children)
    return None


def _offsets(command: str, data: bytes) -> list[int] | None:
    """Byte offset -> character offset (None when they are the same: ASCII)."""
    if len(data) == len(command):
        return None
    table = [0] * (len(data) + 1)
    b = 0
    for i, ch in enumerate(command):
        size = len(ch.encode("utf-8"))
        for k in range(size):
            table[b + k] = i
        b += size
    table[b] = len(command)
    return table


def _stream(root: Any, data: bytes, command: str) -> list[tuple]:
    """The words, redirections and operators of a plain-kinded tree, in order."""
    table = _offsets(command, data)

    def span(node: Any) -> tuple[int, int]:
        if table is None:
            return node.start_byte, node.end_byte
        return table[node.start_byte], table[node.end_byte]

    out: list[tuple] = []
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            out.append(node)
            continue
        t = node.type
        if t == "command":
            for ch in node.children:
                out.append(("r" if ch.type == "file_redirect" else "w", *span(ch)))
        elif t == "file_redirect":
            out.append(("r", *span(node)))
        elif not node.is_named:
            out.append(("op", t))
        elif t == "program":
            items: list[Any] = []
            for ch in node.children:
                if items and ch.type != ";" and items[-1] != ("op", ";"):
                    items.append(("op", ";"))
                items.append(ch if ch.type != ";" else ("op", ";"))
            stack.extend(reversed(items))
        else:
            stack.extend(reversed(node.children))
    return _norm_ops(out)


def _norm(toks: list[Tok]) -> list[tuple]:
    return _norm_ops([("op", t.value) if t.kind == "op" else (t.kind, t.start, t.end)
                      for t in toks])


def _norm_ops(items: list[tuple]) -> list[tuple]:
    out: list[tuple] = []
    for it in items:
        if it == ("op", ";") and (not out or out[-1][0] == "op"):
            continue  # ";" after nothing, after ";" or after && || | (a newline there)
        out.append(it)
    while out and out[-1] == ("op", ";"):
        out.pop()
    return out


def _plain_commands(toks: list[Tok], depth: int
                    ) -> tuple[list[SimpleCommand], list[tuple[str, str | None]]]:
    import shlex
    commands: list[SimpleCommand] = []
    redirects: list[tuple[str, str | None]] = []
    pipe = 0
    cmd: list[Tok] = []
    for t in [*toks, Tok("op", 0, 0, ";")]:
        if t.kind != "op":
            cmd.append(t)
            continue
        if cmd:
            words = [w for w in cmd if w.kind == "w"]
            redirects += [(r.op, r.value) for r in cmd if r.kind == "r"]
            commands.append(SimpleCommand(
                tuple(w.value for w in words),
                tuple(w.raw if w.glob is not None else shlex.quote(w.value) for w in words),
                depth, pipe, tuple(w.glob for w in words)))
        cmd = []
        if t.value != "|":
            pipe += 1
    return commands, redirects
