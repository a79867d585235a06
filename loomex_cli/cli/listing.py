"""``loomex models`` and ``loomex tools``."""

from __future__ import annotations

import json as jsonlib
import sys
from typing import Any

from ..wire.config import load_config, load_keys
from ..wire.providers import PRESETS, known_providers, provider_table
from .choose_model import DEFAULT_MODELS

WIDTH = 100
UNAVAILABLE = "(model metadata unavailable: offline and no cache)"


def _configured(name: str, config: dict, keys: dict) -> bool:
    from ..wire.model_names import is_configured
    return is_configured(name, config, keys)


def _configured_providers(config: dict, keys: dict, reg: dict | None) -> list[str]:
    """The configured providers (wire/model_names.py: short names resolve among them)."""
    from ..wire.model_names import configured_providers
    return configured_providers(config, keys)


def _config_models(name: str, config: dict) -> list[str]:
    t = provider_table(name, config)
    return [str(m) for m in (t.get("models") or [])]


def _row(model: str, provider: str, info: Any, configured: bool, routable: bool) -> dict:
    d: dict[str, Any] = {"model": model, "provider": provider, "name": None,
                         "context_window": None, "max_input": None, "max_output": None,
                         "cost": None, "tool_call": None, "reasoning": None,
                         "temperature": None, "status": None}
    if info is not None:
        d.update(name=info.name, context_window=info.context_window, max_input=info.max_input,
                 max_output=info.max_output, cost=info.cost, tool_call=info.tool_call,
                 reasoning=info.reasoning, temperature=info.temperature, status=info.status)
    d["configured"] = configured
    d["routable"] = routable
    return d


def _routable(prefix: str, config: dict, reg: dict | None) -> bool:
    if prefix in PRESETS or provider_table(prefix, config):
        return True
    e = (reg or {}).get(prefix)
    return bool(e and e.openai_compatible)


def _fallback_rows(query: str | None, config: dict, keys: dict) -> list[dict]:
    """What is known without models.dev: DEFAULT_MODELS and ``models = [...]`` in config."""
    rows = []
    for name in known_providers(config):
        if not _configured(name, config, keys):
            continue
        models = _config_models(name, config)
        if name in DEFAULT_MODELS and DEFAULT_MODELS[name] not in models:
            models.insert(0, DEFAULT_MODELS[name])
        for m in models:
            full = f"{name}/{m}"
            if not query or query.lower() in full.lower():
                rows.append(_row(full, name, None, True, True))
    return rows


def collect(query: str | None, config: dict, keys: dict) -> tuple[list[dict], str | None]:
    """(rows, note). No query: the models of the configured providers. A query: every
    models.dev model whose id or name matches, configured or not. The note is set when the
    catalog is unavailable (the rows are then what config and the defaults know)."""
    from ..wire import registry
    reg = registry.providers()
    if reg is None:
        return _fallback_rows(query, config, keys), UNAVAILABLE
    configured = _configured_providers(config, keys, reg)
    conf = set(configured)
    rows: list[dict] = []
    seen: set[str] = set()
    if query:
        for info in registry.search(query):
            if info.id in seen:
                continue
            seen.add(info.id)
            rows.append(_row(info.id, info.provider, info, info.provider in conf,
                             _routable(info.provider, config, reg)))
    else:
        for name in configured:
            for info in registry.provider_models(name, deprecated=False) or []:
                seen.add(info.id)
                rows.append(_row(info.id, name, info, True, True))
    # models listed in config.toml that models.dev does not have (or not under that name)
    words = (query or "").lower().split()
    for name in configured:
        for m in _config_models(name, config):
            full = f"{name}/{m}"
            if full in seen or not all(w in full.lower() for w in words):
                continue
            seen.add(full)
            rows.append(_row(full, name, registry.lookup(full), True, True))
    if query:
        rows.sort(key=lambda r: (not r["configured"], not r["routable"], r["model"].lower()))
    return rows, None


