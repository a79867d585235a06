"""Which MCP servers exist: ``[mcp.servers.NAME]`` in config.toml, ``--mcp-config FILE`` and a
trusted project ``.mcp.json`` (the de-facto ``mcpServers`` JSON of other clients).

    [mcp]
    tools_default = ["github__*"]     # offered when --tools is not given
    trust_annotations = false         # true: readOnlyHint tools run without asking
    [mcp.servers.github]
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-github"]
    env = { GITHUB_PERSONAL_ACCESS_TOKEN = "${GITHUB_TOKEN}" }
    [mcp.servers.docs]
    url = "https://example.com/mcp"
    headers = { Authorization = "Bearer ${DOCS_TOKEN}" }

``${VAR}`` and ``${VAR:-default}`` are expanded when the server starts (a missing variable
fails that server only). Everything here is checked with one-line errors (ConfigError, exit 3).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

#: seconds a server gets to start and answer initialize, and each request but tool calls
DEFAULT_TIMEOUT = 30.0
_KEYS = {"command", "args", "env", "cwd", "url", "headers", "timeout", "enabled", "type",
         "transport", "sampling", "tool_timeout", "disabled", "description"}


@dataclass
class ServerConfig:
    """One MCP server: a command to start (stdio) or a URL (HTTP)."""
    name: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    #: seconds for one tool call (None: the agent's tool timeout)
    tool_timeout: float | None = None
    enabled: bool = True
    #: "stdio", "http" (Streamable HTTP, falling back to HTTP+SSE) or "sse" (the old one)
    transport: str = "stdio"
    #: answer the server's sampling/createMessage with the run's model
    sampling: bool = False
    #: where it was configured (for listings and errors)
    source: str = "config.toml"

    def shown(self) -> str:
        """The server for a listing: its command or URL, secrets never included."""
        if self.url:
            return safe_url(self.url)
        return " ".join([self.command or "", *self.args]).strip()


@dataclass
class McpSettings:
    """The MCP servers configured for a run, and how their tools are used."""
    servers: dict[str, ServerConfig] = field(default_factory=dict)
    tools_default: list[str] = field(default_factory=list)
    trust_annotations: bool = False
    #: one-line notes for the person (an untrusted .mcp.json that was ignored, ...)
    notes: list[str] = field(default_factory=list)


def safe_url(url: str) -> str:
    """A URL as it may be shown: no user:password, no query (tokens live there)."""
    from urllib.parse import urlsplit, urlunsplit
    try:
        u = urlsplit(url)
        host = u.hostname or ""
        netloc = f"{host}:{u.port}" if u.port else host
        return urlunsplit((u.scheme, netloc, u.path, "", ""))
    except ValueError:
        return "<url>"


def server_prefix(name: str) -> str:
    """The server's name as the first part of ``NAME__tool`` (letters, digits, ``_``, ``-``;
    no ``__`` inside, at most 30 characters)."""
    s = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    s = re.sub(r"_{2,}", "_", s).strip("_") or "server"
    return s[:30]


def parse_server(name: str, raw: Any, where: str) -> ServerConfig:
    """One server's table (TOML or JSON shape) as a ServerConfig; ConfigError when wrong."""
    at = f"{where}: server {name!r}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{at} must be a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"{at}: unknown key {unknown[0]!r} (known: command, args, env, cwd, "
                          "url, headers, timeout, enabled)")
    cfg = ServerConfig(server_prefix(name), source=where)
    command, url = raw.get("command"), raw.get("url")
    if (command is None) == (url is None):
        raise ConfigError(f"{at} needs either command (a program to start) or url")
    if command is not None:
        cfg.command = _str(command, f"{at}: command")
        if not cfg.command.strip():
            raise ConfigError(f"{at}: command is empty")
        args = raw.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
            raise ConfigError(f"{at}: args must be a list of strings")
        cfg.args = [str(a) for a in args]
        if raw.get("cwd") is not None:
            cfg.cwd = _str(raw["cwd"], f"{at}: cwd")
    else:
        cfg.url = _str(url, f"{at}: url")
        if not re.match(r"(?i)^(?:https?://|\$\{)", cfg.url):
            raise ConfigError(f"{at}: url must start with http:// or https://")
        cfg.transport = "http"
    cfg.env = _str_table(raw.get("env"), f"{at}: env")
    cfg.headers = _str_table(raw.get("headers"), f"{at}: headers")
    kind = raw.get("type", raw.get("transport"))
    if kind is not None:
        kinds = {"stdio": "stdio", "http": "http", "streamable-http": "http",
                 "streamablehttp": "http", "sse": "sse"}
        if not isinstance(kind, str) or kind.lower() not in kinds:
            raise ConfigError(f"{at}: type must be stdio, http or sse")
        cfg.transport = kinds[kind.lower()]
        if (cfg.transport == "stdio") != (command is not None):
            raise ConfigError(f"{at}: type {kind!r} does not fit "
                              f"{'command' if command is not None else 'url'}")
    for key in ("timeout", "tool_timeout"):
        if raw.get(key) is not None:
            v = raw[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ConfigError(f"{at}: {key} must be a positive number of seconds")
            setattr(cfg, key, float(v))
    for key in ("enabled", "sampling", "disabled"):
        if raw.get(key) is not None and not isinstance(raw[key], bool):
            raise ConfigError(f"{at}: {key} must be true or false")
    cfg.enabled = bool(raw.get("enabled", True)) and not raw.get("disabled", False)
    cfg.sampling = bool(raw.get("sampling", False))
    return cfg


def _str(v: Any, what: str) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"{what} must be a string")
    return v


