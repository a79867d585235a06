"""``chat_app``: a pure ASGI app serving an agent to ``useChat`` clients and to a small page.

    from loomex_cli.web import chat_app
    app = chat_app(MyAgent())            # uvicorn mymodule:app

Routes: ``POST /api/chat`` (the UI message stream), ``GET /api/chat/<chat id>/stream``
(stream resumption: always 204, nothing to resume), ``GET /`` (the chat page). Unknown paths
are 404, wrong methods 405, bodies that are not a chat request 400 with ``{"error": ...}``.
A client that goes away cancels its run. Lifespan shutdown closes the HTTP client pool.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from .convert import BadRequest
from .stream import stream_agent

log = logging.getLogger("loomex.web")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: the largest request body read (a chat with pasted files or images can be big)
MAX_BODY_BYTES = 32 * 1024 * 1024

_PAGE_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
     b"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
     b"frame-ancestors 'none'"),
]


def chat_app(agent: Any, *, approver: Any = None, route: Any = None,
             context: dict[str, Any] | None = None, api_path: str = "/api/chat",
             page: bool = True, allowed_hosts: Iterable[str] | None = None,
             allow_system: bool = False, max_body_bytes: int = MAX_BODY_BYTES,
             keepalive: float | None = 15.0,
             accepts_images: bool | None = None) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI application for ``agent``.

    ``approver`` decides tool calls that need approval (None: the engine's default, every
    call runs). ``route`` fixes the provider route (else resolved per run from
    ``agent.model``); ``context`` is passed to every run. ``allowed_hosts``: accepted
    ``Host`` header names (e.g. the loopback names, against DNS rebinding; None: any).
    Requests from a browser page of another origin are refused (403), and ``POST`` needs
    ``content-type: application/json`` (so a cross-site form cannot start a run).
    """
    api = "/" + api_path.strip("/")
    hosts = {h.lower() for h in allowed_hosts} if allowed_hosts is not None else None
    page_bytes: list[bytes] = []

    def page_html() -> bytes:
        if not page_bytes:
            from .page import render_page
            page_bytes.append(render_page(getattr(agent, "model", "") or "",
                                          api.lstrip("/")).encode("utf-8"))
        return page_bytes[0]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":  # websockets: not served
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        method = scope.get("method", "GET").upper()
        path = scope.get("path", "/") or "/"
        headers = _headers(scope)
        if hosts is not None and _host_name(headers.get("host", "")) not in hosts:
            await _json(send, 403, {"error": "this host name is not allowed"})
            return
        if path == api:
            if method == "POST":
                await _chat(scope, receive, send, headers)
            elif method == "OPTIONS":
                await _empty(send, 204, allow="POST, OPTIONS")
            else:
                await _json(send, 405, {"error": f"use POST on {api}"}, allow="POST, OPTIONS")
        elif path.startswith(api + "/") and path.endswith("/stream") and \
                path.count("/") == api.count("/") + 2:
            if method in ("GET", "HEAD"):
                await _empty(send, 204)  # nothing to resume: streams are not kept
            else:
                await _json(send, 405, {"error": "use GET"}, allow="GET, HEAD")
        elif page and path in ("/", "/index.html"):
            if method in ("GET", "HEAD"):
                body = page_html()
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*_PAGE_HEADERS,
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body",
                            "body": b"" if method == "HEAD" else body})
            else:
                await _json(send, 405, {"error": "use GET"}, allow="GET, HEAD")
        else:
            await _json(send, 404, {"error": "not found"})

    async def _chat(scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        origin = headers.get("origin")
        if origin and origin != "null" and not _same_origin(origin, headers.get("host", "")):
            await _json(send, 403, {"error": "cross-origin requests are not allowed"})
            return
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            await _json(send, 415, {"error": "send the chat request as application/json"})
            return
        raw = await _read_body(receive, max_body_bytes)
        if raw is None:
            return  # the client went away
        if isinstance(raw, int):
            await _json(send, 413, {"error": f"the request body is over {max_body_bytes} bytes"})
            return
        body = parse_body(raw)
        if isinstance(body, str):
            await _json(send, 400, {"error": body})
            return
        try:
            resp_headers, stream = stream_agent(agent, body, approver=approver, route=route,
                                                context=context, allow_system=allow_system,
                                                keepalive=keepalive,
                                                accepts_images=accepts_images)
        except BadRequest as e:
            await _json(send, 400, {"error": str(e)})
            return
        except Exception:  # noqa: BLE001 - never a traceback to the client
            log.exception("could not start the chat stream")
            await _json(send, 500, {"error": "internal error"})
            return
        await _stream(receive, send, resp_headers, stream)

    return app


#: the deepest nesting of arrays and objects a request may have (UI messages need about 10)
MAX_DEPTH = 100


def parse_body(raw: bytes) -> dict[str, Any] | str:
    """The request's JSON object, or the one-line reason it is refused (a 400): not JSON
    (``[`` x 200,000 exhausts the parser's recursion limit: that too), not an object, or
    nested deeper than :data:`MAX_DEPTH` (which code that walks it later might not survive)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "the request body is not valid JSON"
    except RecursionError:
        return f"the request body is nested deeper than {MAX_DEPTH} levels"
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    if _too_deep(body):
        return f"the request body is nested deeper than {MAX_DEPTH} levels"
    return body


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values() if isinstance(x, (dict, list)))
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v if isinstance(x, (dict, list)))
    return False


async def _stream(receive: Receive, send: Send, headers: list[tuple[str, str]],
                  stream: Any) -> None:
    """Sends the stream while watching ``receive`` for ``http.disconnect``: the run is
    cancelled as soon as the client goes away, even while nothing is being written."""

    async def pump() -> None:
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                                    for k, v in headers]})
            async for piece in stream:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await stream.aclose()

    async def watch() -> None:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                return

    pump_task = asyncio.ensure_future(pump())
    watch_task = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({pump_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (watch_task, pump_task):
            if not t.done():
                t.cancel()
        results = await asyncio.gather(pump_task, watch_task, return_exceptions=True)
    err = results[0]
    if isinstance(err, BaseException) and not isinstance(err, (asyncio.CancelledError, OSError)):
        log.error("the chat stream failed", exc_info=err)


async def _read_body(receive: Receive, limit: int) -> bytes | int | None:
    """The request body; its size when over ``limit``; None on a disconnect."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            return size
        chunks.append(body)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                from ..wire.client import close_client
                await close_client()
            except Exception:  # noqa: BLE001
                log.debug("closing the HTTP client failed", exc_info=True)
            await send({"type": "lifespan.shutdown.complete"})
            return


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers") or ():
        out[k.decode("latin-1").lower()] = v.decode("latin-1")
    return out


def _host_name(host: str) -> str:
    """``example.org:8000`` -> ``example.org``; ``[::1]:8000`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin(origin: str, host: str) -> bool:
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        return False
    return bool(netloc) and netloc == host.strip().lower()


async def _json(send: Send, status: int, obj: Any, allow: str | None = None) -> None:
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if allow:
        headers.append((b"allow", allow.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _empty(send: Send, status: int, allow: str | None = None) -> None:
    headers = [(b"allow", allow.encode())] if allow else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
