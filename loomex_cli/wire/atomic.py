"""Writing a file so that a crash leaves the old one or the new one, never half of either."""

from __future__ import annotations

import os
import stat


def atomic_write(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None,
                 sync_dir: bool = False) -> bool:
    """Writes ``data`` through a temporary file in the same directory (fsync, then
    ``os.replace``). Parent directories are created; a symlink is written through to its
    target. ``mode`` sets the file's mode; without it a replaced file keeps its mode and a new
    one gets the umask's. ``sync_dir`` also fsyncs the directory (the rename survives a power
    cut). Returns True when the file was created, False when it replaced one."""
    path = os.fspath(path)
    target = os.path.realpath(path) if os.path.islink(path) else path
    parent = os.path.dirname(target) or "."
    os.makedirs(parent, exist_ok=True)
    try:
        old_mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        old_mode = None
    if mode is None:
        if old_mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        else:
            mode = old_mode
    import tempfile
    fd, tmp = tempfile.mkstemp(dir=parent, prefix="." + os.path.basename(target) + ".",
                               suffix=".loomex-tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        try:
            dfd = os.open(parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    return old_mode is None
