"""The REPL's terminal between two prompts: keys typed ahead are kept for the next prompt.

prompt_toolkit reads keys only while its prompt is on screen. Between two prompts (start-up,
an answer streaming, a tool running, a slash command) the terminal would be in its cooked
mode: what is typed is echoed into the middle of the answer, and a Ctrl-D becomes a NUL byte
that nobody reads as Ctrl-D. So from start to exit the REPL keeps the terminal *quiet*: no
echo, not line-buffered, flow-control and CR translation off as at the prompt, but ISIG on
(Ctrl-C still raises SIGINT, which cancels the answer). prompt_toolkit saves and restores
these settings around each prompt, so it comes back to the quiet mode by itself.

Between prompts the bytes typed are collected from the event loop and handed to the next
prompt as its first keys (prompt_toolkit's typeahead), exactly as if typed there: the text
shows in the prompt, Enter typed ahead sends it (one message after the other), a paste stays
whole (bracketed paste is left on). Three exceptions, decided here:

- Ctrl-D typed while an answer streams or a tool runs is dropped: a key pressed blind never
  ends the session. Typed at start-up or between two commands it counts (it leaves).
- Ctrl-C drops what was typed ahead so far, as it clears the line at the prompt; while an
  answer streams it also stops the answer (cli/interrupt.py, through SIGINT).
- A question (tool approval, the ``human`` tool) never takes keys typed before it
  (engine/terminal.py flushes the terminal): what was collected is dropped too, and a line says
  so. The terminal is cooked again while the question is asked.

:meth:`QuietTerminal.close` restores the terminal as it was (the caller runs it in a
``finally``: Ctrl-D, /exit, Ctrl-C, SIGTERM/SIGHUP, errors). A kill -9 leaves it quiet: the
shell restores its settings for a job killed by a signal.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from typing import Any, Iterator

#: the terminal's input flags turned off between prompts (as prompt_toolkit does at the prompt)
_IFLAGS = ("IXON", "IXOFF", "ICRNL", "INLCR", "IGNCR")
#: and its local flags (ISIG stays on: Ctrl-C raises SIGINT)
_LFLAGS = ("ECHO", "ICANON", "IEXTEN")
#: bracketed paste on / off (a paste typed ahead arrives whole, its newlines do not send)
PASTE_ON, PASTE_OFF = "\x1b[?2004h", "\x1b[?2004l"


class QuietTerminal:
    """The terminal on ``fd`` between prompts; does nothing where ``fd`` is no terminal."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.saved: list[Any] | None = None
        self.data = bytearray()
        #: an answer streams or a tool runs: Ctrl-D typed now is dropped
        self.answering = False
        self._loop: Any = None
        self._reading = False
        self._sigint: contextlib.ExitStack | None = None

    # -- the terminal's mode ---------------------------------------------------------------
    def start(self) -> None:
        """Quiet from now on. Keys typed before, in the cooked mode, are kept (a partial line
        becomes readable); a Ctrl-D among them was turned into a NUL by the cooked mode and
        is read back as Ctrl-D."""
        try:
            import termios
        except ImportError:  # Windows: the console is left as it is
            return
        try:
            self.saved = termios.tcgetattr(self.fd)
            termios.tcsetattr(self.fd, termios.TCSANOW, quiet_attrs(self.saved))
        except (termios.error, OSError, ValueError):  # not a terminal
            self.saved = None
            return
        _paste(True)
        self.data += self._pending().replace(b"\x00", b"\x04")
        from .interrupt import last_words
        last_words.append(self._settings_back)  # a REPL stuck after SIGTERM is ended

    def close(self) -> None:
        """The terminal as it was before :meth:`start`; what was typed ahead is dropped."""
        self.stop_listening()
        self.data.clear()
        if self.saved is None:
            return
        from .interrupt import last_words
        with contextlib.suppress(ValueError):
            last_words.remove(self._settings_back)
        _paste(False)
        self._settings_back()
        self.saved = None

    def _settings_back(self) -> None:
        """The terminal's settings as before :meth:`start`; never blocks (any thread)."""
        with contextlib.suppress(Exception):
            import termios
            termios.tcsetattr(self.fd, termios.TCSANOW, self.saved)

    @contextlib.contextmanager
    def cooked(self, drop: bool = False) -> Iterator[int]:
        """The terminal as before :meth:`start` for the block ($EDITOR, a question), nothing
        read by this class meanwhile. With ``drop``, what was typed ahead is dropped first;
        yields how many bytes that was."""
        reading = self._reading
        self._stop_reading()
        dropped = 0
        if drop:
            dropped = len(self.data) + len(self._pending())
            self.data.clear()
        quiet = self._set(self.saved)
        if quiet is not None:
            _paste(False)
        try:
            yield dropped
        finally:
            if quiet is not None:
                self._set(quiet)
                _paste(True)
            if reading:
                self._start_reading()

    def _set(self, attrs: list[Any] | None) -> list[Any] | None:
        """The terminal set to ``attrs``; the settings it had, or None if nothing changed."""
        if attrs is None or self.saved is None:
            return None
        import termios
        try:
            before = termios.tcgetattr(self.fd)
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        except (termios.error, OSError):  # the terminal is gone
            return None
        return before

    # -- collecting keys between prompts ---------------------------------------------------
    def listen(self) -> None:
        """From the event loop: collect the keys typed from now on; Ctrl-C (not in a turn,
        whose own handler cancels the answer) drops them. Undone by :meth:`to_prompt`."""
        if self.saved is None or self._sigint is not None:
            return
        import signal

        from .interrupt import on_interrupt
        self._sigint = contextlib.ExitStack()
        self._sigint.enter_context(on_interrupt(self.drop, (signal.SIGINT,)))
        _paste(True)  # the prompt turned it off when it ended
        self._start_reading()

    def stop_listening(self) -> None:
        if self._sigint is not None:
            self._sigint.close()
            self._sigint = None
        self._stop_reading()
        self._collect(self._pending())

    def _start_reading(self) -> None:
        import asyncio
        self._loop = asyncio.get_running_loop()
        try:
            self._loop.add_reader(self.fd, self._read)
        except (OSError, NotImplementedError, ValueError):
            return  # the keys wait in the terminal (quiet); the prompt reads them
        self._reading = True

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.fd)

    def to_prompt(self, prompt_input: Any) -> None:
        """Before a prompt: what was typed ahead becomes its first keys."""
        self.stop_listening()
        if not self.data:
            return
        text = self.data.decode("utf-8", "replace")
        self.data.clear()
        from prompt_toolkit.input.typeahead import store_typeahead
        from prompt_toolkit.input.vt100_parser import Vt100Parser
        keys: list[Any] = []
        parser = Vt100Parser(keys.append)
        parser.feed(text)
        parser.flush()
        store_typeahead(prompt_input, keys)

    def drop(self) -> None:
        """Ctrl-C: what was typed ahead is gone (the terminal dropped what it held)."""
        self._pending()
        self.data.clear()

    @contextlib.contextmanager
    def answer(self) -> Iterator[None]:
        """While an answer streams or a tool runs (Ctrl-D typed then is dropped)."""
        self.answering = True
        try:
            yield
        finally:
            self._collect(self._pending())
            self.answering = False

    def _read(self) -> None:
        try:
            chunk = os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the terminal is gone (SIGHUP follows): stop watching it
            self._stop_reading()
            return
        self._collect(chunk)

    def _collect(self, chunk: bytes) -> None:
        self.data += chunk.replace(b"\x04", b"") if self.answering else chunk

    def _pending(self) -> bytes:
        """What the terminal holds now, read without waiting."""
        got = bytearray()
        if self.saved is None:
            return bytes(got)
        try:
            while select.select([self.fd], [], [], 0)[0]:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    break
                got += chunk
        except (OSError, ValueError):
            pass
        return bytes(got)


def quiet_attrs(attrs: list[Any]) -> list[Any]:
    """``attrs`` (termios.tcgetattr) made quiet: no echo, not line-buffered, ISIG kept."""
    import termios
    new = [list(a) if isinstance(a, list) else a for a in attrs]
    for name in _IFLAGS:
        new[0] &= ~getattr(termios, name, 0)
    for name in _LFLAGS:
        new[3] &= ~getattr(termios, name, 0)
    new[3] |= termios.ISIG
    new[6][termios.VMIN] = 1
    new[6][termios.VTIME] = 0
    return new


def _paste(on: bool) -> None:
    with contextlib.suppress(Exception):
        sys.stdout.write(PASTE_ON if on else PASTE_OFF)
        sys.stdout.flush()
