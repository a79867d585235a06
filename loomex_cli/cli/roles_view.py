"""``/role``: the roles of config.toml, and what the one in use set."""

from __future__ import annotations

from typing import Any

#: characters of a role's system prompt shown in the list
PREVIEW = 60


def role_lines(setup: Any, listing: bool) -> list[str]:
    """``listing``: every ``[roles.NAME]`` (the one in use marked ``*``); else what the role
    in use set, and the model, tools and temperature now in use."""
    from .sanitize import clean
    from .setup import roles
    found = roles(setup.config)
    if listing:
        if not found:
            return ["no roles: add [roles.NAME] to config.toml (system, model, tools, "
                    "temperature), then /role NAME"]
        out = ["roles (config.toml [roles.NAME]); /role NAME uses one:"]
        for name, role in sorted(found.items()):
            mark = "*" if name == setup.role_name else " "
            out.append(f"{mark} {clean(name)}: {clean(summary(role))}")
        return out
    role = found.get(setup.role_name or "", {})
    tools = ", ".join(t.name for t in setup.tools) or "none"
    temp = setup.temperature if setup.temperature is not None else \
        setup.config.get("temperature", 0.1)
    return [f"role {clean(setup.role_name or '')}: {clean(summary(role))}",
            f"now: model {setup.model} · tools {tools} · temperature {temp}"]


def summary(role: dict[str, Any]) -> str:
    """``model X · tools a,b · temperature 0.2 · system "first words…"``."""
    parts = []
    if "model" in role:
        parts.append(f"model {role['model']}")
    if "tools" in role:
        t = role["tools"]
        parts.append(f"tools {t if isinstance(t, str) else ','.join(t)}")
    if "temperature" in role:
        parts.append(f"temperature {role['temperature']}")
    if "system" in role:
        text = " ".join(str(role["system"]).split())
        parts.append(f'system "{text[:PREVIEW]}{"…" if len(text) > PREVIEW else ""}"')
    return " · ".join(parts) or "(sets nothing)"
