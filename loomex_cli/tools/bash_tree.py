"""Every simple command of a bash line, with what is known of its words: read from the
tree-sitter tree (inside substitutions, subshells, functions, loops, ``[ ]``), and, for a
line that is not plain, also roughly from the text (so that what the grammar and bash may
read differently is still seen by the deny rules and the danger checks).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from .bash_words import RESERVED, NotPlain, read_word

_ARG_SKIP = {"variable_assignment", "file_redirect", "heredoc_redirect", "herestring_redirect",
             "comment", "command_name"}
_REDIR_OP = re.compile(r"\{?[A-Za-z0-9_]*\}?(&>>|&>|>>|>&|>\||<>|<&|<<<|<<-|<<|<|>)")


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    """One simple command of a bash line, as bash will run it."""
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



def tree_commands(root: Any, data: bytes, home: str | None, depth: int
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


def rough_commands(text: str, depth: int) -> list[SimpleCommand]:
    """Two rough readings of a line that is not plain (split at blanks and operators,
    with and without quotes, braces expanded), so that the deny rules and the danger checks
    still see the commands in it."""
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
