"""Terminal sanitising: what is dropped, what stays, and streaming gives the same result."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loomex_cli.cli.sanitize import CSI_MAX, STRING_MAX, Sanitizer, clean, visible

FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

ATTACKS = {
    "clear screen": ("a\x1b[2Jb", "ab"),
    "cursor home": ("a\x1b[Hb", "ab"),
    "cursor up + erase line": ("ok\n\x1b[1A\x1b[2Kfake", "ok\nfake"),
    "title (OSC 0, BEL)": ("x\x1b]0;pwned\x07y", "xy"),
    "clipboard (OSC 52, ST)": ("x\x1b]52;c;cm0gLXJmIH4=\x1b\\y", "xy"),
    "hyperlink (OSC 8)": ("\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\", "click"),
    "8-bit CSI": ("a\x9b2Jb", "ab"),
    "8-bit OSC + ST": ("a\x9d52;c;eA==\x9cb", "ab"),
    "DCS": ("a\x1bP1$qm\x1b\\b", "ab"),
    "APC": ("a\x1b_hidden\x1b\\b", "ab"),
    "reset (ESC c)": ("a\x1bcb", "ab"),
    "charset (nF)": ("a\x1b(0b", "ab"),
    "lone CR overwrite": ("touch X\rls -la", "touch X\nls -la"),
    "CRLF": ("a\r\nb", "a\nb"),
    "backspaces": ("rm\x08\x08ls", "rmls"),
    "bell and NUL": ("a\x07\x00b", "ab"),
    "other C1": ("a\x85\x8db", "ab"),
    "bidi override": ("a\u202eevil\u202cb", "aevilb"),
    "bidi isolate": ("a\u2067x\u2069b", "axb"),
    "DEL": ("a\x7fb", "ab"),
    "lone surrogate": ("a\ud800b", "a\ufffdb"),
    "CSI broken by a newline": ("a\x1b[31\nb", "a31\nb"),
    "OSC aborted by another escape": ("a\x1b]0;t\x1b[2Jb", "a0;tb"),
    "unterminated OSC at the end": ("a\x1b]52;c;eA==", "a52;c;eA=="),
    "escape at the end": ("a\x1b", "a"),
    "CR at the end": ("a\r", "a\n"),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_attacks_are_dropped(name):
    raw, want = ATTACKS[name]
    assert clean(raw) == want
    assert _streamed(raw, 1) == want


def test_plain_text_and_unicode_stay():
    for text in ("hello", "tabs\tand\nnewlines\n", "emoji 👩‍💻 ZWJ", "עברית", "é‌x",
                 "```py\nprint(1)\n```\n", "\u200bzero width"):
        assert clean(text) == text


def test_overlong_sequences_lose_only_their_introducer():
    long_params = "1;" * CSI_MAX
    assert clean("\x1b[" + long_params + "m") == long_params + "m"
    payload = "A" * (STRING_MAX + 10)
    assert clean("\x1b]52;c;" + payload + "\x07") == "52;c;" + payload


def _streamed(text: str, size: int) -> str:
    s = Sanitizer()
    out = [s.feed(text[i:i + size]) for i in range(0, len(text), size)]
    return "".join(out) + s.flush()


# characters that make up escape sequences, so that generated text is full of them
_ALPHABET = st.sampled_from(list("\x1b\x9b\x9d\x90\x9c\x07\r\n\t\x08\x18[]\\;PX^_(#0123m Hc"
                                 "aé\u202e\x7f\x85") + ["\u2066", "\x00", "\ud800"])
_TEXT = st.lists(_ALPHABET, max_size=60).map("".join) | st.text(max_size=60)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_nothing_forbidden_survives_and_it_is_idempotent(text):
    out = clean(text)
    assert not FORBIDDEN.search(out)
    assert clean(out) == out


@settings(max_examples=400, deadline=None)
@given(_TEXT, st.lists(st.integers(0, 60), max_size=8))
def test_any_split_of_a_stream_gives_the_same_text(text, cuts):
    cuts = sorted({c for c in cuts if c <= len(text)})
    s = Sanitizer()
    out, prev = [], 0
    for c in [*cuts, len(text)]:
        got = s.feed(text[prev:c])
        assert not FORBIDDEN.search(got)
        out.append(got)
        prev = c
    assert "".join(out) + s.flush() == clean(text)


def test_the_stream_shows_text_as_soon_as_it_is_safe():
    s = Sanitizer()
    assert s.feed("hello \x1b") == "hello "
    assert s.feed("[2") == ""
    assert s.feed("Jworld") == "world"
    assert s.feed("\x1b]52;c;") == ""
    assert s.feed("eA==\x07done") == "done"
    assert s.flush() == ""


# -- visible -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,shown", [
    ("touch X\rls -la", "touch X<CR>ls -la"),
    ("touch X\x1b[2Kls -la", "touch X<ESC>[2Kls -la"),
    ("touch X\x08\x08\x08\x08\x08\x08\x08ls -la", "touch X" + "<BS>" * 7 + "ls -la"),
    ("ls\u00a0-la", "ls<U+00A0>-la"),
    ("ls\u200b-la", "ls<U+200B>-la"),
    ("ls \u202etxt.exe", "ls <U+202E>txt.exe"),
    ("ls -la" + " " * 300 + "; touch X", "ls -la<300 spaces>; touch X"),
    ("a\tb", "a<TAB>b"),
    ("echo \u3164", "echo <U+3164>"),
    ("x\U000e0041", "x<U+E0041>"),
    ("ls -la\nmake", "ls -la\nmake"),
    ("a  b", "a  b"),
])
def test_visible_shows_what_would_be_hidden(raw, shown):
    assert visible(raw, mark=False) == shown
    marked = visible(raw)
    assert clean(marked.replace("\x1b[7m", "").replace("\x1b[27m", "")) == shown
    assert not FORBIDDEN.search(marked.replace("\x1b[7m", "").replace("\x1b[27m", ""))


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_visible_never_lets_a_control_through(text):
    marked = visible(text).replace("\x1b[7m", "").replace("\x1b[27m", "")
    assert not FORBIDDEN.search(marked.replace("\n", ""))


_BY_NAME = {"ESC": "\x1b", "CR": "\r", "BS": "\x08", "BEL": "\x07", "DEL": "\x7f",
            "NUL": "\x00", "TAB": "\t", "VT": "\x0b", "FF": "\x0c"}


def unvisible(shown: str) -> str:
    """The text a marked-up display stands for: markers are the only escapes in it."""
    def back(m: re.Match) -> str:
        name = m.group(1)
        if name.endswith(" spaces"):
            return " " * int(name.split()[0])
        if name.startswith("U+"):
            return chr(int(name[2:], 16))
        return _BY_NAME[name]
    return re.sub(r"\x1b\[7m<([^>]*)>\x1b\[27m", back, shown)


@settings(max_examples=400, deadline=None)
@given(_TEXT | st.text(st.characters(), max_size=40))
def test_the_prompt_display_stands_for_exactly_one_command(text):
    """Two different commands never look the same: the display can be read back."""
    shown = visible(text)
    assert unvisible(shown) == text
    assert "\x1b" not in re.sub(r"\x1b\[7m<[^>]*>\x1b\[27m", "", shown)
