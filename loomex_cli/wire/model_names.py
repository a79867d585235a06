"""Model names a person types, made into ``provider/model-id``: aliases and short names.

    [aliases]                                   # config.toml
    fast = "groq/llama-3.3-70b-versatile"

- An alias (a key of ``[aliases]``) is replaced by its value; the value may itself be a short
  name, not another alias.
- A short name (no ``/``, e.g. ``gpt-4.1-mini``) is looked up among the configured providers
  (:func:`configured_providers`: a key set, a keyless preset such as a local server, or a
  ``[providers.NAME]`` table): a provider serves it when its ``models = [...]`` in config.toml
  lists it, when models.dev lists it for that provider, or when it is the provider's default
  model. Exactly one: that provider. More than one: a ConfigError (exit 3) listing them.
  None: a ConfigError saying so, with where models.dev has it when it does.
- Anything else (``provider/model``) is left as it is.

:func:`loomex_cli.wire.resolve.resolve_model` calls :func:`expand` first, so the one-shot,
the REPL's ``/model``, ``serve`` and the library all take the same names. A full
``provider/model`` string costs nothing here (one dict lookup).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from .errors import ConfigError
from .provider_table import DEFAULT_MODELS, PRESETS


def aliases(config: dict[str, Any] | None) -> dict[str, str]:
    t = (config or {}).get("aliases") or {}
    return {str(k): str(v) for k, v in t.items()} if isinstance(t, dict) else {}


def expand(model: str, config: dict[str, Any] | None, keys: dict[str, str] | None = None,
           env: Mapping[str, str] | None = None, *, short: bool = True) -> str:
    """``model`` as ``provider/model-id`` (see the module doc). ``short=False``: a name
    without ``/`` is left alone (a caller that gave its own base URL)."""
    target = aliases(config).get(model)
    if target is not None:
        if not target.strip():
            raise ConfigError(f"config.toml [aliases] {model} is empty")
        model = target.strip()
    if "/" in model or not short or not model:
        return model
    matches = serving(model, config, keys, env)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"model {model!r} is served by {len(matches)} configured providers: "
                          f"{', '.join(matches)}; give one of them as provider/model (or add "
                          "an alias in config.toml [aliases])")
    raise ConfigError(f"unknown model {model!r}: no configured provider serves it"
                      f"{_elsewhere(model)}; give it as provider/model-name (`loomex models "
                      f"{model}` searches the catalogue)")


def serving(name: str, config: dict[str, Any] | None, keys: dict[str, str] | None = None,
            env: Mapping[str, str] | None = None) -> list[str]:
    """``provider/name`` for each configured provider that serves the model id ``name``."""
    from . import registry
    out = []
    for p in configured_providers(config, keys, env):
        listed = [str(m) for m in (_table(p, config).get("models") or [])]
        if name in listed or DEFAULT_MODELS.get(p) == name:
            out.append(f"{p}/{name}")
            continue
        if p in PRESETS and PRESETS[p].key_env is None and not _table(p, config):
            continue  # a local server: models.dev does not know what it has
        if registry.lookup(f"{p}/{name}") is not None:
            out.append(f"{p}/{name}")
    return out


def configured_providers(config: dict[str, Any] | None, keys: dict[str, str] | None = None,
                         env: Mapping[str, str] | None = None) -> list[str]:
    """Presets and config.toml providers that are configured (a key set or stored, a
    ``[providers.NAME]`` table, or a preset that needs no key), then the OpenAI-compatible
    models.dev providers whose key is set (those a preset does not already cover)."""
    from . import registry
    from .providers import known_providers
    env = os.environ if env is None else env
    if keys is None:
        from .config import load_keys
        keys = load_keys()
    names = [n for n in known_providers(config) if is_configured(n, config, keys, env)]
    for pid, e in sorted((registry.providers() or {}).items()):
        if pid in names or pid in registry.REVERSE or not e.openai_compatible:
            continue
        var = e.key_env
        if (var and env.get(var)) or keys.get(pid):
            names.append(pid)
    return names


def is_configured(name: str, config: dict[str, Any] | None, keys: dict[str, str],
                  env: Mapping[str, str] | None = None) -> bool:
    from .providers import key_env_for
    env = os.environ if env is None else env
    var = key_env_for(name, config)
    preset = PRESETS.get(name)
    return bool((var and env.get(var)) or keys.get(name) or _table(name, config)
                or (preset is not None and preset.key_env is None))


def _table(name: str, config: dict[str, Any] | None) -> dict[str, Any]:
    from .providers import provider_table
    return provider_table(name, config)


def _elsewhere(name: str) -> str:
    """Where models.dev has the model, for the error (or why it cannot say)."""
    from . import registry
    if not registry.available():
        why = registry.note()
        return f" (the models.dev catalogue is not available{': ' + why if why else ''})"
    found = sorted({i.id for i in registry.search(name) if i.model == name})
    if not found:
        return ""
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return (f" (models.dev has it at {', '.join(found[:5])}{more}: set that provider's key, "
            "or use one of those)")
