"""Words as bash reads them, for the small part of bash that loomex calls *plain*.

:func:`lex_plain` reads a command line the way bash would, but only as long as it stays
inside the plain subset: literal words, single quotes, double quotes without ``$``/backticks,
backslash escapes, ``&&``/``||``/``|``/``;``/newlines, and redirections to ``/dev/null`` and
the like. It computes each word's value (quote removal, line continuations, ``~``) and stops
with a reason at anything else. :mod:`.bash_grammar` checks that tree-sitter's parse agrees
with it token for token; a command both readers agree on is plain.

Also here: the wrappers that run their arguments as a command (``env``, ``timeout``,
``sudo``, ...), and :func:`unwrap` which finds the command that really runs.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

#: targets a plain redirection may write to (or read from: /dev/null)
SAFE_TARGETS = ("/dev/null", "/dev/stdout", "/dev/stderr")
_SAFE_FD = re.compile(r"^/dev/fd/[0-9]+$")
#: reserved words: a command line starting with one is a compound command, not plain
RESERVED = {"!", "case", "coproc", "do", "done", "elif", "else", "esac", "fi", "for",
            "function", "if", "in", "select", "then", "until", "while", "{", "}", "time",
            "[[", "]]"}
#: builtins that change how later commands of the line are read or found
STATEFUL = {"alias", "unalias", "shopt", "enable", "trap", "hash", "export", "declare",
            "typeset", "local", "readonly", "unset", "set"}
_SET_OK = re.compile(r"^[-+][euxvo]+$|^(?:pipefail|errexit|nounset|xtrace|verbose)$")
_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")  # with .match: at the start
_META = set(" \t\n;&|()<>")
_BLANK = " \t"


class NotPlain(Exception):
    """The text leaves the plain subset; the message says where."""


@dataclass(slots=True)
class Tok:
    kind: str                 # "w" word, "r" redirection, "op" operator ("&&", "||", "|", ";")
    start: int
    end: int
    value: str = ""           # word: its value; op: the operator; r: the target's value
    glob: str | None = None   # word with unquoted * ? [...]: a pattern for glob.glob
    op: str = ""              # r: the redirection operator
    raw: str = ""             # word: its source text


def visible_trouble(text: str) -> str | None:
    """A character bash and a reader may disagree on: control characters other than tab and
    newline, Unicode spaces that are not word separators for bash (NBSP ...), format
    characters (zero-width, bidi overrides), unassigned code points."""
    for ch in text:
        if ch in "\t\n" or " " <= ch <= "~":
            continue
        cat = unicodedata.category(ch)
        if cat[0] in "CZ":
            name = unicodedata.name(ch, f"U+{ord(ch):04X}")
            return f"an invisible or special character ({name})"
    return None


def lex_plain(text: str, home: str | None = None) -> list[Tok]:
    """The tokens of ``text`` if it is plain bash; NotPlain otherwise."""
    why = visible_trouble(text)
    if why:
        raise NotPlain(why)
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _BLANK:
            i += 1
        elif text.startswith("\\\n", i):
            i += 2
        elif c == "\n" or c == ";":
            if text.startswith(";;", i) or text.startswith(";&", i):
                raise NotPlain("';;' outside a case")
            toks.append(Tok("op", i, i + 1, ";"))
            i += 1
        elif c == "&":
            if text.startswith("&&", i):
                toks.append(Tok("op", i, i + 2, "&&"))
                i += 2
            elif text.startswith("&>", i):
                op = "&>>" if text.startswith("&>>", i) else "&>"
                i = _redirect(text, i, i, op, toks, home)
            else:
                raise NotPlain("'&' (runs in the background)")
        elif c == "|":
            if text.startswith("||", i):
                toks.append(Tok("op", i, i + 2, "||"))
                i += 2
            elif text.startswith("|&", i):
                raise NotPlain("'|&'")
            else:
                toks.append(Tok("op", i, i + 1, "|"))
                i += 1
        elif c in "<>":
            i = _redirect(text, i, i, _redir_op(text, i), toks, home)
        elif c in "()":
            raise NotPlain(f"'{c}' (a subshell or a function)")
        elif c == "#":
            raise NotPlain("a comment")
        else:
            start = i
            end, value, glob = read_word(text, i, home)
            if text[start:end].isdigit() and end < n and text[end] in "<>":
                i = _redirect(text, start, end, _redir_op(text, end), toks, home)
                continue
            toks.append(Tok("w", start, end, value, glob, raw=text[start:end]))
            i = end
    return toks


def _redir_op(text: str, i: int) -> str:
    for op in ("<<<", "<<-", "<<", "<>", "<&", ">>", ">&", ">|", "<", ">"):
        if text.startswith(op, i):
            return op
    raise NotPlain("a redirection")  # pragma: no cover - called on < or > only


def _redirect(text: str, start: int, i: int, op: str, toks: list[Tok], home: str | None
              ) -> int:
    if op.startswith("<<") or op == "<>":
        raise NotPlain(f"'{op}' (a here-document or read-write redirection)")
    j = i + len(op)
    while j < len(text) and text[j] in _BLANK:
        j += 1
    if j >= len(text) or text[j] in _META:
        raise NotPlain(f"'{op}' without a target")
    end, value, glob = read_word(text, j, home)
    if glob is not None:
        raise NotPlain("a redirection to a pattern")
    if op in (">&", "<&"):
        if not (value.isdigit() or value == "-"):
            raise NotPlain(f"a redirection to a file ({op} {value})")
    elif op == "<":
        if value != "/dev/null":
            raise NotPlain(f"input from a file (< {value})")
    elif not (value in SAFE_TARGETS or _SAFE_FD.match(value)):
        raise NotPlain(f"a redirection to a file ({op} {value})")
    toks.append(Tok("r", start, end, value, op=op))
    return end


def read_word(text: str, i: int, home: str | None = None) -> tuple[int, str, str | None]:
    """One plain word from ``text[i:]``: (its end, its value, a glob pattern or None)."""
    out: list[str] = []
    pat: list[str] = []
    globbed = False
    start, n = i, len(text)
    assign = _ASSIGN.match(text, i) is not None
    while i < n:
        c = text[i]
        if c in _META:
            break
        if c == "\\":
            if i + 1 >= n:  # at the very end bash keeps it
                out.append("\\")
                pat.append("[\\]")
                i += 1
                continue
            nxt = text[i + 1]
            i += 2
            if nxt != "\n":
                out.append(nxt)
                pat.append(_escape(nxt))
            continue
        if c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise NotPlain("an unterminated quote")
            lit = text[i + 1:j]
            out.append(lit)
            pat.append(_escape(lit))
            i = j + 1
            continue
        if c == '"':
            i, lit = _double(text, i + 1)
            out.append(lit)
            pat.append(_escape(lit))
            continue
        if c in "$`":
            raise NotPlain(f"'{c}' (an expansion or a substitution)")
        if c in "{}":
            if c == "{" and i == start and text.startswith("{}", i) and \
                    (i + 2 >= n or text[i + 2] in _META):
                out.append("{}")
                pat.append("[{]}")
                i += 2
                continue
            raise NotPlain(f"'{c}' (brace expansion or a group)")
        if c == "~":
            if i == start:
                k = i + 1
                if k < n and text[k] not in _META and text[k] != "/":
                    raise NotPlain("'~user'")
                if not home:
                    raise NotPlain("'~' without HOME")
                out.append(home)
                pat.append(_escape(home))
                i += 1
                continue
            if assign and text[i - 1] in "=:":
                raise NotPlain("'~' in an assignment-like word")
        if c == "#" and i == start:
            raise NotPlain("a comment")
        if c in "*?[":
            if c != "[" or "]" in text[i + 1:_word_end(text, i)]:
                globbed = True
        out.append(c)
        pat.append(c)
        i += 1
    if i == start:
        raise NotPlain("an empty word")
    glob = "".join(pat).replace("[^", "[!") if globbed else None
    return i, "".join(out), glob


def _word_end(text: str, i: int) -> int:
    while i < len(text) and text[i] not in _META:
        i += 1
    return i


def _double(text: str, i: int) -> tuple[int, str]:
    out: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return i + 1, "".join(out)
        if c in "$`":
            raise NotPlain(f"'{c}' inside double quotes (an expansion or a substitution)")
        if c == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "\n":
                i += 2
                continue
            if nxt in '"\\':
                out.append(nxt)
                i += 2
                continue
        out.append(c)
        i += 1
    raise NotPlain("an unterminated quote")


def _escape(s: str) -> str:
    import glob
    return glob.escape(s)


def commands_of(toks: list[Tok]) -> list[list[Tok]]:
    """Plain tokens grouped into simple commands (words and redirections)."""
    out: list[list[Tok]] = []
    cur: list[Tok] = []
    for t in toks:
        if t.kind == "op":
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        out.append(cur)
    return out


def command_trouble(cmd: list[Tok]) -> str | None:
    """Why a simple command of plain words is still not plain (its name is a reserved
    word, an assignment, a pattern, or a builtin that changes later commands)."""
    words = [t for t in cmd if t.kind == "w"]
    if not words:
        return "a redirection without a command"
    name = words[0]
    if name.raw in RESERVED:
        return f"the reserved word '{name.raw}'"
    if _ASSIGN.match(name.raw):
        return "an assignment"
    if name.glob is not None:
        return "a pattern as the command name"
    base = os.path.basename(name.value)
    if base in STATEFUL:
        if base == "set" and all(_SET_OK.match(w.value) for w in words[1:]):
            return None
        return f"'{base}' (changes how later commands run)"
    return None


# -- wrappers -----------------------------------------------------------------------------

SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "ash", "busybox", "rbash"}
INTERPRETERS = SHELLS | {"python", "python2", "python3", "perl", "ruby", "node", "php",
                         "source", "."}
ROOT = {"sudo": "sudo", "doas": "doas", "su": "su", "pkexec": "pkexec", "run0": "run0"}
#: wrappers that run their arguments as a command: name -> options that take a value
WRAPPERS: dict[str, set[str]] = {
    "env": {"-u", "--unset", "-C", "--chdir"},
    "nohup": set(), "command": set(), "builtin": set(), "exec": {"-a"},
    "nice": {"-n", "--adjustment"}, "ionice": {"-c", "-n", "-p", "-t"},
    "stdbuf": {"-i", "-o", "-e"}, "time": {"-f", "-o"}, "chronic": set(),
    "timeout": {"-s", "--signal", "-k", "--kill-after"},
    "xargs": {"-I", "-i", "-n", "-P", "-L", "-l", "-d", "-s", "-a", "-E", "-e",
              "--max-args", "--max-procs", "--delimiter", "--arg-file", "--replace"},
    "watch": {"-n", "--interval", "-d"}, "unbuffer": set(), "caffeinate": set(),
    "setsid": set(), "flock": {"-w", "--timeout", "-E", "--conflict-exit-code"},
    "script": set(), "faketime": set(), "taskset": set(), "chrt": set(), "coproc": set(),
}


def unwrap(words: list[str]) -> tuple[str, list[str], str | None, list[str]]:
    """The command that really runs: (name, its arguments, a root wrapper or None, scripts
    that wrappers run as shell code, e.g. ``env -S '...'``)."""
    i, n = 0, len(words)
    scripts: list[str] = []
    last = ""
    while i < n:
        w = words[i]
        if _ASSIGN.match(w):
            i += 1
            continue
        name = os.path.basename(w)
        if name in ROOT:
            return name, words[i + 1:], ROOT[name], scripts
        opts = WRAPPERS.get(name)
        if opts is None:
            return name, words[i + 1:], None, scripts
        last = name
        i += 1
        if name == "timeout":  # options, then the duration
            while i < n and words[i].startswith("-"):
                i += 2 if words[i] in opts else 1
            i += 1
            continue
        # env takes any word with "=" as a setting (even "=x"), not only NAME=...
        while i < n and (words[i].startswith("-") or (name == "env" and "=" in words[i])):
            w = words[i]
            if w == "--":
                i += 1
                break
            if name == "env" and (w in ("-S", "--split-string") or w.startswith("-S")
                                  or w.startswith("--split-string=")):
                if w in ("-S", "--split-string"):
                    scripts.append(words[i + 1] if i + 1 < n else "")
                    i += 2
                else:
                    scripts.append(w.split("=", 1)[1] if w.startswith("--") else w[2:])
                    i += 1
                continue
            i += 2 if w in opts else 1
        if name in ("flock", "taskset", "chrt") and i < n:
            i += 1  # flock's lock file, taskset's mask, chrt's priority
        elif name in ("nice", "watch", "ionice", "stdbuf") and i < n and words[i].isdigit():
            i += 1
    return last, [], None, scripts  # a wrapper with nothing to run: it runs itself


_ROOT_OPTS = {"-u", "-g", "-p", "-C", "-h", "-U", "-r", "-t", "-T", "-D", "-R"}


def real_command(words: list[str]) -> tuple[str, list[str], str | None]:
    """Like :func:`unwrap`, through ``sudo``/``doas`` too: (name, arguments, root wrapper)."""
    name, args, root, _ = unwrap(words)
    if not root:
        return name, args, None
    i = 0
    while i < len(args) and args[i].startswith("-"):  # sudo's options, then the command
        i += 2 if args[i] in _ROOT_OPTS else 1
    name, args, _r, _ = unwrap(args[i:])
    return name, args, root


def inner_scripts(words: list[str]) -> list[str]:
    """Shell code a command runs from its own arguments: ``bash -c CODE``, ``eval WORDS``,
    ``env -S CODE``, ``find -exec sh -c CODE``, ``xargs sh -c CODE``, ``trap CODE``."""
    name, args, _root, scripts = unwrap(words)
    out = list(scripts)
    if name in SHELLS:
        for i, a in enumerate(args):
            if a == "--":
                break
            if a == "-c" or (a.startswith("-") and not a.startswith("--") and "c" in a[1:]):
                out.append(args[i + 1] if i + 1 < len(args) else "")
                break
    elif name == "eval":
        out.append(" ".join(args))
    elif name == "trap" and args and not args[0].startswith("-"):
        out.append(args[0])
    elif name == "find":
        for sub in exec_parts(args):
            out.extend(inner_scripts(sub))
    return out


def exec_parts(args: list[str]) -> list[list[str]]:
    """The commands of find's ``-exec``/``-execdir``/``-ok``/``-okdir`` actions."""
    out = []
    for i, a in enumerate(args):
        if a in ("-exec", "-execdir", "-ok", "-okdir"):
            rest = args[i + 1:]
            end = next((j for j, x in enumerate(rest) if x in (";", "+")), len(rest))
            out.append(rest[:end])
    return out


