"""Words as bash reads them, for the small part of bash that loomex calls *plain*.

:func:`lex_plain` reads a command line the way bash would, but only as long as it stays
inside the plain subset: literal words, single quotes, double quotes without ``$``/backticks,
backslash escapes, ``&&``/``||``/``|``/``;``/newlines, and redirections to ``/dev/null`` and
the like. It computes each word's value (quote removal, line continuations, ``~``) and stops
with a reason at anything else. :mod:`.bash_grammar` checks that tree-sitter's parse agrees
with it token for token; a command both readers agree on is plain.

The wrappers (``env``, ``sudo`` ...) are in :mod:`.bash_wrappers`; the reading of lines
that are not plain in :mod:`.bash_tree`.
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
ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")  # with .match: at the start
_META = set(" \t\n;&|()<>")
_BLANK = " \t"


class NotPlain(Exception):
    """The text leaves the plain subset; the message says where."""


@dataclass(slots=True)
class Tok:
    """One token of a bash line: a word, a redirection or an operator."""
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
    assign = ASSIGN.match(text, i) is not None
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
    if ASSIGN.match(name.raw):
        return "an assignment"
    if name.glob is not None:
        return "a pattern as the command name"
    base = os.path.basename(name.value)
    if base in STATEFUL:
        if base == "set" and all(_SET_OK.match(w.value) for w in words[1:]):
            return None
        return f"'{base}' (changes how later commands run)"
    return None
