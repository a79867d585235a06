"""One MCP client session over a transport: initialize (version negotiation), ping, the
paginated tool list (refreshed on ``notifications/tools/list_changed``), tool calls with
progress and cancellation, and the server's own requests (elicitation, roots, sampling),
which go to :class:`ServerRequests`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from .._version import __version__
from .jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, Closed, Peer, RpcError

#: newest first: what loomex asks for, and what it accepts back
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
#: most pages of tools/list read from one server (a server that never ends its cursor)
MAX_PAGES = 100


class ProtocolError(Exception):
    """The server does not speak MCP as loomex does (one line, for the person)."""


class ServerRequests:
    """Answers what a server asks of the client. The defaults decline politely; the
    manager puts in the person (elicitation), the working directory (roots) and the
    user's sampling choice."""

    sampling = False

    async def elicit(self, server: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "decline"}

    def roots(self) -> list[dict[str, Any]]:
        return []

    async def sample(self, server: str, params: dict[str, Any]) -> dict[str, Any]:
        raise RpcError(-1, "sampling is not allowed for this server (the user declined)")


class Session:
    def __init__(self, transport: Any, name: str = "server", *,
                 requests: ServerRequests | None = None,
                 on_log: Callable[[str], None] | None = None) -> None:
        self.transport = transport
        self.name = name
        self.requests = requests or ServerRequests()
        self.on_log = on_log
        self.peer = Peer(transport.send, on_request=self._on_request, on_notify=self._on_notify)
        self.protocol_version: str | None = None
        self.server_info: dict[str, Any] = {}
        self.capabilities: dict[str, Any] = {}
        self.instructions: str | None = None
        self._tools: list[dict[str, Any]] | None = None
        #: set whenever the server says its tools changed (the list is read again lazily)
        self.tools_changed = asyncio.Event()
        self.closed_reason: str | None = None
        self.on_closed: Callable[[str], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------
    async def open(self, timeout: float | None = None) -> "Session":
        await self.transport.start(self.peer.feed, self._lost)
        caps: dict[str, Any] = {"roots": {"listChanged": False},
                                "elicitation": {"form": {}}}
        if self.requests.sampling:
            caps["sampling"] = {}
        try:
            result = await self.peer.request("initialize", {
                "protocolVersion": PROTOCOL_VERSIONS[0], "capabilities": caps,
                "clientInfo": {"name": "loomex", "version": __version__}}, timeout=timeout)
        except TimeoutError:
            raise TimeoutError(f"no answer to initialize within {timeout:g} s") from None
        if not isinstance(result, dict):
            raise ProtocolError("the server's initialize result is not an object")
        version = result.get("protocolVersion")
        if version not in PROTOCOL_VERSIONS:
            raise ProtocolError(f"the server speaks MCP {version!r}; loomex speaks "
                                f"{', '.join(PROTOCOL_VERSIONS)}")
        self.protocol_version = version
        if hasattr(self.transport, "protocol_version"):
            self.transport.protocol_version = version  # the HTTP header from now on
        self.server_info = result.get("serverInfo") or {}
        self.capabilities = result.get("capabilities") or {}
        self.instructions = result.get("instructions")
        await self.peer.notify("notifications/initialized")
        return self

    def _lost(self, why: str) -> None:
        self.closed_reason = why
        self.peer.close(Closed(why))
        if self.on_closed is not None:
            self.on_closed(why)

    async def close(self) -> None:
        if self.closed_reason is None:
            self.closed_reason = "closed"
        self.peer.close(Closed("the session was closed"))
        await self.transport.close()

    @property
    def alive(self) -> bool:
        return self.closed_reason is None and self.peer.closed is None

    # -- requests ------------------------------------------------------------------------
    async def ping(self, timeout: float | None = 10) -> None:
        await self.peer.request("ping", timeout=timeout)

    async def list_tools(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        """Every tool (all pages), cached until the server says the list changed."""
        if self._tools is not None and not refresh and not self.tools_changed.is_set():
            return self._tools
        self.tools_changed.clear()
        if "tools" not in self.capabilities:
            self._tools = []
            return self._tools
        tools: list[dict[str, Any]] = []
        cursor: Any = None
        for _ in range(MAX_PAGES):
            result = await self.peer.request("tools/list", {"cursor": cursor} if cursor else {})
            page = (result or {}).get("tools") or []
            tools.extend(t for t in page if isinstance(t, dict) and isinstance(t.get("name"), str))
            cursor = (result or {}).get("nextCursor")
            if not cursor:
                break
        self._tools = tools
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any], *,
                        timeout: float | None = None,
                        on_progress: Callable[[dict[str, Any]], Any] | None = None
                        ) -> dict[str, Any]:
        result = await self.peer.request("tools/call", {"name": name, "arguments": arguments},
                                         timeout=timeout, on_progress=on_progress)
        if not isinstance(result, dict):
            raise ProtocolError("the server's tools/call result is not an object")
        return result

    # -- from the server -----------------------------------------------------------------
    def _on_notify(self, method: str, params: dict[str, Any]) -> None:
        if method == "notifications/tools/list_changed":
            self.tools_changed.set()
        elif method == "notifications/message" and self.on_log is not None:
            data = params.get("data")
            self.on_log(f"[{params.get('level', 'info')}] {data}")

    async def _on_request(self, method: str, params: dict[str, Any]) -> Any:
        if method == "roots/list":
            return {"roots": self.requests.roots()}
        if method == "elicitation/create":
            if params.get("mode", "form") != "form":
                return {"action": "decline"}  # URL mode is not offered
            if not isinstance(params.get("requestedSchema", {}), dict):
                raise RpcError(INVALID_PARAMS, "requestedSchema must be an object")
            return await self.requests.elicit(self.name, params)
        if method == "sampling/createMessage":
            return await self.requests.sample(self.name, params)
        raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")
