"""Model metadata from models.dev: context windows, output limits, prices, capabilities.

``lookup("openrouter/anthropic/claude-sonnet-4")`` gives a :class:`ModelInfo` or None. The
catalog (``https://models.dev/api.json``, or ``$LOOMEX_MODELS_URL``; ``off`` never fetches)
is fetched on the first lookup that needs it, cached in ``cache_dir()`` and refreshed after
24 h with a conditional request; offline, the cache is used however old; with no cache,
lookups return None and :func:`note` says why (for verbose output). Callers keep their own
fallbacks (the agent's context window of 128,000).

After one read per process every lookup is a dict access. The one-shot path reads only the
compact index (``registry_index``) and parses one provider's line of it.

Our routing prefixes are mapped to models.dev ids (fireworks -> fireworks-ai, together ->
togetherai, moonshot -> moonshotai); the model part is split once at the first ``/`` and
looked up unchanged. :func:`provider_preset` lets ``providers.route()`` use any models.dev
provider that speaks the OpenAI chat-completions API (npm ``@ai-sdk/openai-compatible`` with
an ``api`` base URL) as ``provider-id/model``; presets and config.toml come first.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from . import registry_index as _ri
from .errors import ConfigError
from .registry_cost import cost_usd  # noqa: F401  (part of this module's API)
from .provider_table import ALIASES, NO_ENTRY, PRESETS, REVERSE, Preset  # noqa: F401

OPENAI_COMPATIBLE_NPM = "@ai-sdk/openai-compatible"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model as one provider serves it. Limits are tokens (None: unknown); ``cost`` is
    USD per 1,000,000 tokens: ``input``, ``output`` and, when known, ``cache_read``,
    ``cache_write``, ``reasoning`` and ``tiers`` (each with ``size``: the prices that apply
    once the prompt exceeds ``size`` tokens). None: the price is unknown."""

    provider: str  # the routing prefix (fireworks), as in ``provider/model``
    model: str  # the provider's own model id (may contain "/")
    name: str
    context_window: int | None
    max_input: int | None
    max_output: int | None
    cost: dict[str, Any] | None
    tool_call: bool
    reasoning: bool
    temperature: bool | None  # None: unknown; False: do not send temperature
    status: str | None  # None, "alpha", "beta" or "deprecated"
    registry_provider: str = ""  # the models.dev provider id (fireworks-ai)
    #: input modalities ("text", "image", "pdf", "audio", "video"); None: unknown
    inputs: tuple[str, ...] | None = None
    structured_output: bool | None = None  # None: unknown
    #: reasoning-effort values the model takes ("low", "medium", ...); None: not listed
    efforts: tuple[str, ...] | None = None

    @property
    def accepts_images(self) -> bool | None:
        """True/False from the registry's input modalities; None when it does not say."""
        return None if self.inputs is None else "image" in self.inputs

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cost"] = _copy_cost(self.cost)
        return d


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    """A provider in the models.dev catalog."""
    id: str
    name: str
    npm: str
    api: str | None
    env: tuple[str, ...]
    models: int

    @property
    def openai_compatible(self) -> bool:
        return self.npm == OPENAI_COMPATIBLE_NPM and bool(self.api)

    @property
    def key_env(self) -> str | None:
        """The variable holding the key: the first of ``env`` that the base URL does not use
        as a ``${VAR}`` placeholder (cloudflare lists its account id first)."""
        used = set(_PLACEHOLDER.findall(self.api or ""))
        for e in self.env:
            if e not in used:
                return e
        return self.env[0] if self.env else None


# -- loading -----------------------------------------------------------------------------

_lock = threading.RLock()
#: ($LOOMEX_CACHE_DIR, $LOOMEX_MODELS_URL), monotonic time loaded, Index | None, note
_loaded: tuple[tuple[str | None, str | None], float, "_ri.Index | None", str | None] | None = None
#: lookups answered since the catalog was loaded, by model string
_infos: dict[str, ModelInfo | None] = {}
_MISS = object()


def _key() -> tuple[str | None, str | None]:
    """What the loaded catalog depends on (cheap: compared on every lookup)."""
    env = os.environ
    return env.get("LOOMEX_CACHE_DIR"), env.get("LOOMEX_MODELS_URL")


def _valid(cur: Any, key: tuple[str | None, str | None]) -> bool:
    """Whether what was loaded still holds: same environment, and not older than 24 h (10
    min when nothing could be loaded: a long session that started offline tries again)."""
    if cur is None or cur[0] != key:
        return False
    ttl = _ri.MAX_AGE if cur[2] is not None else _ri.RETRY_AFTER_FAILURE
    return time.monotonic() - cur[1] < ttl


