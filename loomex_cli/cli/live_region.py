"""The live region at the bottom of the terminal, and the streams drawn through it.

:class:`LiveArea` prints lines for good above a few live lines that it erases and redraws
as a whole. :class:`LiveStream` drives it from a stream (:class:`.live_markdown.MarkdownStream`
for the answer, :class:`TextStream` for the reasoning): it reads the terminal size at every
redraw and redraws at once when the window is resized (SIGWINCH), at most every 80 ms as text
comes, or less often when a redraw itself takes long.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from .live_markdown import Lines, LinesRenderable, render_lines


def cell_len(line: Lines) -> int:
    return sum(s.cell_length for s in line)


def trim(line: Lines) -> Lines:
    """A live line without the trailing blanks that only pad it to the width (so that a
    narrower terminal does not rewrap it)."""
    from rich.segment import Segment
    out = list(line)
    while out:
        seg = out[-1]
        if seg.control or (seg.style is not None and seg.style.bgcolor is not None):
            break
        text = seg.text.rstrip(" ")
        if text:
            out[-1] = Segment(text, seg.style, seg.control)
            break
        out.pop()
    return out


def terminal_size(console: Any) -> tuple[int, int]:
    """The size of the terminal now (read each time: the window may have been resized)."""
    try:
        size = os.get_terminal_size(console.file.fileno())
        return max(size.columns, 10), max(size.lines, 3)
    except (AttributeError, OSError, ValueError):
        return console.width, console.height


class LiveArea:
    """The live tail at the bottom of the terminal: drawn below what was printed for good,
    cleared and redrawn as a whole; the cursor waits at the start of the line below it (so
    an echoed ^C lands on a line of its own and is erased with the tail)."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.drawn: list[int] = []   # the cell width of each live line on screen

    def rows(self, width: int) -> int:
        """Rows the live lines take now; a narrower terminal has rewrapped the longer ones."""
        return sum(max(1, math.ceil(w / width)) if w > width else 1 for w in self.drawn)

    def update(self, final: list[Lines], live: list[Lines], width: int) -> None:
        """Prints ``final`` above the live region for good, then redraws ``live`` under it."""
        if not final and not live and not self.drawn:
            return
        from rich.control import Control
        from rich.segment import ControlType
        live = [trim(line) for line in live]
        console = self.console
        with console:
            up = self.rows(width)
            if up:
                # line by line: erasing the screen from its top corner would make some
                # terminals (tmux) keep a copy of it in the scrollback
                erase = (ControlType.ERASE_IN_LINE, 2)
                console.control(Control(ControlType.CARRIAGE_RETURN, erase,
                                        *((ControlType.CURSOR_UP, 1), erase) * up))
            if final:
                console.print(LinesRenderable(final), crop=False, soft_wrap=True)
            if live:
                console.print(LinesRenderable(live), crop=False, soft_wrap=True)
        self.drawn = [cell_len(line) for line in live]


class TextStream:
    """Plain text in one style (the model's reasoning): each finished line is printed for
    good, the line being written is live. Prints what ``Text(whole.strip(), style)`` prints."""

    def __init__(self, console: Any, style: str = "dim italic") -> None:
        self.console = console
        self.style = style
        self.text = ""
        self.started = False    # a non-blank character was seen (leading blanks are dropped)
        self.blank = 0          # blank lines held back (dropped if nothing follows them)

    def feed(self, chunk: str) -> None:
        if not self.started:
            chunk = chunk.lstrip()
            self.started = bool(chunk)
        self.text += chunk

    def _lines(self, text: str, width: int) -> list[Lines]:
        from rich.text import Text
        return render_lines(self.console, Text(text, style=self.style), width)

    def take(self, width: int, height: int) -> tuple[list[Lines], list[Lines]]:
        out: list[Lines] = []
        cut = self.text.rfind("\n")
        if cut >= 0:
            done, self.text = self.text[:cut], self.text[cut + 1:]
            for line in done.split("\n"):
                if not line.strip():
                    self.blank += 1
                    continue
                out += self._lines("\n" * self.blank + line, width)
                self.blank = 0
        live = self._lines(self.text.rstrip(), width) if self.text.strip() else []
        return out, live[-height:]

    def close(self, width: int) -> list[Lines]:
        out, _ = self.take(width, 1)
        if self.text.strip():
            out += self._lines("\n" * self.blank + self.text.rstrip(), width)
        self.text, self.blank = "", 0
        return out


class LiveStream:
    """A stream (:class:`MarkdownStream` or :class:`TextStream`) on the terminal through a
    :class:`LiveArea`, redrawn at most every ``interval`` seconds, and less often when a
    redraw itself takes long (at most a fifth of the time goes to redrawing)."""

    def __init__(self, console: Any, stream: Any, interval: float = 0.08,
                 clock: Any = time.monotonic) -> None:
        self.console = console
        self.stream = stream
        self.area = LiveArea(console)
        self.interval = interval
        self.clock = clock
        self._next = 0.0
        self._watching = False

    def feed(self, text: str) -> None:
        self.stream.feed(text)
        if not self._watching:
            self._watching = True
            _on_resize(self.refresh)
        now = self.clock()
        if now >= self._next:
            self.refresh()
            cost = self.clock() - now
            self._next = self.clock() + max(self.interval, 4 * cost)

    def _size(self) -> tuple[int, int]:
        return terminal_size(self.console)

    def refresh(self) -> None:
        width, height = self._size()
        final, live = self.stream.take(width, max(1, height - 2))
        self.area.update(final, live, width)

    def close(self) -> None:
        """Prints the rest for good and takes the live region down."""
        if self._watching:
            self._watching = False
            _on_resize(None)
        width, _ = self._size()
        self.area.update(self.stream.close(width), [], width)


def _on_resize(callback: Any) -> None:
    """While the live region is up, a resized window (SIGWINCH) is redrawn at once rather
    than when more text comes (``None``: no longer). Only where the running event loop can
    watch signals; elsewhere the size is still read at every redraw."""
    import asyncio
    import signal
    sig = getattr(signal, "SIGWINCH", None)
    try:
        loop = asyncio.get_running_loop()
        if sig is None:
            return
        if callback is None:
            loop.remove_signal_handler(sig)
        else:
            loop.add_signal_handler(sig, callback)
    except (RuntimeError, NotImplementedError, ValueError):
        pass
