"""Routing ``provider/model-name`` to a base URL, a key and request options.

The model string is split at the first ``/``; the rest is the provider's own model id (it
may contain more slashes). Built-in presets cover the common hosted and local servers; a
``[providers.NAME]`` table in config.toml adds or overrides one.

Base URL precedence: ``$LOOMEX_<PROVIDER>_BASE_URL`` > ``base_url`` in config.toml > preset.
Key precedence: the provider's environment variable > keys.toml > ``api_key`` in
config.toml > ``api_key_cmd`` in config.toml.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError
from .provider_table import LOCAL_PROVIDERS, PRESETS, Preset  # noqa: F401  (re-exported)




@dataclass(slots=True)
class Route:
    """Where a model's requests go: the provider, the URL, the key and the provider's quirks."""
    provider: str
    model: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    extra_body: dict[str, Any] = field(default_factory=dict)
    include_usage: bool = True
    echo_reasoning: bool = True
    #: where the key came from: "env:NAME", "keys.toml", "config.toml", "api_key_cmd",
    #: "argument", or None
    key_source: str | None = None
    #: seconds (None: the default, see wire.client): without a content-bearing event while
    #: streaming, and to connect
    idle_timeout: float | None = None
    connect_timeout: float | None = None
    #: how a reasoning effort is sent (``Preset.effort_style``) and the configured default
    #: (``[models."provider/model"] effort``, else ``[providers.NAME] effort``)
    effort_style: str = "reasoning_effort"
    effort: str | None = None

    @property
    def url(self) -> str:
        """The endpoint; a base URL that already ends in ``/chat/completions`` is used as is."""
        base = self.base_url.rstrip("/")
        return base if base.endswith("/chat/completions") else base + "/chat/completions"


def split_model(model: str) -> tuple[str, str]:
    provider, sep, name = (model or "").partition("/")
    if not sep or not provider or not name:
        raise ConfigError(
            f"model {model!r} is not of the form provider/model-name "
            "(e.g. openrouter/anthropic/claude-sonnet-4)")
    return provider, name


def provider_table(name: str, config: dict[str, Any] | None) -> dict[str, Any]:
    t = ((config or {}).get("providers") or {}).get(name) or {}
    if not isinstance(t, dict):
        raise ConfigError(f"config.toml: [providers.{name}] must be a table")
    return t


def known_providers(config: dict[str, Any] | None = None) -> list[str]:
    names = list(PRESETS)
    for n in ((config or {}).get("providers") or {}):
        if n not in names:
            names.append(n)
    return names


def key_env_for(name: str, config: dict[str, Any] | None = None) -> str | None:
    t = provider_table(name, config)
    if t.get("api_key_env"):
        return str(t["api_key_env"])
    p = PRESETS.get(name)
    if p:
        return p.key_env
    extra = _extra_providers().get(name)
    return extra.key_env if extra else None


def resolve_key(name: str, config: dict[str, Any] | None, keys: dict[str, str] | None,
                env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(key, where it came from) for a provider, by the documented precedence."""
    env = os.environ if env is None else env
    env_name = key_env_for(name, config)
    if env_name and env.get(env_name):
        return env[env_name], f"env:{env_name}"
    if keys and keys.get(name):
        return keys[name], "keys.toml"
    t = provider_table(name, config)
    if t.get("api_key"):
        return str(t["api_key"]), "config.toml"
    cmd = t.get("api_key_cmd")
    if cmd:
        return _run_key_cmd(name, cmd), "api_key_cmd"
    return None, None


def _run_key_cmd(name: str, cmd: Any) -> str:
    try:
        out = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, timeout=30,
                             text=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"[providers.{name}] api_key_cmd failed: {type(e).__name__}") from None
    key = out.stdout.strip()
    if out.returncode != 0 or not key:
        raise ConfigError(
            f"[providers.{name}] api_key_cmd exited {out.returncode} without printing a key")
    return key


#: providers added by other modules (the models.dev registry) at run time
_EXTRA: dict[str, Preset] = {}


def _extra_providers() -> dict[str, Preset]:
    return _EXTRA


def register_provider(name: str, preset: Preset) -> None:
    """Adds a provider known from elsewhere (presets and config.toml still win)."""
    _EXTRA.setdefault(name, preset)