def _index(force: bool = False) -> "_ri.Index | None":
    global _loaded
    key = _key()
    if not force and _valid(_loaded, key):
        return _loaded[2]  # type: ignore[index]
    with _lock:
        cur = _loaded
        if not force and _valid(cur, key):
            return cur[2]  # type: ignore[index]
        from .config import cache_dir
        opened = _ri.open_index(cache_dir(), _ri.models_url(), force=force)
        _infos.clear()
        _loaded = (key, time.monotonic(), opened.index, opened.note)
        return opened.index


def _ready() -> bool:
    return _valid(_loaded, _key())


def loaded() -> bool:
    """True when lookups are answered without loading (or fetching) the catalog."""
    return _ready()


def note() -> str | None:
    """Why metadata is missing or old (offline, no cache...), for verbose output; None when
    it is current or nothing was looked up yet."""
    cur = _loaded
    return cur[3] if cur is not None else None


def available() -> bool:
    """True when the catalog could be loaded (this may fetch it)."""
    return _index() is not None


def refresh() -> bool:
    """Checks models.dev now, whatever the age of the cache. True when data is available."""
    return _index(force=True) is not None


def reset() -> None:
    """Forgets what this process loaded (tests; a changed environment)."""
    global _loaded
    with _lock:
        _loaded = None
        _infos.clear()


# -- lookups -----------------------------------------------------------------------------

def registry_id(prefix: str) -> str:
    """The models.dev provider id for one of our routing prefixes."""
    return ALIASES.get(prefix, prefix)


def prefix_for(registry_provider: str) -> str:
    """Our routing prefix for a models.dev provider id (fireworks-ai -> fireworks)."""
    return REVERSE.get(registry_provider, registry_provider)


def _copy_cost(c: dict[str, Any] | None) -> dict[str, Any] | None:
    if c is None:
        return None
    out = dict(c)
    if "tiers" in out:
        out["tiers"] = [dict(t) for t in out["tiers"]]
    return out


def _info(prefix: str, rid: str, mid: str, row: list[Any]) -> ModelInfo:
    name, ctx, inp, out, tool, reasoning, temp, status, cost, inputs, structured, efforts = row
    return ModelInfo(provider=prefix, model=mid, name=name, context_window=ctx, max_input=inp,
                     max_output=out, cost=_copy_cost(cost), tool_call=bool(tool),
                     reasoning=bool(reasoning), temperature=temp, status=status,
                     registry_provider=rid,
                     inputs=tuple(inputs) if isinstance(inputs, list) else None,
                     structured_output=structured if isinstance(structured, bool) else None,
                     efforts=tuple(efforts) if isinstance(efforts, list) else None)


def lookup(model: str) -> ModelInfo | None:
    """Metadata for ``provider/model-id`` (split once at the first ``/``), or None: not in
    the catalog, a local server, or no catalog (offline and no cache; see :func:`note`)."""
    if _ready():
        hit = _infos.get(model, _MISS)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
    prefix, sep, mid = (model or "").partition("/")
    if not sep or not prefix or not mid or prefix in NO_ENTRY:
        return None
    idx = _index()
    if idx is None:
        return None
    rid = registry_id(prefix)
    rows = idx.models(rid)
    row = rows.get(mid) if rows else None
    info = _info(prefix, rid, mid, row) if isinstance(row, list) and len(row) == _ri.ROW_LEN else None
    _infos[model] = info
    return info


async def alookup(model: str) -> ModelInfo | None:
    """:func:`lookup` for async code: once loaded it answers at once; a first load (which may
    fetch, ≤ 10 s) runs in a worker thread so the event loop keeps going."""
    if _ready():
        return lookup(model)
    import asyncio
    return await asyncio.to_thread(lookup, model)


def providers() -> dict[str, ProviderEntry] | None:
    """Every models.dev provider, by id; None when the catalog is unavailable."""
    idx = _index()
    if idx is None:
        return None
    return {pid: ProviderEntry(pid, str(p.get("name") or pid), str(p.get("npm") or ""),
                               p.get("api"), tuple(p.get("env") or ()), int(p.get("c") or 0))
            for pid, p in idx.providers.items()}


def provider_models(prefix: str, *, deprecated: bool = True) -> list[ModelInfo] | None:
    """The models of one provider (by our prefix), sorted by id; None without a catalog;
    [] when models.dev does not know the provider."""
    if prefix in NO_ENTRY:
        return []
    idx = _index()
    if idx is None:
        return None
    rid = registry_id(prefix)
    rows = idx.models(rid) or {}
    out = [_info(prefix, rid, mid, row) for mid, row in sorted(rows.items())
           if isinstance(row, list) and len(row) == _ri.ROW_LEN]
    return out if deprecated else [m for m in out if m.status != "deprecated"]