def _str_table(v: Any, what: str) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, dict) or not all(isinstance(x, (str, int, float)) and
                                          not isinstance(x, bool) for x in v.values()):
        raise ConfigError(f"{what} must be a table of strings")
    return {str(k): str(x) for k, x in v.items()}


def from_toml(config: dict[str, Any]) -> McpSettings:
    """The ``[mcp]`` table of the parsed config.toml."""
    table = config.get("mcp")
    settings = McpSettings()
    if table is None:
        return settings
    if not isinstance(table, dict):
        raise ConfigError("config.toml: [mcp] must be a table")
    td = table.get("tools_default", [])
    if isinstance(td, str):
        td = [t for t in td.split(",")]
    if not isinstance(td, list) or not all(isinstance(t, str) for t in td):
        raise ConfigError("config.toml: [mcp] tools_default must be a list of tool patterns")
    settings.tools_default = [t.strip() for t in td if t.strip()]
    ta = table.get("trust_annotations", False)
    if not isinstance(ta, bool):
        raise ConfigError("config.toml: [mcp] trust_annotations must be true or false")
    settings.trust_annotations = ta
    servers = table.get("servers", {})
    if not isinstance(servers, dict):
        raise ConfigError("config.toml: [mcp.servers] must be a table of servers")
    for name, raw in servers.items():
        add(settings, parse_server(name, raw, "config.toml"))
    return settings


def read_json_servers(path: str) -> dict[str, ServerConfig]:
    """A ``{"mcpServers": {...}}`` file (also accepted: ``{"servers": {...}}``)."""
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an object with mcpServers")
    servers = data.get("mcpServers", data.get("servers"))
    if not isinstance(servers, dict):
        raise ConfigError(f"{path}: expected an object with mcpServers")
    where = os.path.basename(path)
    return {s.name: s for s in (parse_server(n, raw, where) for n, raw in servers.items())}


def add(settings: McpSettings, cfg: ServerConfig) -> None:
    """Adds (or replaces: later sources win) a server."""
    settings.servers[cfg.name] = cfg


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text: str, env: dict[str, str] | None = None) -> str:
    """``${VAR}`` and ``${VAR:-default}`` from the environment; KeyError names a variable
    that is not set and has no default."""
    source = os.environ if env is None else env

    def one(m: re.Match[str]) -> str:
        value = source.get(m.group(1))
        if value is None or (value == "" and m.group(2) is not None):
            if m.group(2) is None:
                raise KeyError(m.group(1))
            return m.group(2)
        return value
    return _VAR.sub(one, text)


def expanded(cfg: ServerConfig) -> ServerConfig:
    """A copy with every ``${VAR}`` expanded; ConfigError (one line, no values) when a
    variable is missing."""
    from dataclasses import replace
    try:
        return replace(cfg, command=expand(cfg.command) if cfg.command else None,
                       args=[expand(a) for a in cfg.args],
                       env={k: expand(v) for k, v in cfg.env.items()},
                       cwd=os.path.expanduser(expand(cfg.cwd)) if cfg.cwd else None,
                       url=expand(cfg.url) if cfg.url else None,
                       headers={k: expand(v) for k, v in cfg.headers.items()})
    except KeyError as e:
        raise ConfigError(f"MCP server {cfg.name!r}: the environment variable {e.args[0]} is "
                          "not set") from None


def masked(values: dict[str, str]) -> dict[str, str]:
    """Env or headers as they may be shown: the names, never the values."""
    return {k: "****" for k in values}
