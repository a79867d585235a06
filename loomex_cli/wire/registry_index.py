"""The models.dev catalog on disk: download, validation, the compact index, atomic writes.

Three files live in ``cache_dir()``:

* ``models-dev-api.json``: the body of ``api.json`` exactly as downloaded (2.4 MB). It is
  only read to rebuild the index (a new index format, or the index file was removed).
* ``models-index.json``: the compact index the lookups read. Line 1 is a JSON header (format
  version, source URL, the providers with ``name``/``npm``/``api``/``env`` and where their
  line starts); then one line per provider: ``{model_id: row}`` with only the fields loomex
  uses (see :func:`_row`). A lookup parses the header and one provider's line, not the rest.
* ``models-dev-state.json``: when the URL was last checked (``checked_at``), its ETag and
  Last-Modified, and when a fetch last failed (``failed_at``).

Every write is a temp file in the same directory + ``os.replace``; a failed or malformed
download never replaces what is there. Nothing here raises for network or disk trouble:
the outcome is an :class:`Index` or None, plus a note saying why.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_URL = "https://models.dev/api.json"
#: refresh after this many seconds
MAX_AGE = 24 * 3600
#: after a failed fetch, do not try again for this long (offline runs stay fast)
RETRY_AFTER_FAILURE = 600
CONNECT_TIMEOUT = 3.0
TOTAL_TIMEOUT = 10.0
MAX_BYTES = 64 << 20
INDEX_VERSION = 2

RAW_NAME = "models-dev-api.json"
INDEX_NAME = "models-index.json"
STATE_NAME = "models-dev-state.json"

_COST_KEYS = ("input", "output", "cache_read", "cache_write", "reasoning")
_OFF = {"", "0", "off", "none", "false", "no"}


def models_url() -> str | None:
    """``$LOOMEX_MODELS_URL`` or models.dev; None when set to ``off`` (never fetch: the cache
    is used as it is, however old)."""
    url = os.environ.get("LOOMEX_MODELS_URL")
    if url is None:
        return DEFAULT_URL
    url = url.strip()
    return None if url.lower() in _OFF else url


# -- the index ---------------------------------------------------------------------------

class Index:
    """A parsed index header; a provider's models are parsed on first use (one line)."""

    __slots__ = ("header", "providers", "_data", "_body", "_models")

    def __init__(self, data: bytes) -> None:
        nl = data.index(b"\n")
        header = json.loads(data[:nl])
        if not isinstance(header, dict) or header.get("v") != INDEX_VERSION or \
                not isinstance(header.get("providers"), dict):
            raise ValueError("not a loomex models index of this version")
        self.header: dict[str, Any] = header
        self.providers: dict[str, dict[str, Any]] = header["providers"]
        self._data = data
        self._body = nl + 1
        self._models: dict[str, dict[str, list[Any]]] = {}

    @classmethod
    def read(cls, path: Path) -> "Index | None":
        try:
            return cls(path.read_bytes())
        except (OSError, ValueError):
            return None

    def models(self, provider: str) -> dict[str, list[Any]] | None:
        """``{model_id: row}`` for a models.dev provider id, None when there is none."""
        got = self._models.get(provider)
        if got is not None:
            return got
        p = self.providers.get(provider)
        if p is None:
            return None
        start = self._body + int(p["o"])
        end = start + int(p["n"])
        chunk = self._data[start:end]
        try:
            if not chunk.endswith(b"\n"):
                raise ValueError("truncated")
            rows = json.loads(chunk)
        except ValueError:
            rows = {}
        if not isinstance(rows, dict):
            rows = {}
        self._models[provider] = rows
        return rows

    def all_models(self) -> dict[str, dict[str, list[Any]]]:
        return {pid: self.models(pid) or {} for pid in self.providers}


def _num(v: Any) -> float | int | None:
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _limit(v: Any) -> int | None:
    n = _num(v)
    return int(n) if n and n > 0 else None  # 0 means unknown


def _opt_bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def _prices(c: dict[str, Any]) -> dict[str, Any]:
    return {k: c[k] for k in _COST_KEYS if _num(c.get(k)) is not None}


def _cost(c: Any) -> dict[str, Any] | None:
    if not isinstance(c, dict):
        return None
    out = _prices(c)
    if "input" not in out and "output" not in out:
        return None
    tiers = []
    for t in c.get("tiers") or ():
        if not isinstance(t, dict):
            continue
        spec = t.get("tier") or {}
        size = _num(spec.get("size")) if isinstance(spec, dict) else None
        if spec.get("type", "context") != "context" or size is None:
            continue
        tiers.append({**_prices(t), "size": int(size)})
    if tiers:
        out["tiers"] = sorted(tiers, key=lambda t: t["size"])
    return out


#: the length of one model row (see :func:`_row`)
ROW_LEN = 12


