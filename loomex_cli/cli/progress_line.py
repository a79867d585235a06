"""A running tool call's progress (ToolProgress events) for people.

On a terminal: ONE status line on stderr, ``⋯ github__search 40/100 fetching page 2``,
redrawn in place as reports come, for the call that reported last; it is erased before
anything else is written (so it never mixes with the answer or the tool lines) and when the
calls end, so no trace of it stays on the screen. Without a terminal, under ``-v``: one line
per report, at most one a second per call. Otherwise nothing. The tool's name and message are
the server's text: cleaned of escape sequences and control characters, on one line, cut to
the terminal's width.
"""

from __future__ import annotations

import os
import time
import unicodedata
from typing import Any

from .sanitize import clean

#: seconds between two written lines of one call (no terminal, -v)
THROTTLE_S = 1.0
ERASE = "\r\x1b[2K"


def describe(event: Any) -> str:
    """``name 40/100 message`` (``name 40 message`` when the total is unknown)."""
    amount = f"{event.progress:g}" + (f"/{event.total:g}" if event.total is not None else "")
    text = f"{event.name} {amount}" + (f" {event.message}" if event.message else "")
    return " ".join(clean(text).split())


def cut(text: str, cells: int) -> str:
    """``text`` within ``cells`` terminal columns (wide characters count two)."""
    used = 0
    for i, ch in enumerate(text):
        w = 0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used + w > cells:
            return text[: max(0, i - 1)] + "…"
        used += w
    return text


class ProgressLine:
    """``live``: stderr is a terminal (one line redrawn in place); ``lines``: it is not, but
    progress is wanted (-v). Neither: every report is ignored."""

    def __init__(self, stream: Any, live: bool, lines: bool = False) -> None:
        self.err = stream
        self.live = live
        self.lines = lines and not live
        #: the calls that reported and have not ended: id -> their last report, latest last
        self.calls: dict[str, str] = {}
        self.shown = False
        self._written: dict[str, float] = {}
        self._dim = live and not os.environ.get("NO_COLOR")

    def update(self, event: Any) -> None:
        if not (self.live or self.lines):
            return
        self.calls.pop(event.id, None)
        self.calls[event.id] = describe(event)
        if self.live:
            self.show()
        else:
            now = time.monotonic()
            if now - self._written.get(event.id, -THROTTLE_S) >= THROTTLE_S:
                self._written[event.id] = now
                self._write(f"⋯ {self.calls[event.id]}\n")

    def end(self, call_id: str) -> None:
        """The call ended: its line goes (another running call's takes its place)."""
        self.calls.pop(call_id, None)
        self._written.pop(call_id, None)
        if self.calls:
            self.show()
        else:
            self.hide()

    def show(self) -> None:
        if not (self.live and self.calls):
            return
        text = cut("⋯ " + next(reversed(self.calls.values())), self._width() - 1)
        self._write(f"{ERASE}\x1b[2m{text}\x1b[0m" if self._dim else f"{ERASE}{text}")
        self.shown = True

    def hide(self) -> None:
        """Erases the line (before anything else is written)."""
        if self.shown:
            self._write(ERASE)
            self.shown = False

    def close(self) -> None:
        """The run is over: nothing of the line stays."""
        self.calls.clear()
        self.hide()

    def _width(self) -> int:
        try:
            return max(10, os.get_terminal_size(self.err.fileno()).columns)
        except (AttributeError, ValueError, OSError):
            return 80

    def _write(self, text: str) -> None:
        try:
            self.err.write(text)
            self.err.flush()
        except (OSError, ValueError):
            pass
