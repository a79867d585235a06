"""Text from the model or a tool made safe for a terminal.

A model (or a file a tool read) can carry escape sequences that clear the screen, move the
cursor over what was printed, set the window title, write the clipboard (OSC 52) or hide a
link (OSC 8). Everything such text passes through on its way to a terminal:

- :func:`clean` drops control characters and whole escape sequences: CSI (``ESC [`` and the
  8-bit ``\\x9b``), OSC (``ESC ]``, ``\\x9d``), DCS/SOS/PM/APC strings, two-character and
  nF escapes, the other C1 controls (U+0080-U+009F), DEL, every C0 control but ``\\n`` and
  ``\\t`` (BEL, backspace, ...), and the bidi embedding/override/isolate controls
  (U+202A-U+202E, U+2066-U+2069) that reorder what is shown; a lone surrogate (which has no
  UTF-8 form) becomes U+FFFD. ``\\r\\n`` becomes ``\\n`` and a
  lone ``\\r`` becomes ``\\n``, so text a carriage return would have overwritten stays in view.
  A sequence that does not complete (no final byte, no string terminator within a bound, or
  the end of the text) loses only its introducer; what follows it is shown as text.
  Zero-width characters are kept (emoji and some scripts need them).
- :class:`Sanitizer` does the same for text that arrives in pieces (a sequence may be split
  across streamed deltas): ``feed()`` returns what is safe to show and holds back an
  unfinished sequence; ``flush()`` at the end. Feeding any split gives exactly ``clean()``.
- :func:`visible` is for approval prompts, where a person must see exactly what will run:
  nothing is dropped, every invisible or look-alike character is shown as a marker
  (``<ESC>``, ``<CR>``, ``<U+00A0>``, ``<TAB>``, ``<37 spaces>``), in reverse video when
  ``mark`` is on so that the model cannot fake one by writing the same letters.

Output to a pipe or a file is not passed through here: it keeps the model's bytes.
"""

from __future__ import annotations

import re
import unicodedata

#: the longest CSI (parameters + intermediates) taken as one sequence
CSI_MAX = 64
#: the longest OSC/DCS/... string taken as one sequence (OSC 52 payloads can be long)
STRING_MAX = 4096

_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_STRING_INTRO = "]PX^_"           # after ESC: OSC, DCS, SOS, PM, APC
_STRING_C1 = "\x90\x98\x9d\x9e\x9f"


def clean(text: str) -> str:
    """``text`` without control characters and escape sequences (see the module doc)."""
    if not _SPECIAL.search(text):
        return text
    out, _ = _scan(text, final=True)
    return out


class Sanitizer:
    """:func:`clean` for a stream: ``feed(delta)`` returns what can be shown now."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = ""

    def feed(self, text: str) -> str:
        if not self.pending and not _SPECIAL.search(text):
            return text
        buf = self.pending + text
        out, stop = _scan(buf, final=False)
        self.pending = buf[stop:]
        return out

    def flush(self) -> str:
        buf, self.pending = self.pending, ""
        return _scan(buf, final=True)[0] if buf else ""


def _scan(s: str, final: bool) -> tuple[str, int]:
    """(the cleaned text, where it stopped): short of the end only when not ``final`` and
    a sequence at that point needs characters that have not arrived yet."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        m = _SPECIAL.search(s, i)
        if m is None:
            out.append(s[i:])
            break
        j = m.start()
        if j > i:
            out.append(s[i:j])
        step = _special(s, j, final)
        if step is None:
            return "".join(out), j
        emit, i = step
        if emit:
            out.append(emit)
    return "".join(out), n


