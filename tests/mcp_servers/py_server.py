"""A test MCP server written with the official Python SDK (``mcp``, a test-only dependency).

    python py_server.py stdio
    python py_server.py streamable-http PORT
    python py_server.py sse PORT
"""

import asyncio
import os
import sys

from pydantic import BaseModel, Field

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("loomex-test-py")

if os.environ.get("LOOMEX_TEST_PIDFILE"):  # the lifecycle tests watch this process
    with open(os.environ["LOOMEX_TEST_PIDFILE"], "a") as f:
        f.write(f"{os.getpid()}\n")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool()
def secret_env(name: str) -> str:
    """The value of an environment variable of the server (or <unset>)."""
    return os.environ.get(name, "<unset>")


@server.tool(annotations=ToolAnnotations(destructiveHint=True))
def write_note(path: str, text: str) -> str:
    """Writes text to a file (a destructive tool, for approval tests)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return f"wrote {len(text)} characters to {path}"


@server.tool()
def fail(message: str) -> str:
    """Always fails with the message."""
    raise ValueError(message)


@server.tool()
def big(lines: int) -> str:
    """Returns that many numbered lines."""
    return "\n".join(f"line {i}" for i in range(1, lines + 1))


@server.tool()
async def slow(seconds: float, ctx: Context, note: str = "") -> str:
    """Sleeps, reporting progress (each message ends with ``note``); writes a marker file
    when cancelled."""
    marker = os.environ.get("LOOMEX_TEST_MARKER")
    try:
        steps = max(1, int(seconds * 10))
        for i in range(steps):
            await ctx.report_progress(i, steps, f"step {i}{note}")
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        if marker:
            with open(marker, "w") as f:
                f.write("cancelled")
        raise
    return "done"


@server.tool()
def crash() -> str:
    """Exits the server process at once."""
    os._exit(3)


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


class Details(BaseModel):
    name: str = Field(description="your name")
    age: int = Field(default=42, description="your age")
    color: str = Field(default="blue", description="a colour")


@server.tool()
async def ask(ctx: Context) -> str:
    """Asks the user for details (elicitation)."""
    r = await ctx.elicit("Tell me about you", Details)
    if r.action == "accept":
        return f"accepted: {r.data.model_dump_json()}"
    return r.action


@server.tool()
async def roots(ctx: Context) -> str:
    """The client's roots."""
    result = await ctx.session.list_roots()
    return ", ".join(str(r.uri) for r in result.roots)


@server.tool()
async def grow(ctx: Context) -> str:
    """Adds a tool named extra and tells the client its tool list changed."""
    def extra() -> str:
        """A tool that appeared later."""
        return "extra"
    server.add_tool(extra)
    await ctx.session.send_tool_list_changed()
    return "grown"


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if kind == "stdio":
        server.run("stdio")
    else:
        server.run(kind, host="127.0.0.1", port=int(sys.argv[2]))
