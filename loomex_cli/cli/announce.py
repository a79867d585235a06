"""Saying which model and provider a run uses (the dim line, ``-v``, ``--json``'s start)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def endpoint(base_url: str) -> str:
    """The host (and port) of a base URL: never its path, query or any user:password."""
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "?"


def start_event(setup: Any) -> dict[str, Any]:
    """``--json``'s first object: what this run will use, before anything is sent."""
    route = setup.route
    return {"type": "start", "model": setup.model, "provider": route.provider,
            "endpoint": endpoint(route.base_url), "model_source": setup.model_source}


def model_line(setup: Any) -> str:
    """``model openrouter/x · provider openrouter (openrouter.ai) · from --model``."""
    route = setup.route
    return (f"model {setup.model} · provider {route.provider} ({endpoint(route.base_url)})"
            f" · from {setup.model_source}")
