"""``loomex mcp list | tools SERVER | call SERVER TOOL [JSON]``: MCP servers by hand.

SERVER is a configured name, an ``http(s)://`` URL, or a command given after ``--``::

    loomex mcp tools github
    loomex mcp call https://example.com/mcp search '{"q": "x"}'
    loomex mcp call echo '{"message": "hi"}' -- npx -y @modelcontextprotocol/server-everything
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .exits import CONFIG, INTERNAL, OK, USAGE, fail


def _manager_for(server: str | None, command: list[str], mcp_config: list[str]) -> tuple[Any, str]:
    """(a manager, the server's name in it)."""
    from ..mcp import registry
    from ..mcp.config import McpSettings, ServerConfig, server_prefix
    from ..mcp.manager import Manager
    for f in mcp_config:
        registry.add_config_file(f)
    if command:
        cfg = ServerConfig(server_prefix(_base(command[0])), command=command[0],
                           args=command[1:], source="the command line")
    elif server and server.lower().startswith(("http://", "https://")):
        from urllib.parse import urlsplit
        cfg = ServerConfig(server_prefix(urlsplit(server).hostname or "http"), url=server,
                           transport="http", source="the command line")
    elif server:
        m = registry.get_manager()
        if server not in m.servers:
            fail(registry._unknown_server(server, m), USAGE)
        return m, server
    else:
        fail("name a server: a configured name, an http(s):// URL, or a command after --",
             USAGE)
    return Manager(McpSettings(servers={cfg.name: cfg})), cfg.name


def _base(cmd: str) -> str:
    import os
    return os.path.splitext(os.path.basename(cmd))[0] or "server"


def _split(args: list[str], command: list[str]) -> tuple[str | None, list[str]]:
    """(SERVER, the rest): with a command after ``--`` there is no SERVER positional."""
    if command:
        return None, args
    if not args:
        fail("name a server: a configured name, an http(s):// URL, or a command after --",
             USAGE)
    return args[0], args[1:]


def list_servers(mcp_config: list[str], as_json: bool) -> int:
    from ..mcp import registry
    from ..mcp.config import masked
    for f in mcp_config:
        registry.add_config_file(f)
    m = registry.get_manager()
    names = [n for n, s in m.servers.items() if s.cfg.enabled]
    m.run(m.start_all(names)) if names else None
    rows = []
    for n, s in m.servers.items():
        rows.append({"name": n, "state": s.state, "tools": len(s.tools) if s.state == "ready"
                     else None, "transport": "stdio" if s.cfg.command else s.cfg.transport,
                     "server": s.cfg.shown(), "env": masked(s.cfg.env),
                     "headers": masked(s.cfg.headers), "source": s.cfg.source,
                     "error": s.error})
    m.shutdown()
    if as_json:
        _show(json.dumps(rows, indent=1))
        return OK
    if not rows:
        _show("no MCP servers configured (add [mcp.servers.NAME] to config.toml, or pass "
              "--mcp-config FILE)")
        return OK
    for r in rows:
        count = f"{r['tools']} tools" if r["tools"] is not None else r["state"]
        extra = "".join(f" {k}=****" for k in {**r["env"], **r["headers"]})
        _show(f"{r['name']:<20} {count:<12} {r['transport']:<6} {r['server']}{extra}")
        if r["error"] and r["state"] != "ready":
            _show(f"{'':<20} {r['error']}")
    return OK


def list_tools(args: list[str], command: list[str], mcp_config: list[str],
               as_json: bool) -> int:
    from ..mcp.tools import exposed_names
    server, rest = _split(args, command)
    if rest:
        fail(f"unexpected argument {rest[0]!r}", USAGE)
    m, name = _manager_for(server, command, mcp_config)
    try:
        tools = m.run(m.servers[name].list_tools())
    except Exception as e:  # noqa: BLE001
        m.shutdown()
        fail(str(e), CONFIG)
    m.shutdown()
    if as_json:
        _show(json.dumps(tools, indent=1, ensure_ascii=False))
        return OK
    for exposed, spec in exposed_names(name, tools).items():
        ann = spec.get("annotations") or {}
        hint = " [read-only]" if ann.get("readOnlyHint") else ""
        desc = " ".join(str(spec.get("description") or "").split())
        _show(f"{exposed}{hint}\n    {desc[:200]}")
    return OK


def call_tool(args: list[str], command: list[str], mcp_config: list[str],
              as_json: bool) -> int:
    server, rest = _split(args, command)
    if not rest:
        fail("name the tool to call", USAGE)
    if len(rest) > 2:
        fail(f"unexpected argument {rest[2]!r} (quote the JSON arguments)", USAGE)
    tool = rest[0]
    raw = rest[1] if len(rest) > 1 else "{}"
    if raw == "-":
        raw = sys.stdin.read()
    try:
        arguments = json.loads(raw)
    except ValueError as e:
        fail(f"the arguments are not valid JSON: {e}", USAGE)
    if not isinstance(arguments, dict):
        fail("the arguments must be a JSON object", USAGE)
    m, name = _manager_for(server, command, mcp_config)
    srv = m.servers[name]
    prefix = f"{name}__"
    tool = tool[len(prefix):] if tool.startswith(prefix) else tool
    from ..mcp.manager import Person
    from ..mcp.results import result_text
    try:
        person = Person(_human(), None, _cwd())
        result = m.run(_call(srv, tool, arguments, person))
    except KeyboardInterrupt:
        m.shutdown()
        raise
    except ValueError as e:
        m.shutdown()
        fail(str(e), USAGE)
    except Exception as e:  # noqa: BLE001 - one line
        m.shutdown()
        fail(str(e), CONFIG if "start" in str(e) else INTERNAL)
    m.shutdown()
    if as_json:
        _show(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        _show(result_text(result))
    return INTERNAL if result.get("isError") else OK


async def _call(srv: Any, tool: str, arguments: dict[str, Any], person: Any) -> Any:
    import asyncio
    person.loop = asyncio.get_running_loop()  # questions are asked from the servers' loop
    tools = await srv.list_tools()
    names = [t["name"] for t in tools]
    if tool not in names:
        import difflib
        near = difflib.get_close_matches(tool, names, 3, 0.5)
        raise ValueError(f"server {srv.cfg.name!r} has no tool {tool!r}" +
                         (f"; did you mean {', '.join(near)}?" if near else
                          f"; it has: {', '.join(names[:15])}"))
    return await srv.call(tool, arguments, person)


def _cwd() -> str:
    import os
    return os.getcwd()


def _human() -> Any:
    from .ask import make_askers, tty_available
    if not tty_available():
        return None
    import contextlib
    return make_askers(contextlib.nullcontext)[1]


def split_dashdash(ctx: Any) -> tuple[list[str], list[str]]:
    """(the arguments, the command after ``--``): click drops the ``--`` itself, so it is
    found again in the command line that was parsed."""
    extra = list(ctx.args)
    argv = list(ctx.meta.get("loomex.argv") or sys.argv[1:])
    if "--" in argv:
        after = argv[argv.index("--") + 1:]
        if after and extra[-len(after):] == after:
            return extra[:-len(after)], after
    return extra, []


def status_lines() -> list[str]:
    """The REPL's ``/mcp``: every server with its state, and the tools of those running
    (nothing is started by looking)."""
    from ..mcp import registry
    from ..mcp.tools import exposed_names
    m = registry.get_manager()
    if not m.servers:
        return ["no MCP servers configured ([mcp.servers.NAME] in config.toml)"]
    lines = []
    for name, s in m.servers.items():
        state = f"{len(s.tools)} tools" if s.state == "ready" else s.state
        lines.append(f"  {name:<20} {state:<12} {s.cfg.shown()}")
        if s.state == "ready":
            lines.append("    " + ", ".join(exposed_names(name, s.tools)))
        elif s.error:
            lines.append(f"    {s.error}")
    from .sanitize import clean
    return [clean(line) for line in lines]  # for the REPL's terminal


def _show(text: str) -> None:
    """A line for the person: what a server wrote (names, descriptions, results, errors) is
    cleaned of escape sequences when it goes to a terminal; a pipe gets it as it is."""
    import sys
    from .sanitize import clean
    print(clean(text) if sys.stdout.isatty() else text)
