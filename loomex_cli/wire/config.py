"""Where loomex keeps its files, and reading them.

``config.toml`` is the user's (read, never rewritten; checked against the schema in
:mod:`.config_check` each time it is loaded); ``keys.toml`` beside it is loomex's own
(written by ``loomex keys set``, mode 0600, atomically, read-modify-write under a lock on
``keys.toml.lock``). ``$LOOMEX_CONFIG_DIR`` and ``$LOOMEX_DATA_DIR`` / ``$LOOMEX_CACHE_DIR``
override the platform directories.

Warnings found on loading (unknown keys, a keys.toml others can read) are kept for the face
to print once: :func:`take_warnings`.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import ConfigError


def config_dir() -> Path:
    env = os.environ.get("LOOMEX_CONFIG_DIR")
    if env:
        return _env_dir(env)
    return _platform_dir("config")


_env_dirs: dict[str, Path] = {}


def _env_dir(value: str) -> Path:
    """``Path(value).expanduser()``, remembered: every agent run finds its config this way."""
    found = _env_dirs.get(value)
    if found is None:
        found = _env_dirs[value] = Path(value).expanduser()
    return found


def data_dir() -> Path:
    env = os.environ.get("LOOMEX_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return _platform_dir("data")


def cache_dir() -> Path:
    env = os.environ.get("LOOMEX_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return _platform_dir("cache")


#: what platformdirs' answers are computed from (besides the platform)
_PLATFORM_ENV = ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "APPDATA",
                 "LOCALAPPDATA", "USERPROFILE")
_platform_dirs: dict[tuple[str | None, ...], Path] = {}


def _platform_dir(kind: str) -> Path:
    """platformdirs' ``user_<kind>_dir`` for loomex, once per environment: every agent run
    resolves its config path, and platformdirs costs more than the rest of that."""
    key = (kind, *map(os.environ.get, _PLATFORM_ENV))
    found = _platform_dirs.get(key)
    if found is None:
        import platformdirs  # ~20 ms: only when a path is needed
        where = getattr(platformdirs, f"user_{kind}_dir")("loomex", appauthor=False)
        found = _platform_dirs[key] = Path(where)
    return found


_files: dict[tuple[Path, str], Path] = {}


def config_path() -> Path:
    return _file(config_dir(), "config.toml")


def keys_path() -> Path:
    return _file(config_dir(), "keys.toml")


def _file(folder: Path, name: str) -> Path:
    found = _files.get((folder, name))
    if found is None:
        found = _files[(folder, name)] = folder / name
    return found


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file, {} when it does not exist; a file that does not parse is a
    ConfigError naming the file and line (the file is left as it is)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e} (the file was left untouched)") from None


_cache: dict[Path, tuple[Any, dict[str, Any]]] = {}
_warnings: list[str] = []


def take_warnings() -> list[str]:
    """The warnings found while loading the files since the last call (each file's once)."""
    out = list(_warnings)
    _warnings.clear()
    return out


def _cached(path: Path, check: Callable[[dict[str, Any], Path, os.stat_result], None] | None
            = None) -> dict[str, Any]:
    try:
        st = path.stat()
        stamp: Any = (st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        st, stamp = None, None
    hit = _cache.get(path)
    if hit and hit[0] == stamp:
        return hit[1]
    data = read_toml(path) if st is not None else {}
    if check is not None and st is not None:
        check(data, path, st)  # raises ConfigError before anything is cached
    _cache[path] = (stamp, data)
    return data


def _check_config(data: dict[str, Any], path: Path, st: os.stat_result) -> None:
    from .config_check import check_config
    _warnings.extend(check_config(data, path))


def _check_keys(data: dict[str, Any], path: Path, st: os.stat_result) -> None:
    if os.name != "nt" and st.st_mode & 0o077:
        _warnings.append(f"{path} can be read by other users (mode "
                         f"{stat.S_IMODE(st.st_mode):04o}): run chmod 600 {path}")


def load_config() -> dict[str, Any]:
    """config.toml, parsed and checked (cached per process while the file is unchanged):
    a value of the wrong type is a ConfigError; unknown keys are warnings."""
    return _cached(config_path(), _check_config)


def load_keys() -> dict[str, str]:
    """keys.toml as {provider: key}. Both ``name = "key"`` and ``[name] api_key`` are read."""
    return _keys_of(_cached(keys_path(), _check_keys))


def _keys_of(data: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, v in data.items():
        if isinstance(v, str):
            out[name] = v
        elif isinstance(v, dict) and isinstance(v.get("api_key"), str):
            out[name] = v["api_key"]
    return out


@contextlib.contextmanager
def keys_lock() -> Iterator[None]:
    """Holds an exclusive lock on ``keys.toml.lock`` (beside keys.toml) so that parallel
    read-modify-writes of keys.toml do not lose each other's keys: ``fcntl.flock`` on POSIX,
    ``msvcrt.locking`` on Windows."""
    path = keys_path().with_name("keys.toml.lock")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform == "win32":
            import msvcrt
            import time
            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # retries for ~10 s itself
                    break
                except OSError:
                    time.sleep(0.05)
        else:
            import fcntl
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def update_keys(change: Callable[[dict[str, str]], None]) -> Path:
    """Reads keys.toml, lets ``change`` edit the keys, writes it back, all under
    :func:`keys_lock`; the file is read afresh (never from the cache) inside the lock."""
    with keys_lock():
        keys = _keys_of(read_toml(keys_path()))
        change(keys)
        return write_keys(keys)


def write_keys(keys: dict[str, str]) -> Path:
    """Writes keys.toml atomically: a temp file in the same directory (0600), fsync, rename;
    the directory is created 0700. A crash leaves the old file or the new one, never half."""
    import tomli_w

    from .atomic import atomic_write
    path = keys_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = tomli_w.dumps({k: keys[k] for k in sorted(keys)}).encode("utf-8")
    atomic_write(path, data, mode=0o600, sync_dir=True)
    _cache.pop(path, None)
    return path


def mask(secret: str | None) -> str:
    """A key as it may be shown: the first 3 and last 4 characters at most."""
    if not secret:
        return ""
    if len(secret) <= 10:
        return "*" * len(secret)
    return f"{secret[:3]}…{secret[-4:]}"
