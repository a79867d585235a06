"""The client under test for the official MCP conformance suite
(``@modelcontextprotocol/conformance``, pinned in tests/mcp_servers): it runs
``python tests/mcp_conformance_client.py URL`` with ``MCP_CONFORMANCE_SCENARIO`` set, and this
drives loomex's own MCP client (loomex_cli.mcp: the manager, the Streamable HTTP transport,
the elicitation prompt) as ``loomex mcp call`` does, doing what each scenario expects of a
client. The person who answers elicitations presses Enter at every field (take the default).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys


async def main(url: str, scenario: str) -> int:
    from loomex_cli.mcp.config import McpSettings, ServerConfig
    from loomex_cli.mcp.manager import Manager, Person
    cfg = ServerConfig("conformance", url=url, transport="http", source="the test", timeout=20)
    manager = Manager(McpSettings(servers={cfg.name: cfg}))
    server = manager.server(cfg.name)
    try:
        tools = await manager.arun(server.list_tools())
        names = [t["name"] for t in tools]
        print("tools:", ", ".join(names))
        person = Person(lambda question: "", asyncio.get_running_loop(), os.getcwd())
        for spec in tools:
            args = {k: 1 for k in (spec.get("inputSchema") or {}).get("required") or []}
            result = await manager.arun(server.call(spec["name"], args, person))
            print(spec["name"], json.dumps(result, ensure_ascii=False))
        return 0
    finally:
        manager.shutdown()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[-1], os.environ.get("MCP_CONFORMANCE_SCENARIO", ""))))
