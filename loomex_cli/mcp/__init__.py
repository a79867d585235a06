"""MCP (Model Context Protocol) client: every MCP server's tools as loomex tools.

Nothing here is imported until a run selects an MCP tool (``--tools NAME__*``, ``mcp``), a
``loomex mcp`` command runs, or a library user calls :func:`mcp_tools`. The modules:
``jsonrpc`` (framing, ids, cancellation, progress), ``stdio`` / ``http`` / ``sse_legacy``
(transports), ``session`` (the protocol), ``config`` / ``project`` (settings, ``.mcp.json``
trust), ``tools`` / ``results`` (the loomex side), ``manager`` (lifecycle), ``registry``
(selection), ``elicit`` (the server's questions).
"""

from __future__ import annotations

from typing import Any


def mcp_tools(*selection: str, manager: Any = None) -> list[Any]:
    """See :func:`loomex_cli.mcp.registry.mcp_tools`."""
    from .registry import mcp_tools as select
    return select(*selection, manager=manager)


__all__ = ["mcp_tools"]
