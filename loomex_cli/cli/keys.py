"""``loomex keys set|list|remove`` and ``loomex config show``."""

from __future__ import annotations

import sys

from ..wire.config import (config_path, keys_path, load_config, load_keys, mask, read_toml,
                           take_warnings, update_keys)
from ..errors import ConfigError
from ..wire.providers import key_env_for, known_providers, resolve_key
from .exits import USAGE, fail, say
from .stdin import stdin_kind


def set_key(provider: str) -> None:
    provider = provider.strip()
    if not provider or "/" in provider:
        fail("give a provider name such as openrouter (not a model)", USAGE)
    if stdin_kind() == "tty":
        import getpass
        try:
            key = getpass.getpass(f"API key for {provider} (input is hidden): ")
        except EOFError:
            key = ""
    else:
        key = sys.stdin.readline() if stdin_kind() != "null" else ""
    key = key.strip()
    if not key:
        fail("no key given; nothing was stored", USAGE)
    path = update_keys(lambda keys: keys.__setitem__(provider, key))
    note = ""
    try:
        config = load_config()
    except ConfigError:  # a broken config.toml does not stop a key from being stored
        config = {}
    if provider not in known_providers(config):
        note = f" (note: {provider!r} is not a built-in provider; add [providers.{provider}] with a base_url to config.toml)"
    env = key_env_for(provider, config)
    import os
    if env and os.environ.get(env):
        note += f" (note: ${env} is set and takes precedence)"
    print(f"stored the key for {provider} in {path}{note}")


def remove_key(provider: str) -> None:
    def remove(keys: dict[str, str]) -> None:
        if provider not in keys:
            fail(f"no stored key for {provider!r} in {keys_path()}", USAGE)
        del keys[provider]
    update_keys(remove)
    print(f"removed the key for {provider}")


def list_keys() -> None:
    config = load_config()
    keys = load_keys()
    for warning in take_warnings():
        say(warning)
    names = known_providers(config) + [k for k in keys if k not in known_providers(config)]
    rows = []
    for name in names:
        env = key_env_for(name, config)
        try:
            key, source = resolve_key(name, config, keys)
        except Exception as e:  # an api_key_cmd that fails
            key, source = None, f"error: {e}"
        if key or name in keys:
            rows.append((name, mask(key) if key else "", source or ""))
        elif env:
            rows.append((name, "-", f"(not set: ${env})"))
    width = max(len(r[0]) for r in rows) if rows else 8
    for name, masked, source in rows:
        print(f"{name:<{width}}  {masked:<12}  {source}")


def show_config() -> None:
    path = config_path()
    print(f"# {path}" + ("" if path.exists() else " (does not exist)"))
    data = read_toml(path)
    _print_masked(data)
    kp = keys_path()
    if kp.exists():
        print(f"\n# {kp}")
        _print_masked(read_toml(kp), all_secret=True)
    from .context_view import config_show_lines
    print("\n" + "\n".join(config_show_lines(data)))


#: a setting or header whose name has one of these holds a secret (Authorization, x-api-key,
#: X-Auth-Token, api_key, client_secret, ...)
SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "auth", "cookie", "credential")
#: values that are credentials whatever their name says
SECRET_PREFIXES = ("bearer ", "basic ", "sk-", "sk_")


def looks_secret(name: str, value: str) -> bool:
    n = name.lower()
    if n.endswith(("_env", "_cmd")):  # the name of a variable, a command: not the secret
        return value.lower().startswith(SECRET_PREFIXES)
    return any(w in n for w in SECRET_WORDS) or value.lower().startswith(SECRET_PREFIXES)


def _print_masked(data: dict, all_secret: bool = False) -> None:
    import tomli_w

    def walk(d: dict) -> dict:
        out: dict = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out[k] = walk(v)
            elif isinstance(v, str) and (all_secret or looks_secret(str(k), v)):
                out[k] = mask(v)
            else:
                out[k] = v
        return out
    text = tomli_w.dumps(walk(data))
    print(text.rstrip() if text.strip() else "# (empty)")
