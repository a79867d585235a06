"""One writer per saved conversation: an OS lock on a small file per conversation.

    hold(db_dir, conv_id, on_wait=lambda pid: say("waiting ..."))   # blocks until free
    ... load, answer, save ...
    release(db_dir, conv_id)          # or just exit: the OS frees the lock with the process

The lock is ``flock`` (``msvcrt.locking`` on Windows) on ``<db dir>/locks/<id>.lock``, so it
dies with its process: a ``kill -9`` never leaves a conversation stuck. The file holds the
holder's pid (for the waiting note) and is removed on release; a waiter that locked a file
which was removed meanwhile tries again on the new one. Within one process :func:`hold` of a
conversation already held counts one more holder, so nested holders never wait for
themselves (meant for one thread: the faces take their locks from the main thread).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

LOCK_DIR = "locks"
#: seconds between attempts while another process holds the lock
POLL_S = 0.05

_held: dict[Path, list[Any]] = {}  # path -> [fd, count]


def lock_path(db_dir: str | os.PathLike[str], conv_id: str) -> Path:
    safe = "".join(ch for ch in conv_id if ch.isalnum() or ch in "-_") or "_"
    return Path(db_dir) / LOCK_DIR / f"{safe}.lock"


def hold(db_dir: str | os.PathLike[str], conv_id: str,
         on_wait: Callable[[int | None], Any] | None = None, wait: bool = True) -> bool:
    """Takes the conversation's lock, waiting while another process holds it (``on_wait``
    is called once, with the holder's pid when known). False only when ``wait`` is False and
    the lock is taken."""
    path = lock_path(db_dir, conv_id)
    entry = _held.get(path)
    if entry is not None:
        entry[1] += 1
        return True
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    noted = False
    while True:
        fd = _try_lock(path)
        if fd is not None:
            _held[path] = [fd, 1]
            return True
        if not wait:
            return False
        if not noted and on_wait is not None:
            noted = True
            on_wait(holder(path))
        time.sleep(POLL_S)


def release(db_dir: str | os.PathLike[str], conv_id: str) -> None:
    """Gives up one :func:`hold`; the lock is freed when the last one is given up."""
    path = lock_path(db_dir, conv_id)
    entry = _held.get(path)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] > 0:
        return
    del _held[path]
    if os.name != "nt":
        try:  # unlink while still holding it: a waiter then sees a changed file and retries
            os.unlink(path)
        except OSError:
            pass
    os.close(entry[0])


def is_held_here(db_dir: str | os.PathLike[str], conv_id: str) -> bool:
    return lock_path(db_dir, conv_id) in _held


def holder(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _try_lock(path: Path) -> int | None:
    """The fd of ``path`` locked by us, or None when another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            if not _lock_fd(fd):
                os.close(fd)
                return None
            try:
                same = os.name == "nt" or os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed it as we locked it: lock the new one


def _lock_fd(fd: int) -> bool:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
