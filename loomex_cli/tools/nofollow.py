"""Opening and replacing a file along a path that was already resolved, without following a
symlink that appeared after it was resolved.

    fd, st = open_regular(real)         # OSError; PathChanged when a symlink is in the way
    created = replace_file(real, data)  # atomic: a temporary file renamed over the name

The policy decides on the resolved path (:func:`.paths.resolve_path`: no symlink left in it),
and the tools operate on that same path: every directory from ``/`` down is opened relative to
its parent with ``O_NOFOLLOW``, so a component swapped for a symlink in the meantime makes the
call fail instead of landing elsewhere; the file is opened with ``O_NOFOLLOW`` too, and a write
is a rename inside the pinned directory, which replaces the directory entry (a symlink or a
hard link put there is replaced; what it pointed to is untouched). Where the OS offers no
``dir_fd`` (Windows) the plain path is used.
"""

from __future__ import annotations

import errno
import os
import stat

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# O_PATH (Linux) passes through directories one may search but not list
_DIR = (getattr(os, "O_PATH", 0) or os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) \
    | _NOFOLLOW | _CLOEXEC
#: whether the safe walk is available (POSIX with openat and friends)
SUPPORTED = bool(_NOFOLLOW) and os.open in os.supports_dir_fd \
    and os.rename in os.supports_dir_fd and os.stat in os.supports_dir_fd


class PathChanged(OSError):
    """A symlink is now where the resolved path had a file or directory."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ELOOP, "it changed after it was approved (a symlink is now in "
                                      "its way); not followed", path)


def open_dir(path: str, *, create: bool = False) -> int:
    """A descriptor of the directory ``path`` (absolute, resolved), opened one component at
    a time without following symlinks; ``create`` makes the missing ones."""
    fd = os.open(os.sep, _DIR)
    try:
        for name in [p for p in path.split(os.sep) if p]:
            try:
                nfd = os.open(name, _DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = os.open(name, _DIR, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(name, fd):
                    raise PathChanged(path) from None
                raise
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(path: str, flags: int = os.O_RDONLY) -> int:
    """A descriptor of the file at the resolved ``path``; nothing on the way is followed."""
    if not SUPPORTED:
        return os.open(path, flags | _CLOEXEC)
    parent, name = os.path.split(path)
    if not name:
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    dfd = open_dir(parent)
    try:
        return os.open(name, flags | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0),
                       dir_fd=dfd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK) and _is_link(name, dfd):
            raise PathChanged(path) from None
        raise
    finally:
        os.close(dfd)


def open_regular(path: str) -> tuple[int, os.stat_result]:
    """A read descriptor of the regular file at ``path`` and its stat (IsADirectoryError,
    or OSError EINVAL for a device or a fifo)."""
    fd = open_file(path)
    try:
        st = os.fstat(fd)
        check_regular(st, path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_all(path: str) -> tuple[bytes, os.stat_result]:
    """The whole regular file at ``path`` and its stat."""
    fd, st = open_regular(path)
    with os.fdopen(fd, "rb") as f:
        return f.read(), st


def check_regular(st: os.stat_result, path: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file", path)


def replace_file(path: str, data: bytes) -> bool:
    """Writes ``data`` to the resolved ``path`` atomically (a temporary file in the same,
    pinned directory, fsynced, renamed over the name); missing parent directories are made.
    A replaced file keeps its mode. True when the file was created."""
    if not SUPPORTED:
        from ..wire.atomic import atomic_write
        return atomic_write(path, data)
    parent, name = os.path.split(path)
    if not name:
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    dfd = open_dir(parent, create=True)
    try:
        try:
            old: os.stat_result | None = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if old is not None:
            if stat.S_ISLNK(old.st_mode):
                raise PathChanged(path)
            check_regular(old, path)
        tmp = f".{name[:100]}.{os.urandom(6).hex()}.loomex-tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666,
                     dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as f:
                if old is not None:
                    os.fchmod(f.fileno(), stat.S_IMODE(old.st_mode))
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            raise
    finally:
        os.close(dfd)
    return old is None


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