def _inputs(m: dict[str, Any]) -> list[str] | None:
    mod = m.get("modalities")
    inp = mod.get("input") if isinstance(mod, dict) else None
    return [str(x) for x in inp if isinstance(x, str)] if isinstance(inp, list) else None


def _efforts(m: dict[str, Any]) -> list[str] | None:
    """The reasoning-effort values the model takes (None: not listed)."""
    for opt in m.get("reasoning_options") or ():
        if isinstance(opt, dict) and opt.get("type") == "effort" and \
                isinstance(opt.get("values"), list):
            return [str(v) for v in opt["values"] if isinstance(v, str)]
    return None


def _row(mid: str, m: Any) -> list[Any] | None:
    """[name, context, input limit, output limit, tool_call, reasoning, temperature, status,
    cost, input modalities, structured_output, effort values]: the only fields loomex reads
    (see README "Schema" of the snapshot)."""
    if not isinstance(m, dict):
        return None
    lim = m.get("limit") if isinstance(m.get("limit"), dict) else {}
    status = m.get("status")
    return [str(m.get("name") or mid), _limit(lim.get("context")), _limit(lim.get("input")),
            _limit(lim.get("output")), m.get("tool_call") is True, m.get("reasoning") is True,
            _opt_bool(m.get("temperature")), status if isinstance(status, str) else None,
            _cost(m.get("cost")), _inputs(m), _opt_bool(m.get("structured_output")),
            _efforts(m)]