def search(query: str | None, *, limit: int | None = None) -> list[ModelInfo]:
    """Models of every provider whose ``provider/model`` id or name contains every word of
    ``query`` (case-insensitive), sorted by provider then model. [] without a catalog."""
    idx = _index()
    if idx is None:
        return []
    words = (query or "").lower().split()
    out: list[ModelInfo] = []
    for rid in sorted(idx.providers):
        prefix = prefix_for(rid)
        for mid, row in sorted((idx.models(rid) or {}).items()):
            if not (isinstance(row, list) and len(row) == _ri.ROW_LEN):
                continue
            hay = f"{rid}/{mid}\n{prefix}/{mid}\n{row[0]}".lower()
            if all(w in hay for w in words):
                out.append(_info(prefix, rid, mid, row))
                if limit is not None and len(out) >= limit:
                    return out
    return out


# -- routing -----------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def normalize_base(url: str) -> str:
    """A base URL without trailing ``/`` nor a full ``/chat/completions`` endpoint."""
    url = url.strip().rstrip("/")
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")].rstrip("/")
    return url


def preset_for(entry: ProviderEntry, environ: Mapping[str, str] | None = None) -> Preset:
    """A Preset for a models.dev provider; ConfigError when it is not usable."""
    env = os.environ if environ is None else environ
    pid = entry.id
    if not entry.openai_compatible:
        if entry.npm == "@ai-sdk/anthropic":
            why = "speaks the Anthropic Messages API, not OpenAI chat completions"
        elif not entry.api:
            why = f"has no OpenAI-compatible base URL there (its SDK is {entry.npm})"
        else:
            why = f"is not marked OpenAI-compatible (its SDK is {entry.npm})"
        ours = f"; use the built-in {prefix_for(pid)}/... instead" if pid in REVERSE else ""
        raise ConfigError(
            f"provider {pid!r}: models.dev lists it, but it {why}{ours}. If it has an "
            f"OpenAI-compatible endpoint, add [providers.{pid}] with base_url (and "
            f"api_key_env) to config.toml")
    missing = [v for v in _PLACEHOLDER.findall(entry.api or "") if not env.get(v)]
    if missing:
        need = ", ".join(f"${v}" for v in dict.fromkeys(missing))
        raise ConfigError(
            f"provider {pid!r}: its base URL {entry.api} needs {need}: export "
            f"{missing[0]}=..., or add [providers.{pid}] base_url = \"...\" to config.toml")
    url = normalize_base(_PLACEHOLDER.sub(lambda m: env[m.group(1)], entry.api or ""))
    if not re.match(r"https?://[^/\s]+", url):
        raise ConfigError(f"provider {pid!r}: models.dev gives an unusable base URL {url!r}; "
                          f"add [providers.{pid}] base_url = \"...\" to config.toml")
    return Preset(url, entry.key_env)


def provider_preset(name: str) -> Preset | None:
    """The hook ``providers.route()`` calls for a prefix that is neither a preset nor in
    config.toml. A Preset for an OpenAI-compatible models.dev provider; None when models.dev
    does not know ``name`` (or is unavailable); ConfigError when it knows it but it cannot be
    used (another API, or a ``${VAR}`` of its URL is unset)."""
    if name in NO_ENTRY or name in PRESETS:
        return None
    idx = _index()
    p = idx.providers.get(name) if idx is not None else None
    if p is None:
        return None
    entry = ProviderEntry(name, str(p.get("name") or name), str(p.get("npm") or ""),
                          p.get("api"), tuple(p.get("env") or ()), int(p.get("c") or 0))
    return preset_for(entry)


def unknown_provider_hint(name: str) -> str:
    """A sentence to add to "unknown provider" errors: close models.dev ids, or why the
    catalog could not be consulted."""
    import difflib
    idx = _index()
    if idx is None:
        n = (note() or "").removeprefix("model metadata unavailable: ").split(" (")[0]
        return f" (models.dev provider ids could not be checked: {n})" if n else ""
    ids = [pid for pid, p in idx.providers.items()
           if p.get("npm") == OPENAI_COMPATIBLE_NPM and p.get("api")]
    close = difflib.get_close_matches(name, ids + list(PRESETS), 3, 0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return (f"; any OpenAI-compatible models.dev provider id works too (`loomex models QUERY` "
            f"searches them).{hint}")
