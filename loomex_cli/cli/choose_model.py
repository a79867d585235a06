"""Which model to use when none is given.

Order: ``--model`` > ``$LOOMEX_MODEL`` > ``default_model`` in config.toml > the first
built-in provider (in the order of DEFAULT_MODELS) whose key variable is set or whose key is
in keys.toml > a local server answering on its default port (ollama, llama.cpp, LM Studio) >
an error saying how to set a key or a model.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..wire.provider_table import DEFAULT_MODELS, LOCAL_PROVIDERS, PRESETS

def choose_model(flag: str | None, config: dict[str, Any], keys: dict[str, str]) -> tuple[str, str]:
    """(model, why) following the documented order; ConfigError when nothing fits."""
    if flag:
        return flag, "--model"
    env = os.environ.get("LOOMEX_MODEL")
    if env:
        return env, "$LOOMEX_MODEL"
    if config.get("default_model"):
        return str(config["default_model"]), "config.toml default_model"
    for provider, model in DEFAULT_MODELS.items():
        var = PRESETS[provider].key_env
        if (var and os.environ.get(var)) or keys.get(provider):
            return f"{provider}/{model}", f"${var}" if var and os.environ.get(var) else "keys.toml"
    local = probe_local()
    if local:
        return local, "a local server"
    raise ConfigError(
        "no model: export a provider key (e.g. OPENROUTER_API_KEY=...), run "
        "`loomex keys set openrouter`, pass -m provider/model, or set default_model in "
        "config.toml (see `loomex config path`)")


def probe_local(timeout: float = 0.25) -> str | None:
    """The first model of a local server that answers on its default port, if any
    (``LOOMEX_LOCAL_PROBE=0`` turns the probe off)."""
    if os.environ.get("LOOMEX_LOCAL_PROBE") == "0":
        return None
    for name in LOCAL_PROVIDERS:
        base = PRESETS[name].base_url
        parts = urlsplit(base)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError:
            continue
        model = _first_model(host, port, parts.path.rstrip("/") + "/models")
        if model:
            return f"{name}/{model}"
    return None


def _first_model(host: str, port: int, path: str) -> str | None:
    import http.client
    try:
        conn = http.client.HTTPConnection(host, port, timeout=1.5)
        conn.request("GET", path)
        resp = conn.getresponse()
        data = json.loads(resp.read(1 << 20)) if resp.status == 200 else None
        conn.close()
    except (OSError, ValueError, http.client.HTTPException):
        return None
    items = (data or {}).get("data") if isinstance(data, dict) else None
    if isinstance(items, list) and items and isinstance(items[0], dict) and items[0].get("id"):
        return str(items[0]["id"])
    return None
