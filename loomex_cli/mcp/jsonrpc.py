"""JSON-RPC 2.0 over any MCP transport: ids, pending requests, cancellation, progress.

A :class:`Peer` sends through ``send(message)`` and is fed every incoming message with
:meth:`Peer.feed`. Requests from the server run ``on_request(method, params)`` in a task and
are answered; notifications go to ``on_notify(method, params)``. A request cancelled by the
caller (Ctrl-C) sends ``notifications/cancelled``; ``notifications/progress`` for one of our
requests reaches the ``on_progress`` given with it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any, Awaitable, Callable

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


class RpcError(Exception):
    """An error response (from the server), or one to send back (from a handler)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def __str__(self) -> str:
        return f"{self.message} (JSON-RPC error {self.code})"


class Closed(Exception):
    """The connection ended before the answer came (the server exited or hung up)."""


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line (no newline may occur inside: JSON escapes them)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


Sender = Callable[[dict[str, Any]], Awaitable[None]]


class Peer:
    def __init__(self, send: Sender, *,
                 on_request: Callable[[str, Any], Awaitable[Any]] | None = None,
                 on_notify: Callable[[str, Any], Any] | None = None) -> None:
        self._send = send
        self.on_request = on_request
        self.on_notify = on_notify
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        self._progress: dict[Any, Callable[[dict[str, Any]], Any]] = {}
        self._handling: dict[Any, asyncio.Task[Any]] = {}
        self.closed: BaseException | None = None

    # -- outgoing ------------------------------------------------------------------------
    async def request(self, method: str, params: dict[str, Any] | None = None, *,
                      timeout: float | None = None,
                      on_progress: Callable[[dict[str, Any]], Any] | None = None) -> Any:
        """The result of ``method``; RpcError for an error response, Closed when the
        connection ends first, TimeoutError after ``timeout`` (the server is told)."""
        if self.closed is not None:
            raise Closed(str(self.closed))
        rid = next(self._ids)
        params = dict(params or {})
        if on_progress is not None:
            params["_meta"] = {**(params.get("_meta") or {}), "progressToken": rid}
            self._progress[rid] = on_progress
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params:
            msg["params"] = params
        try:
            try:
                await self._send(msg)
            except ConnectionError as e:  # a broken pipe: the server is gone
                raise Closed(f"the connection to the server broke ({e})") from None
            return await (asyncio.wait_for(fut, timeout) if timeout else fut)
        except (asyncio.CancelledError, TimeoutError) as e:
            if method != "initialize" and self.closed is None:  # the spec: never cancel it
                reason = "timed out" if isinstance(e, TimeoutError) else "cancelled by the user"
                await self._quietly(self.notify("notifications/cancelled",
                                                {"requestId": rid, "reason": reason}))
            raise
        finally:
            self._pending.pop(rid, None)
            self._progress.pop(rid, None)

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        await self._send(msg)

    @staticmethod
    async def _quietly(coro: Awaitable[Any]) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(coro), 2)
        except BaseException:  # noqa: BLE001 - best effort on the way out
            pass

    # -- incoming ------------------------------------------------------------------------
    def feed(self, message: Any) -> None:
        """Handles one decoded message (or a batch, from older servers)."""
        if isinstance(message, list):
            for m in message:
                self.feed(m)
            return
        if not isinstance(message, dict):
            return
        if "method" in message:
            method = message.get("method")
            params = message.get("params")
            if "id" in message and message["id"] is not None:
                rid = message["id"]
                self._handling[rid] = asyncio.get_running_loop().create_task(
                    self._answer(rid, str(method), params))
            else:
                self._notification(str(method), params)
            return
        rid = message.get("id")
        fut = self._pending.get(rid)
        if fut is None or fut.done():
            return  # a late answer to a cancelled request
        if "error" in message:
            err = message.get("error") or {}
            fut.set_exception(RpcError(int(err.get("code", INTERNAL_ERROR)),
                                       str(err.get("message", "error")), err.get("data")))
        else:
            fut.set_result(message.get("result"))

    def _notification(self, method: str, params: Any) -> None:
        params = params if isinstance(params, dict) else {}
        if method == "notifications/progress":
            cb = self._progress.get(params.get("progressToken"))
            if cb is not None:
                try:
                    cb(params)
                except Exception:  # noqa: BLE001 - a display problem never breaks a call
                    pass
            return
        if method == "notifications/cancelled":
            task = self._handling.get(params.get("requestId"))
            if task is not None:
                task.cancel()
            return
        if self.on_notify is not None:
            self.on_notify(method, params)

    async def _answer(self, rid: Any, method: str, params: Any) -> None:
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": rid}
        try:
            if method == "ping":
                reply["result"] = {}
            elif self.on_request is None:
                raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")
            else:
                reply["result"] = await self.on_request(method, params or {})
        except asyncio.CancelledError:
            self._handling.pop(rid, None)
            return  # the server cancelled it: no answer is sent
        except RpcError as e:
            reply["error"] = {"code": e.code, "message": e.message,
                              **({"data": e.data} if e.data is not None else {})}
        except Exception as e:  # noqa: BLE001
            reply["error"] = {"code": INTERNAL_ERROR, "message": f"{type(e).__name__}: {e}"}
        self._handling.pop(rid, None)
        if self.closed is None:
            await self._quietly(self._send(reply))

    def close(self, reason: BaseException) -> None:
        """Fails every pending request with ``reason`` (the connection is gone)."""
        if self.closed is None:
            self.closed = reason
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(Closed(str(reason)))
        for task in self._handling.values():
            task.cancel()