# -- output ------------------------------------------------------------------------------

def _tokens(n: int | None) -> str:
    if not n:
        return "-"
    if n >= 1_000_000:
        return f"{n / 1e6:.3g}M"
    if n >= 1000:
        return f"{n / 1e3:.0f}K"
    return str(n)


def _price(p: Any) -> str:
    if p is None:
        return "-"
    if p == 0:
        return "0"
    return f"{p:.2f}" if p >= 0.1 else f"{p:.3g}"


def _yes(v: Any) -> str:
    return "-" if v is None else ("yes" if v else "no")


_HEAD = ("CONTEXT", "MAX OUT", "$IN/M", "$OUT/M", "TOOLS", "THINK")
_W = (7, 7, 6, 6, 5, 5)


def _line(mark: str, model: str, cells: tuple[str, ...], model_w: int) -> str:
    right = " ".join(f"{c:>{w}}" for c, w in zip(cells, _W))
    if len(model) > model_w:  # long ids stay whole (copyable): the numbers go below them
        return f"{mark} {model}\n{'':<{model_w + 2}} {right}"
    return f"{mark} {model:<{model_w}} {right}"


def render(rows: list[dict], query: str | None, width: int = WIDTH) -> str:
    """A plain-text table no wider than ``width`` (ids longer than their column get a line
    of their own)."""
    model_w = width - 2 - 1 - (sum(_W) + len(_W) - 1)
    out = [_line(" ", "MODEL", _HEAD, model_w)]
    for r in rows:
        cost = r["cost"] or {}
        label = r["model"] + (f" ({r['status']})" if r["status"] else "")
        mark = "*" if r["configured"] else (" " if r["routable"] else "x")
        cells = (_tokens(r["context_window"]), _tokens(r["max_output"]),
                 _price(cost.get("input")), _price(cost.get("output")),
                 _yes(r["tool_call"]), _yes(r["reasoning"]))
        out.append(_line(mark, label, cells, model_w))
    legend = "prices: USD per 1M tokens"
    if query:
        legend = "* configured, x no OpenAI-compatible endpoint known; " + legend
    out.append(f"{len(rows)} model{'s' if len(rows) != 1 else ''}. {legend}")
    return "\n".join(out)


def list_models(query: str | None, as_json: bool) -> None:
    config = load_config()
    keys = load_keys()
    rows, note = collect(query, config, keys)
    if note:
        print(note, file=sys.stderr)
    from ..wire.model_names import aliases
    words = (query or "").lower().split()
    named = {k: v for k, v in aliases(config).items()
             if all(w in f"{k} {v}".lower() for w in words)}
    if as_json:
        for r in rows:
            r["aliases"] = sorted(k for k, v in named.items() if v == r["model"])
        text = jsonlib.dumps(rows, indent=2)
    elif named and not rows:
        text = ""
    elif rows and note:  # no metadata: the ids only, as before the registry
        text = "\n".join(r["model"] for r in rows)
    elif rows:
        text = render(rows, query)
    elif query:
        text = f"no model matches {query!r}"
    else:
        text = ("no models: no provider is configured (export a key such as "
                "OPENROUTER_API_KEY, or run `loomex keys set PROVIDER`)")
    if named and not as_json:  # config.toml [aliases]: -m NAME takes them
        text = "\n".join([*([text] if text else []),
                          *(f"alias {k} = {v}" for k, v in sorted(named.items()))])
    print(text)  # `loomex models | head`: a BrokenPipeError ends it quietly (pipes.py)


def list_tools() -> None:
    from ..tools import BUILTINS
    width = max(len(n) for n in BUILTINS)
    for name, cls in BUILTINS.items():
        tool = cls()
        risk = "asks first" if tool.risk != "read" else "read-only"
        summary = getattr(tool, "summary", "") or tool.description.split(".")[0]
        print(f"{name:<{width}}  {risk:<10}  {summary}")
