"""Reading piped stdin to EOF: never on a terminal or /dev/null, and never a silent wait."""

from __future__ import annotations

import io
import os
import select
import stat
import sys
from typing import Callable

#: more than this is surely not meant for one prompt (the context check comes later)
LIMIT = 64 * 1024 * 1024
#: after this long without data from a pipe, one note on stderr says what loomex waits for
NOTE_AFTER_S = 3.0
NOTE = "waiting for stdin; Ctrl-D or --no-stdin to skip"
#: what stdin_kind() says of a stdin that is read (never a terminal or /dev/null)
READABLE = ("pipe", "file", "memory", "other")


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


def stdin_readable() -> bool:
    """Whether :func:`read_piped` would read anything at all (a pipe, a file...)."""
    return stdin_kind() in READABLE


class Piped:
    """What stdin gave: ``text`` (None when nothing), and whether bytes had to be replaced."""

    def __init__(self, text: str | None, bad_utf8: bool = False) -> None:
        self.text = text
        self.bad_utf8 = bad_utf8


def read_piped(note: Callable[[], None] | None = None,
               note_after: float = NOTE_AFTER_S) -> Piped:
    """Reads stdin to EOF when it is a pipe or a file, however long the producer takes
    (``make 2>&1 | loomex "why"``). A pipe silent for ``note_after`` seconds calls ``note``
    once, so an open pipe is never a silent hang. Ctrl-C while waiting exits 130 quietly."""
    kind = stdin_kind()
    if kind not in READABLE:
        return Piped(None)
    if kind == "memory":
        data = sys.stdin.read()
        return Piped(data or None)
    try:
        raw = _read_all(note if kind != "file" else None, note_after)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise SystemExit(130) from None
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


def _read_all(note: Callable[[], None] | None, note_after: float) -> bytes:
    """Everything up to EOF (at most LIMIT + 1 bytes). Where select() works on pipes the read
    happens here, where Ctrl-C interrupts it; elsewhere (Windows) a daemon thread reads and
    this thread waits in short steps, which Ctrl-C also interrupts."""
    try:
        ready = bool(select.select([sys.stdin], [], [], note_after if note else 0)[0])
    except (OSError, ValueError):
        return _read_in_thread(note, note_after)
    if not ready and note is not None:
        note()
    return sys.stdin.buffer.read(LIMIT + 1)


def _read_in_thread(note: Callable[[], None] | None, note_after: float) -> bytes:
    import threading
    got: list[bytes] = []
    failed: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            got.append(sys.stdin.buffer.read(LIMIT + 1))
        except (OSError, ValueError) as e:
            failed.append(e)
        done.set()
    threading.Thread(target=read, daemon=True, name="loomex-stdin").start()
    if not done.wait(note_after) and note is not None:
        note()
    while not done.wait(0.25):
        pass
    if failed:
        raise failed[0]
    return got[0] if got else b""


def compose(prompt: str, piped: str | None) -> str:
    """The prompt is the instruction; piped text follows it in a delimited block."""
    if not piped:
        return prompt
    if not prompt:
        return piped
    body = piped if piped.endswith("\n") else piped + "\n"
    return f"{prompt}\n\n<stdin>\n{body}</stdin>"
