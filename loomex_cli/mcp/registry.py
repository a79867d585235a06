"""The process's MCP servers, and tool selection: ``--tools NAME__*``, ``NAME__tool``, ``mcp``.

    tools = mcp_tools("github")                 # every tool of a configured server
    tools = mcp_tools("github__create_issue")   # one tool; globs work too
    Agent(model=..., tools=[*mcp_tools("mcp")])

The first selection reads the settings (config.toml, a trusted ``.mcp.json``, the
``--mcp-config`` files) and starts the servers it needs, in parallel; sessions then stay
open for the rest of the process.
"""

from __future__ import annotations

import fnmatch
import sys
from typing import Any, Callable

from ..errors import ConfigError
from .config import McpSettings

_extra_files: list[str] = []
_manager: Any = None
#: where one-line notes go (a server that failed, an ignored .mcp.json)
note: Callable[[str], None] = lambda text: (sys.stderr.write(f"loomex: {text}\n"),
                                            sys.stderr.flush()) and None


def add_config_file(path: str) -> None:
    """``--mcp-config FILE``: read (before the first selection) on top of config.toml."""
    global _manager
    if path not in _extra_files:
        _extra_files.append(path)
        _manager = None


def settings(config: dict[str, Any] | None = None) -> McpSettings:
    from ..wire.config import load_config
    from .project import load_settings, tty_asker
    return load_settings(load_config() if config is None else config, _extra_files,
                         ask=tty_asker())


def get_manager() -> Any:
    """The process's manager (created from the settings on first use)."""
    global _manager
    if _manager is None:
        from .manager import Manager
        s = settings()
        for line in s.notes:
            note(line)
        _manager = Manager(s)
    return _manager


def is_mcp_pattern(name: str) -> bool:
    return name == "mcp" or "__" in name


def resolve(patterns: list[str], manager: Any = None) -> list[Any]:
    """McpTool objects for the patterns, starting the servers they name (in parallel).
    ValueError (one line) for an unknown server or tool; ConfigError for a named server
    that is disabled or failed to start."""
    from .tools import McpTool, exposed_names
    m = manager or get_manager()
    wanted: dict[str, list[str]] = {}  # server -> patterns on its exposed names
    everything = False
    for p in patterns:
        if p == "mcp":
            everything = True
            continue
        server = p.split("__", 1)[0]
        if server not in m.servers:
            raise ValueError(_unknown_server(server, m))
        wanted.setdefault(server, []).append(p)
    names = [n for n, s in m.servers.items() if s.cfg.enabled] if everything else list(wanted)
    if everything and not names:
        raise ValueError("--tools mcp: no MCP servers are configured ([mcp.servers.NAME] in "
                         "config.toml, or --mcp-config FILE)")
    for n in wanted:
        if not m.servers[n].cfg.enabled:
            raise ConfigError(f"MCP server {n!r} is disabled (enabled = false in "
                              f"{m.servers[n].cfg.source})")
    errors = m.run(m.start_all(names)) if names else {}
    tools: list[Any] = []
    for n in names:
        if errors.get(n) is not None:
            if n in wanted:
                raise ConfigError(str(errors[n]))
            note(str(errors[n]) + "; its tools are left out")
            continue
        server = m.servers[n]
        exposed = exposed_names(server.cfg.name, server.tools)
        pats = None if everything else wanted[n]
        for p in pats or ():
            if not any(fnmatch.fnmatchcase(e, p) for e in exposed):
                raise ValueError(_unknown_tool(p, exposed))
        for e, spec in exposed.items():
            if pats is None or any(fnmatch.fnmatchcase(e, p) for p in pats):
                tools.append(McpTool(server, spec, e,
                                     trust_annotations=m.settings.trust_annotations))
    return tools


def _unknown_server(name: str, m: Any) -> str:
    known = ", ".join(m.servers) or "none are configured ([mcp.servers.NAME] in config.toml)"
    return f"unknown MCP server {name!r}; known: {known}"


def _unknown_tool(pattern: str, exposed: dict[str, Any]) -> str:
    import difflib
    near = difflib.get_close_matches(pattern, list(exposed), 3, 0.6)
    hint = f" Did you mean {', '.join(near)}?" if near else \
        f" It has: {', '.join(list(exposed)[:12])}{' …' if len(exposed) > 12 else ''}"
    return f"no MCP tool matches {pattern!r}.{hint}"


def mcp_tools(*selection: str, manager: Any = None) -> list[Any]:
    """Tools for ``Agent(tools=[...])``: server names (all their tools), ``NAME__tool``
    names or globs, or ``"mcp"`` for every configured server."""
    pats = [s if is_mcp_pattern(s) else f"{s}__*" for s in selection] or ["mcp"]
    return resolve(pats, manager)


def tools_changed(tools: list[Any]) -> bool:
    """Whether a server behind these tools said its tool list changed since (the REPL then
    selects again before the next turn)."""
    for t in tools:
        session = getattr(getattr(t, "server", None), "session", None)
        changed = getattr(session, "tools_changed", None)
        if changed is not None and changed.is_set():
            return True
    return False
