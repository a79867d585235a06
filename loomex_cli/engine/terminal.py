"""Asking one question on the controlling terminal (``/dev/tty``), from the event loop.

It works while stdin is a pipe. The answer is read with ``add_reader`` on a non-blocking
``/dev/tty`` in the terminal's line mode: Ctrl-C raises SIGINT as usual and cancels the read.
Keys typed before a question appears are discarded, so they cannot answer it. The CLI's
prompts (cli/ask.py) and a library run's ``human`` tool (:func:`terminal_asker`) use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from typing import Callable, Iterator

#: the terminal questions are asked on
TTY = "/dev/tty"
#: seconds between looks at the terminal where the event loop cannot watch it
POLL_S = 0.05


def tty_available() -> bool:
    try:
        fd = os.open(TTY, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


@contextlib.contextmanager
def _terminal() -> Iterator[tuple[int, int] | None]:
    """(read fd, write fd) on /dev/tty, or None; the terminal in line mode with echo and
    Ctrl-C on for the question, and type-ahead discarded."""
    try:
        wfd = os.open(TTY, os.O_WRONLY | os.O_NOCTTY)
    except OSError:
        yield None
        return
    try:
        rfd = os.open(TTY, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        os.close(wfd)
        yield None
        return
    saved = None
    try:
        import termios
        try:
            saved = termios.tcgetattr(rfd)
            attrs = [list(a) if isinstance(a, list) else a for a in saved]
            attrs[0] |= termios.ICRNL
            attrs[3] |= termios.ICANON | termios.ECHO | termios.ISIG
            if attrs != saved:
                termios.tcsetattr(rfd, termios.TCSANOW, attrs)
            else:
                saved = None
            termios.tcflush(rfd, termios.TCIFLUSH)
        except termios.error:
            saved = None
        yield rfd, wfd
    finally:
        if saved is not None:
            with contextlib.suppress(Exception):
                import termios
                termios.tcsetattr(rfd, termios.TCSANOW, saved)
        os.close(rfd)
        os.close(wfd)


def _write(fd: int, text: str) -> None:
    data = text.encode("utf-8", "replace")
    while data:
        data = data[os.write(fd, data):]


async def _readable(fd: int) -> None:
    """Until ``fd`` may have input: watched by the event loop, or polled where the loop
    cannot watch a terminal (kqueue on macOS refuses ttys; Windows' loops have no readers)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    try:
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    except (OSError, NotImplementedError, ValueError):
        await asyncio.sleep(POLL_S)
        return
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def _read_line(fd: int) -> str | None:
    """One line typed on the terminal; None on end of input (Ctrl-D) or a terminal gone.
    Cancellable: nothing blocks outside the event loop."""
    data = bytearray()
    while b"\n" not in data:
        await _readable(fd)
        try:
            chunk = os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            return None
        if not chunk:
            return data.decode("utf-8", "replace") if data else None
        data += chunk
    return data.decode("utf-8", "replace").split("\n", 1)[0].rstrip("\r")


async def exchange(text: str) -> str | None:
    """Writes ``text`` to the terminal and reads one line; None on EOF / no terminal.
    Ctrl-C cancels it (CancelledError, through the run's interrupt handler)."""
    with _terminal() as tty:
        if tty is None:
            return None
        rfd, wfd = tty
        try:
            _write(wfd, text)
            return await _read_line(rfd)
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                _write(wfd, "\n")  # what follows starts on a line of its own
            raise
        except OSError:
            return None


#: control characters and bidirectional overrides: a question from the model is shown without
#: them (it could move the cursor, or make the text read otherwise than it is)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_asker() -> Callable[[str], "asyncio.Future[str | None] | object"] | None:
    """``ask_human`` for a library run: the question on the terminal, when there is one."""
    if not tty_available():
        return None

    async def ask(question: str) -> str | None:
        text = _UNSAFE.sub("", question)
        return await exchange(f"\n? the model asks: {text}\n  > ")
    return ask