def _special(s: str, j: int, final: bool) -> tuple[str, int] | None:
    """What the special character at ``j`` becomes and where scanning goes on; None when
    more text is needed to decide."""
    c, n = s[j], len(s)
    if c == "\r":
        if j + 1 < n:
            return ("" if s[j + 1] == "\n" else "\n"), j + 1
        return ("\n", n) if final else None
    if c == "\x1b":
        if j + 1 >= n:
            return ("", n) if final else None
        d = s[j + 1]
        if d == "[":
            return _csi(s, j + 2, final)
        if d in _STRING_INTRO:
            return _string(s, j + 2, final)
        if "\x20" <= d <= "\x2f":  # nF: intermediates, then a final byte
            k = j + 1
            while k < n and "\x20" <= s[k] <= "\x2f" and k - j <= CSI_MAX:
                k += 1
            if k >= n:
                return ("", j + 1) if final else None
            return ("", k + 1) if "\x30" <= s[k] <= "\x7e" else ("", j + 1)
        if "\x30" <= d <= "\x7e":  # ESC 7, ESC c, ESC M, ...
            return "", j + 2
        return "", j + 1
    if c == "\x9b":
        return _csi(s, j + 1, final)
    if c in _STRING_C1:
        return _string(s, j + 1, final)
    if "\ud800" <= c <= "\udfff":  # a lone surrogate (JSON allows one) cannot be written
        return "\ufffd", j + 1
    return "", j + 1  # any other control, DEL, C1 or bidi override: dropped


def _csi(s: str, start: int, final: bool) -> tuple[str, int] | None:
    k, n = start, len(s)
    while k < n and k - start < CSI_MAX:
        ch = s[k]
        if "\x20" <= ch <= "\x3f":
            k += 1
        elif "\x40" <= ch <= "\x7e":
            return "", k + 1
        else:
            return "", start  # malformed: only the introducer goes
    if k >= n and k - start < CSI_MAX and not final:
        return None
    return "", start


def _string(s: str, start: int, final: bool) -> tuple[str, int] | None:
    k, n = start, len(s)
    while k < n and k - start < STRING_MAX:
        ch = s[k]
        if ch in "\x07\x9c":
            return "", k + 1
        if ch == "\x1b":
            if k + 1 >= n:
                return ("", start) if final else None
            if s[k + 1] == "\\":
                return "", k + 2
            return "", start  # aborted by another escape
        if ch in "\x18\x1a":  # CAN, SUB abort
            return "", start
        k += 1
    if k >= n and k - start < STRING_MAX and not final:
        return None
    return "", start


# -- making the invisible visible ---------------------------------------------------------
_NAMES = {"\x1b": "ESC", "\r": "CR", "\x08": "BS", "\x07": "BEL", "\x7f": "DEL",
          "\x00": "NUL", "\t": "TAB", "\x0b": "VT", "\x0c": "FF"}
_INVISIBLE_CATS = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")
#: printable by Unicode's categories, yet blank or invisible on screen: Hangul fillers, the
#: combining grapheme joiner, Khmer inherent vowels, Mongolian and other variation
#: selectors, the blank Braille pattern
_BLANK = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164"
                    "\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]")
#: a run of more spaces than this is shown as one marker (padding can push text off screen)
SPACE_RUN = 8


def _marker(name: str, mark: bool) -> str:
    return f"\x1b[7m<{name}>\x1b[27m" if mark else f"<{name}>"


def visible(text: str, mark: bool = True) -> str:
    """``text`` with every invisible, control, non-ASCII space, zero-width, bidi or
    private-use character shown as a marker; newlines are kept. ``mark``: markers in
    reverse video (a terminal); the result is then meant for a terminal and holds no other
    escape."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == " ":
            k = i
            while k < n and text[k] == " ":
                k += 1
            run = k - i
            out.append(" " * run if run <= SPACE_RUN else _marker(f"{run} spaces", mark))
            i = k
            continue
        if c == "\n" or (c.isprintable() and unicodedata.category(c) not in _INVISIBLE_CATS
                          and not _BLANK.match(c)):
            out.append(c)
        else:
            name = _NAMES.get(c) or f"U+{ord(c):04X}"
            out.append(_marker(name, mark))
        i += 1
    return "".join(out)
