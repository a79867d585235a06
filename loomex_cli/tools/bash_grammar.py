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
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .bash_words import (RESERVED, SHELLS, NotPlain, Tok, brace_expand, command_trouble, commands_of,
                         inner_scripts, lex_plain, read_word, unwrap)

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
_ARG_SKIP = {"variable_assignment", "file_redirect", "heredoc_redirect", "herestring_redirect",
             "comment", "command_name"}
_REDIR_OP = re.compile(r"\{?[A-Za-z0-9_]*\}?(&>>|&>|>>|>&|>\||<>|<&|<<<|<<-|<<|<|>)")
_lock = threading.Lock()
_parser_obj: Any = None


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    #: each word's value, None where bash computes it when the line runs
    words: tuple[str | None, ...]
    #: each word as shown and matched by rules: the value, quoted when needed
    shown: tuple[str, ...]
    #: 0: on the line itself; 1 and more: inside ``bash -c``/``eval`` strings
    depth: int = 0
    #: the commands of one pipeline share this number
    pipeline: int = -1
    #: plain lines: for each word with unquoted * ? [...], the pattern bash expands against
    #: the files (None for the other words); empty for lines that are not plain
    globs: tuple[str | None, ...] = ()
    #: a here-document or here-string fed to its stdin
    stdin_text: str | None = None
    #: the names of commands whose output its words take ($(...), <(...))
    feeds: tuple[str, ...] = ()
    #: found by the rough reading of a line that is not plain (not by the grammar)
    rough: bool = False

    @property
    def line(self) -> str:
        """The words joined by one space (what rules are matched against)."""
        return " ".join(self.shown)


@dataclass(frozen=True, slots=True)
class Analysis:
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
        commands, redirects = _tree_commands(root, data, home, depth)
        # the grammar and bash may disagree on a line that is not plain: also split the
        # text roughly, so that what hides in it is still seen by deny rules and danger
        commands += _rough_commands(command, depth)
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


# -- anything else: every simple command of the tree, with what is known of its words -------

