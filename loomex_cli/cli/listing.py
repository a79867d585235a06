"""``loomex models`` and ``loomex tools``."""

from __future__ import annotations

import json as jsonlib
import os

from ..wire.config import load_config, load_keys
from ..wire.providers import PRESETS, key_env_for, known_providers, provider_table
from .choose_model import DEFAULT_MODELS


def _configured(name: str, config: dict, keys: dict) -> bool:
    env = key_env_for(name, config)
    preset = PRESETS.get(name)
    return bool((env and os.environ.get(env)) or keys.get(name) or provider_table(name, config)
                or (preset is not None and preset.key_env is None))


def list_models(query: str | None, as_json: bool) -> None:
    config = load_config()
    keys = load_keys()
    rows = []
    for name in known_providers(config):
        if not _configured(name, config, keys):
            continue
        t = provider_table(name, config)
        models = list(t.get("models") or [])
        if name in DEFAULT_MODELS and DEFAULT_MODELS[name] not in models:
            models.insert(0, DEFAULT_MODELS[name])
        for m in models:
            full = f"{name}/{m}"
            if not query or query.lower() in full.lower():
                rows.append({"model": full, "provider": name})
    if as_json:
        print(jsonlib.dumps(rows, indent=2))
        return
    if not rows:
        print("no models: no provider is configured (export a key such as OPENROUTER_API_KEY, "
              "or run `loomex keys set PROVIDER`)")
        return
    for r in rows:
        print(r["model"])


def list_tools() -> None:
    from ..tools import BUILTINS
    width = max(len(n) for n in BUILTINS)
    for name, cls in BUILTINS.items():
        tool = cls()
        risk = "asks first" if tool.risk != "read" else "read-only"
        summary = getattr(tool, "summary", "") or tool.description.split(".")[0]
        print(f"{name:<{width}}  {risk:<10}  {summary}")