def route(model: str, config: dict[str, Any] | None = None, keys: dict[str, str] | None = None,
          *, base_url: str | None = None, api_key: str | None = None,
          env: Mapping[str, str] | None = None) -> Route:
    """The route for a model string. ``config``/``keys`` default to the files on disk,
    ``env`` to the process environment."""
    env = os.environ if env is None else env
    provider, name = split_model(model)
    if config is None:
        from .config import load_config
        config = load_config()
    t = provider_table(provider, config)
    preset = PRESETS.get(provider) or _EXTRA.get(provider)
    env_url = env.get(_url_env(provider))
    hint = ""
    if preset is None and not t and not (base_url or env_url):
        # neither a preset nor configured: the models.dev catalog (loaded only here)
        from . import registry
        preset = registry.provider_preset(provider)  # ConfigError when known but unusable
        if preset is not None:
            register_provider(provider, preset)
        else:
            hint = registry.unknown_provider_hint(provider)
    url = base_url or env_url or t.get("base_url") or (preset.base_url if preset else None)
    if not url:
        raise ConfigError(
            f"unknown provider {provider!r}: add [providers.{provider}] with base_url to "
            f"config.toml, or use one of: {', '.join(known_providers(config))}{hint}")
    check_base_url(str(url), "the base_url argument" if base_url else
                   f"${_url_env(provider)}" if env_url else
                   f"config.toml [providers.{provider}] base_url" if t.get("base_url") else
                   f"the {provider} preset")
    needs_key = bool(t.get("api_key_env") or t.get("api_key") or t.get("api_key_cmd")) or (
        preset is not None and preset.key_env is not None and not t.get("base_url"))
    source = "argument" if api_key else None
    if api_key is None:
        if keys is None:
            from .config import load_keys
            keys = load_keys()
        api_key, source = resolve_key(provider, config, keys, env)
    if needs_key and not api_key:
        env_name = key_env_for(provider, config)
        how = f"export {env_name}=..., or " if env_name else ""
        raise ConfigError(f"no API key for {provider}: {how}run `loomex keys set {provider}`")
    headers = {str(k): str(v) for k, v in (t.get("headers") or {}).items()}
    extra = dict(t.get("extra_body") or {})
    return Route(
        provider=provider, model=name, base_url=str(url), api_key=api_key, headers=headers,
        extra_body=extra,
        include_usage=bool(t.get("include_usage", preset.include_usage if preset else True)),
        echo_reasoning=bool(t.get("echo_reasoning", preset.echo_reasoning if preset else True)),
        key_source=source,
        idle_timeout=_seconds(t, config, "idle_timeout"),
        connect_timeout=_seconds(t, config, "connect_timeout"),
        effort_style=str(t.get("effort_style") or
                         (preset.effort_style if preset else "reasoning_effort")),
        effort=_model_setting(config, model, "effort") or t.get("effort"),
    )


def _model_setting(config: dict[str, Any], model: str, key: str) -> Any:
    """``key`` of ``[models."provider/model"]`` in config.toml (None when not set)."""
    table = (config.get("models") or {}).get(model)
    return table.get(key) if isinstance(table, dict) else None


def _url_env(provider: str) -> str:
    return f"LOOMEX_{provider.upper().replace('-', '_')}_BASE_URL"


def _seconds(table: dict[str, Any], config: dict[str, Any], key: str) -> float | None:
    """``key`` of the provider's table, else the top-level one (types checked on load)."""
    value = table.get(key, config.get(key))
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


#: URLs check_base_url passed (it is a pure function of the URL; every run checks its route)
_good_urls: set[str] = set()


def check_base_url(url: str, where: str) -> None:
    """A ConfigError (exit 3, never retried) for a URL that cannot be an OpenAI-compatible
    endpoint: a scheme other than http/https, no host, a port outside 1-65535."""
    if url in _good_urls:
        return
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(url)
        port = parts.port
        shown = url.replace(f":{parts.password}@", ":***@") if parts.password else url
    except ValueError as e:
        why = "a port outside 1-65535" if "port" in str(e).lower() else f"an error ({e})"
        raise ConfigError(f"{where}: {url!r} is not a valid URL: {why}") from None
    if "://" not in url or parts.scheme.lower() not in ("http", "https"):
        got = f"the scheme {parts.scheme}://" if "://" in url else "no scheme"
        raise ConfigError(f"{where}: {shown!r} has {got}; use an http:// or https:// URL")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigError(f"{where}: {url!r} contains a space or a control character")
    if not parts.hostname:
        raise ConfigError(f"{where}: {shown!r} has no valid host")
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"{where}: {shown!r} has port {port}, outside 1-65535")
    if len(_good_urls) < 1000:
        _good_urls.add(url)