def _tree_commands(root: Any, data: bytes, home: str | None, depth: int
                   ) -> tuple[list[SimpleCommand], list[tuple[str, str | None]]]:
    commands: list[SimpleCommand] = []
    redirects: list[tuple[str, str | None]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        t = node.type
        if t in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
            targets = [c for c in node.named_children if c.type not in ("file_descriptor",
                                                                         "ERROR")]
            m = _REDIR_OP.match(_text(node, data))  # from the text: `<>` parses as < ERROR
            op = m[1] if m else ""
            if t == "file_redirect" and targets:
                redirects.append((op, _value(targets[0], data, home)))
        if t in ("command", "declaration_command", "unset_command") or \
                (t == "test_command" and node.children and node.children[0].type == "["):
            commands.append(_tree_command(node, data, home, depth))
        stack.extend(reversed(node.children))
    return commands, redirects


def _rough_commands(text: str, depth: int) -> list[SimpleCommand]:
    """Two rough readings of a line that is not plain (split at blanks and operators,
    with and without quotes, braces expanded), so that the deny rules and the danger checks
    still see the commands in it."""
    import re
    import shlex
    segments = [seg.split() for seg in re.split(r"[;&|\n()`]+|\$\(", text)]
    try:
        lex = shlex.shlex(text, posix=True, punctuation_chars=";&|()<>`\n")
        lex.whitespace, lex.commenters, lex.whitespace_split = " \t\r", "", True
        seg: list[str] = []
        for tok in lex:
            if tok and all(c in ";&|()<>`\n" for c in tok):
                segments.append(seg)
                seg = []
            else:
                seg.append(tok)
        segments.append(seg)
    except ValueError:
        pass
    segments.append([])  # a third: bash's quoting and escapes, word by word where it can
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
        elif c in ";&|()<>\n`":
            segments.append([])
            i += 1
        else:
            try:
                end, value, _g = read_word(text, i, None)
            except NotPlain:
                end = i
                while end < n and text[end] not in " \t;&|()<>\n`":
                    end += 1
                value = text[i:end]
            segments[-1].append(value)
            i = max(end, i + 1)
    out: list[SimpleCommand] = []
    for seg in segments:
        words = [_rough_value(p) for t in seg for p in brace_expand(t)]
        words = [w for w in words if w]
        while words and words[0] in RESERVED:  # ! if then do ... { : the command follows
            words.pop(0)
        if words:
            out.append(SimpleCommand(tuple(words), tuple(words), depth, rough=True))
    return out


def _rough_value(word: str) -> str:
    try:
        end, value, _glob = read_word(word, 0, None)
        if end == len(word):
            return value
    except NotPlain:
        pass
    return word.strip("'\"")


def _tree_command(node: Any, data: bytes, home: str | None, depth: int) -> SimpleCommand:
    import shlex
    words: list[str | None] = []
    shown: list[str] = []
    stdin_text = None

    def add(n: Any) -> None:
        if n.type == "concatenation" and any(c.type == "word" and _text(c, data) == "{"
                                             for c in n.children):
            pieces = brace_expand(_text(n, data))  # {rm,-rf,x}: three words
            if len(pieces) > 1:
                for p in pieces:
                    try:
                        end, v, _g = read_word(p, 0, home)
                        ok = end == len(p)
                    except NotPlain:
                        ok = False
                    words.append(v if ok else None)
                    shown.append(shlex.quote(v) if ok else p)
                return
        v = _value(n, data, home)
        words.append(v)
        shown.append(shlex.quote(v) if v is not None else _text(n, data))

    if node.type == "test_command":  # [ ... ]: the program [ with words and ]
        glued = data[node.start_byte + 1:node.start_byte + 2] not in (b" ", b"\t")
        words.append(None if glued else "[")  # `[ab]` is a pattern, not [
        shown.append("[")
        stack = list(reversed(node.children[1:]))
        while stack:
            n = stack.pop()
            if n.type in ("word", "number", "string", "raw_string", "concatenation",
                          "ansi_c_string", "test_operator", "simple_expansion", "expansion",
                          "command_substitution") or not n.is_named:
                if n.is_named:
                    add(n)
                else:
                    words.append(n.type)
                    shown.append(n.type)
            else:
                stack.extend(reversed(n.children))
        return SimpleCommand(tuple(words), tuple(shown), depth, -1, (), None,
                             _feeds(node, data, home))
    if node.type != "command":  # export/declare/local/unset ...
        first = node.children[0]
        words.append(_text(first, data))
        shown.append(words[-1] or "")
    redirs = [c for c in node.children if c.type.endswith("_redirect")]
    parent = node.parent
    if parent is not None and parent.type == "redirected_statement":
        redirs += [c for c in parent.children if c.type.endswith("_redirect")]
    prev_end = -1
    for ch in node.children:
        if ch.start_byte == prev_end and words and ch.type != "file_redirect":
            words[-1] = None  # glued to the word before (ls`x`y): bash reads one word
            shown[-1] += _text(ch, data)
            prev_end = ch.end_byte
            continue
        if _escaped_blank_before(ch.start_byte, data):
            words.append(None)  # `\ ls`: the grammar skips an escaped blank that bash keeps
            shown.append(_text(ch, data))
        elif ch.type == "command_name":
            for c in ch.named_children:
                add(c)
        elif ch.is_named and (ch.type not in _ARG_SKIP or
                              (node.type != "command" and ch.type == "variable_assignment")):
            add(ch)
        else:
            continue
        prev_end = ch.end_byte
    for r in redirs:
        targets = [c for c in r.named_children if c.type not in ("file_descriptor",)]
        if r.type == "file_redirect":
            for extra in targets[1:]:  # `cmd > out more args`: bash passes them to cmd
                add(extra)
        elif r.type == "herestring_redirect" and targets:
            stdin_text = _value(targets[-1], data, home)
        elif r.type == "heredoc_redirect":
            body = next((c for c in r.named_children if c.type == "heredoc_body"), None)
            stdin_text = _text(body, data) if body is not None else ""
    pipe = -1
    up = parent.parent if parent is not None and parent.type == "redirected_statement" \
        else parent
    if up is not None and up.type == "pipeline":
        pipe = -2 - up.start_byte  # one number per pipeline, apart from plain numbering
    return SimpleCommand(tuple(words), tuple(shown), depth, pipe, (), stdin_text,
                         _feeds(node, data, home))


def _feeds(node: Any, data: bytes, home: str | None) -> tuple[str, ...]:
    names: list[str] = []
    stack = [c for c in node.children if c.type != "command_name"]
    while stack:
        n = stack.pop()
        if n.type == "command_name":
            for c in n.named_children:
                v = _value(c, data, home)
                if v:
                    names.append(os.path.basename(v))
        stack.extend(n.children)
    return tuple(names)


def _escaped_blank_before(at: int, data: bytes) -> bool:
    if at < 2 or data[at - 1:at] not in (b" ", b"\t"):
        return False
    k = at - 2
    while k >= 0 and data[k:k + 1] == b"\\":
        k -= 1
    return (at - 2 - k) % 2 == 1


def _text(node: Any, data: bytes) -> str:
    return data[node.start_byte:node.end_byte].decode("utf-8", "replace")


def _value(node: Any, data: bytes, home: str | None) -> str | None:
    """A word's value when it holds no expansion, else None."""
    t = node.type
    if t == "ansi_c_string":
        return ansi_c(_text(node, data)[2:-1])
    if t == "concatenation" and any(c.type == "ansi_c_string" for c in node.children):
        parts = [_value(c, data, home) for c in node.named_children]
        return None if any(p is None for p in parts) else "".join(parts)  # type: ignore
    if t not in ("word", "number", "string", "raw_string", "concatenation"):
        return None
    text = _text(node, data)
    try:
        end, value, glob = read_word(text, 0, home)
    except NotPlain:
        return None
    return value if end == len(text) and glob is None else None  # a pattern: files decide


_C_ESC = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
          "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def ansi_c(body: str) -> str:
    """The value of ``$'body'`` as bash decodes it."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        i += 2
        if e in _C_ESC:
            out.append(_C_ESC[e])
        elif e in "01234567":
            j = i
            while j < n and j < i + 2 and body[j] in "01234567":
                j += 1
            out.append(chr(int(body[i - 1:j], 8) & 0xFF))
            i = j
        elif e in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[e]
            j = i
            while j < n and j < i + size and body[j] in "0123456789abcdefABCDEF":
                j += 1
            if j == i:
                out.append("\\" + e)
            else:
                code = int(body[i:j], 16)
                out.append(chr(code) if code < 0x110000 else "\ufffd")
                i = j
        elif e == "c" and i < n:
            out.append(chr(ord(body[i]) & 0x1F))
            i += 1
        else:
            out.append("\\" + e)
    return "".join(out)