def parse_api(raw: bytes) -> dict[str, Any] | None:
    """The catalog if ``raw`` is one (a JSON object of providers, each with a ``models``
    object); None for anything else: not JSON, truncated, a list, no provider at all."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    good = sum(1 for p in data.values()
               if isinstance(p, dict) and isinstance(p.get("models"), dict))
    return data if good else None


def build_index(api: dict[str, Any], url: str | None) -> bytes:
    providers: dict[str, Any] = {}
    lines: list[bytes] = []
    off = 0
    for pid in sorted(api):
        p = api[pid]
        if not isinstance(p, dict) or not isinstance(p.get("models"), dict):
            continue
        rows = {}
        for mid, m in p["models"].items():
            row = _row(str(mid), m)
            if row is not None:
                rows[str(mid)] = row
        line = json.dumps(rows, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"
        env = p.get("env")
        providers[str(pid)] = {
            "name": str(p.get("name") or pid), "npm": str(p.get("npm") or ""),
            "api": p.get("api") if isinstance(p.get("api"), str) else None,
            "env": [str(e) for e in env] if isinstance(env, list) else [],
            "o": off, "n": len(line), "c": len(rows),
        }
        off += len(line)
        lines.append(line)
    header = {"v": INDEX_VERSION, "url": url, "built_at": time.time(), "providers": providers}
    return json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode() + b"\n" + \
        b"".join(lines)


# -- files -------------------------------------------------------------------------------

def write_atomic(path: Path, data: bytes) -> None:
    from .atomic import atomic_write
    atomic_write(path, data)


def read_state(d: Path) -> dict[str, Any]:
    try:
        s = json.loads((d / STATE_NAME).read_bytes())
    except (OSError, ValueError):
        return {}
    return s if isinstance(s, dict) else {}


def write_state(d: Path, state: dict[str, Any]) -> None:
    try:
        write_atomic(d / STATE_NAME, json.dumps(state, separators=(",", ":")).encode())
    except OSError:
        pass  # a read-only cache: the data is still usable, only the next check comes sooner


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(1, int(seconds // 60))} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


# -- fetching ----------------------------------------------------------------------------

class Fetched:
    __slots__ = ("outcome", "body", "etag", "last_modified", "error")

    def __init__(self, outcome: str, body: bytes | None = None, etag: str | None = None,
                 last_modified: str | None = None, error: str | None = None) -> None:
        self.outcome = outcome  # "ok" | "not_modified" | "failed"
        self.body = body
        self.etag = etag
        self.last_modified = last_modified
        self.error = error


def _fetch(url: str, etag: str | None, last_modified: str | None) -> Fetched:
    try:
        import httpx2
        from .._version import __version__
        headers = {"accept": "application/json", "user-agent": f"loomex/{__version__}"}
        if etag:
            headers["if-none-match"] = etag
        if last_modified:
            headers["if-modified-since"] = last_modified
        deadline = time.monotonic() + TOTAL_TIMEOUT
        timeout = httpx2.Timeout(TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT)
        with httpx2.Client(timeout=timeout, follow_redirects=True) as client:
            with client.stream("GET", url, headers=headers) as r:
                et = r.headers.get("etag")
                lm = r.headers.get("last-modified")
                if r.status_code == 304:
                    return Fetched("not_modified", etag=et or etag,
                                   last_modified=lm or last_modified)
                if r.status_code != 200:
                    return Fetched("failed", error=f"HTTP {r.status_code}")
                chunks, size = [], 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > MAX_BYTES:
                        return Fetched("failed", error="the download is too large")
                    if time.monotonic() > deadline:
                        return Fetched("failed", error=f"took longer than {TOTAL_TIMEOUT:g} s")
                    chunks.append(chunk)
                return Fetched("ok", body=b"".join(chunks), etag=et, last_modified=lm)
    except Exception as e:  # noqa: BLE001 - any failure is "offline": the cache is used
        msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        return Fetched("failed", error=f"{type(e).__name__}{': ' + msg if msg else ''}")


def fetch(url: str, etag: str | None = None, last_modified: str | None = None) -> Fetched:
    """GET ``url`` (conditional when a validator is given), never longer than TOTAL_TIMEOUT
    for the caller: the request runs in a daemon thread that is abandoned at the deadline."""
    box: list[Fetched] = []
    t = threading.Thread(target=lambda: box.append(_fetch(url, etag, last_modified)),
                         name="loomex-models-dev", daemon=True)
    t.start()
    t.join(TOTAL_TIMEOUT + 0.5)
    if not box:
        return Fetched("failed", error=f"no answer within {TOTAL_TIMEOUT:g} s")
    return box[0]


# -- putting it together -----------------------------------------------------------------

class Opened:
    __slots__ = ("index", "note", "fetched")

    def __init__(self, index: Index | None, note: str | None = None,
                 fetched: str | None = None) -> None:
        self.index = index
        self.note = note
        #: the HTTP outcome of this call ("ok", "not_modified", "failed"), None: no request
        self.fetched = fetched


def _rebuild_from_raw(d: Path, url: str | None) -> Index | None:
    try:
        raw = (d / RAW_NAME).read_bytes()
    except OSError:
        return None
    api = parse_api(raw)
    if api is None:
        return None
    data = build_index(api, url)
    try:
        write_atomic(d / INDEX_NAME, data)
    except OSError:
        pass
    return Index(data)


def open_index(d: Path, url: str | None, *, force: bool = False,
               now: float | None = None) -> Opened:
    """The index for ``url`` in directory ``d``, refreshed when older than MAX_AGE (or
    ``force``). Offline or a bad download: the cached index however old, else None."""
    now = time.time() if now is None else now
    state = read_state(d)
    idx = Index.read(d / INDEX_NAME)
    if idx is None:
        idx = _rebuild_from_raw(d, url)
    checked = state.get("checked_at")
    same_url = state.get("url") == url
    fresh = (idx is not None and same_url and isinstance(checked, (int, float))
             and 0 <= now - checked < MAX_AGE)
    if url is None:
        if idx is None:
            return Opened(None, "model metadata unavailable: fetching is off "
                                "(LOOMEX_MODELS_URL=off) and there is no cache")
        return Opened(idx)
    if fresh and not force:
        return Opened(idx)
    failed = state.get("failed_at")
    if (not force and state.get("failed_url") == url and isinstance(failed, (int, float)) and
            0 <= now - failed < RETRY_AFTER_FAILURE):
        return _offline(idx, checked, now, state.get("error") or "unreachable", url)

    cond = idx is not None and same_url
    res = fetch(url, state.get("etag") if cond else None,
                state.get("last_modified") if cond else None)
    if res.outcome == "not_modified" and idx is None:  # validators without data: ask again
        res = fetch(url)
    if res.outcome == "not_modified":
        write_state(d, {"url": url, "checked_at": now, "etag": res.etag,
                        "last_modified": res.last_modified})
        return Opened(idx, fetched="not_modified")
    if res.outcome == "ok":
        api = parse_api(res.body or b"")
        if api is not None:
            data = build_index(api, url)
            try:
                write_atomic(d / RAW_NAME, res.body or b"")
                write_atomic(d / INDEX_NAME, data)
            except OSError:
                pass  # still usable in this process
            write_state(d, {"url": url, "checked_at": now, "etag": res.etag,
                            "last_modified": res.last_modified})
            return Opened(Index(data), fetched="ok")
        res.error = "the download is not a models.dev catalog (not JSON, or no providers)"
    write_state(d, {**state, "failed_at": now, "failed_url": url, "error": res.error})
    opened = _offline(idx, checked, now, res.error or "failed", url)
    opened.fetched = "failed"
    return opened


def _offline(idx: Index | None, checked: Any, now: float, why: str, url: str) -> Opened:
    if idx is None:
        return Opened(None, f"model metadata unavailable: offline and no cache ({url}: {why})")
    age = f"{_age(now - checked)} old" if isinstance(checked, (int, float)) else "of unknown age"
    return Opened(idx, f"model metadata from a cache {age} ({url}: {why})")