def brace_expand(s: str, limit: int = 64) -> list[str]:
    """``s`` with its ``{a,b}`` and ``{1..3}`` expanded, roughly as bash does (quotes are not
    looked at: used only on lines that are not plain, to see the commands they hide)."""
    if s.count("{") > 16:
        return [s]
    depth, start = 0, -1
    for i, c in enumerate(s):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth:
                continue
            body, head, tail = s[start + 1:i], s[:start], s[i + 1:]
            alts = _split_top(body)
            if len(alts) < 2:
                alts = _sequence(body)
            if len(alts) >= 2:
                out: list[str] = []
                for a in alts:
                    out.extend(brace_expand(head + a + tail, limit))
                    if len(out) >= limit:
                        break
                return out[:limit]
    return [s]


def _split_top(body: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for c in body:
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        depth += (c == "{") - (c == "}")
        cur.append(c)
    parts.append("".join(cur))
    return parts


def _sequence(body: str) -> list[str]:
    m = re.fullmatch(r"(-?\d+)\.\.(-?\d+)(?:\.\.-?(\d+))?", body)
    if m:
        a, b, step = int(m[1]), int(m[2]), int(m[3] or 1) or 1
        rng = range(a, b + 1, step) if a <= b else range(a, b - 1, -step)
        return [str(x) for x in list(rng)[:64]]
    m = re.fullmatch(r"([A-Za-z])\.\.([A-Za-z])", body)
    if m:
        a, b = ord(m[1]), ord(m[2])
        rng = range(a, b + 1) if a <= b else range(a, b - 1, -1)
        return [chr(x) for x in rng]
    return []
