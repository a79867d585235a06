"""Where loomex keeps its files, and reading them.

``config.toml`` is the user's (read, never rewritten); ``keys.toml`` beside it is loomex's own
(written by ``loomex keys set``, mode 0600, atomically). ``$LOOMEX_CONFIG_DIR`` and
``$LOOMEX_DATA_DIR`` / ``$LOOMEX_CACHE_DIR`` override the platform directories.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import ConfigError


def config_dir() -> Path:
    env = os.environ.get("LOOMEX_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs  # ~20 ms: only when a path is needed
    return Path(platformdirs.user_config_dir("loomex", appauthor=False))


def data_dir() -> Path:
    env = os.environ.get("LOOMEX_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_data_dir("loomex", appauthor=False))


def cache_dir() -> Path:
    env = os.environ.get("LOOMEX_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_cache_dir("loomex", appauthor=False))


def config_path() -> Path:
    return config_dir() / "config.toml"


def keys_path() -> Path:
    return config_dir() / "keys.toml"


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


_cache: dict[Path, tuple[float, dict[str, Any]]] = {}


def _cached(path: Path) -> dict[str, Any]:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    hit = _cache.get(path)
    if hit and hit[0] == mtime:
        return hit[1]
    data = read_toml(path) if mtime >= 0 else {}
    _cache[path] = (mtime, data)
    return data


def load_config() -> dict[str, Any]:
    """config.toml, parsed (cached per process while the file is unchanged)."""
    return _cached(config_path())


def load_keys() -> dict[str, str]:
    """keys.toml as {provider: key}. Both ``name = "key"`` and ``[name] api_key`` are read."""
    data = _cached(keys_path())
    out: dict[str, str] = {}
    for name, v in data.items():
        if isinstance(v, str):
            out[name] = v
        elif isinstance(v, dict) and isinstance(v.get("api_key"), str):
            out[name] = v["api_key"]
    return out


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
