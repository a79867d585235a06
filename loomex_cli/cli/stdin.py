"""Reading piped stdin without ever hanging on a terminal, /dev/null or a silent pipe."""

from __future__ import annotations

import io
import os
import select
import stat
import sys

#: more than this is surely not meant for one prompt (the context check comes later)
LIMIT = 64 * 1024 * 1024
#: how long a pipe may stay silent when a PROMPT was given
GRACE_S = 0.5


def stdin_kind() -> str:
    """"tty", "pipe", "file", "null" (a character device such as /dev/null), "closed",
    "memory" (a test runner's StringIO) or "other"."""
    s = sys.stdin
    if s is None or s.closed:
        return "closed"
    try:
        fd = s.fileno()
    except io.UnsupportedOperation:
        return "memory"
    except (AttributeError, ValueError, OSError):
        return "closed"
    try:
        st = os.fstat(fd)
    except OSError:
        return "closed"
    if os.isatty(fd):
        return "tty"
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        return "pipe"
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISCHR(st.st_mode):
        return "null"
    return "other"


class Piped:
    """What stdin gave: ``text`` (None when nothing), and notes for the user."""

    def __init__(self, text: str | None, skipped_silent: bool = False,
                 bad_utf8: bool = False) -> None:
        self.text = text
        self.skipped_silent = skipped_silent
        self.bad_utf8 = bad_utf8


def read_piped(wait: float | None) -> Piped:
    """Reads stdin when it is a pipe or a file. ``wait`` None blocks until EOF (stdin is the
    prompt, or --stdin); otherwise a pipe silent for ``wait`` seconds is skipped. Once data
    starts, it is read to EOF."""
    kind = stdin_kind()
    if kind not in ("pipe", "file", "memory", "other"):
        return Piped(None)
    if kind == "memory":
        data = sys.stdin.read()
        return Piped(data or None)
    if kind in ("pipe", "other") and wait is not None and not _data_within(wait):
        return Piped(None, skipped_silent=True)
    raw = sys.stdin.buffer.read(LIMIT + 1)
    if len(raw) > LIMIT:
        from .exits import USAGE, fail
        fail(f"stdin is larger than {LIMIT // (1024 * 1024)} MiB; cut it down first", USAGE)
    try:
        text = raw.decode("utf-8")
        bad = False
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        bad = True
    return Piped(text if text.strip() else None, bad_utf8=bad)


def _data_within(wait: float) -> bool:
    """Does the pipe offer data (or EOF) within ``wait`` seconds? select() where it works on
    pipes; elsewhere (Windows) a daemon thread that peeks, so the caller never hangs."""
    try:
        return bool(select.select([sys.stdin], [], [], wait)[0])
    except (OSError, ValueError):
        pass
    import threading
    started = threading.Event()

    def peek() -> None:
        try:
            sys.stdin.buffer.peek(1)  # blocks until data or EOF
        except (OSError, ValueError, AttributeError):
            pass
        started.set()
    threading.Thread(target=peek, daemon=True).start()
    return started.wait(wait)


def compose(prompt: str, piped: str | None) -> str:
    """The prompt is the instruction; piped text follows it in a delimited block."""
    if not piped:
        return prompt
    if not prompt:
        return piped
    body = piped if piped.endswith("\n") else piped + "\n"
    return f"{prompt}\n\n<stdin>\n{body}</stdin>"
