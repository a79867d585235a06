"""The HTTP/1.1 transport under loomex's httpx2 clients: keep-alive connections per origin,
spoken with h11 over :mod:`.net`'s asyncio connections.

httpx2's own transport is httpcore2's connection pool on AnyIO. Loading those costs a one-shot
about 35 ms (httpcore2, AnyIO and AnyIO's asyncio backend), and on every request AnyIO's
cancel scopes, events and locks were a tenth of the CPU of a loopback agent run. loomex
needs only HTTP/1.1 to a few origins, so this transport does just that, through httpx2's
public transport interface: httpx2 still builds the requests, follows redirects and reads
the responses, and ``$HTTPS_PROXY`` and friends still get httpx2's own proxy transports.

What it does, as httpcore2 did it: a connection is reused while it is idle, younger than the
keep-alive expiry and neither closed nor sent anything by the server; at most
``max_keepalive_connections`` idle ones are kept per client, and at most ``max_connections``
are open (a request waits for one up to the pool timeout). A response read to its end puts
its connection back; one closed early, cancelled or broken closes it. Failures are httpx2's
exceptions: ConnectError / ConnectTimeout, ReadError / ReadTimeout, WriteError /
WriteTimeout, PoolTimeout, RemoteProtocolError.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any, AsyncIterator

import h11
import httpx2

from .net import Stream, connect

#: the most a response head (status line and headers) may take
_MAX_HEAD = 100 * 1024
_READ_SIZE = 64 * 1024


class _Conn:
    """One connection and its h11 state."""

    __slots__ = ("stream", "h11", "origin", "idle_since")

    def __init__(self, stream: Stream, origin: tuple[bytes, bytes, int]) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        self.origin = origin
        self.idle_since = 0.0


class Transport(httpx2.AsyncBaseTransport):
    """An httpx2 transport (see the module's docstring). One per client, on one event loop."""

    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx2.Limits) -> None:
        self._ssl = ssl_context
        self._max_open = limits.max_connections
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._idle: dict[tuple[bytes, bytes, int], list[_Conn]] = {}
        self._idle_count = 0
        self._open = 0  # connections open, idle ones included
        self._waiters: list[asyncio.Future[None]] = []  # requests waiting for room
        self._closed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx2.UnsupportedProtocol(f"unsupported URL scheme {scheme.decode()!r}")
        origin = (scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))
        timeouts = request.extensions.get("timeout") or {}
        conn = await self._connection(origin, timeouts)
        try:
            status, headers, reason = await _send(conn, request, timeouts)
        except BaseException:
            self._drop(conn)
            raise
        return httpx2.Response(status, headers=headers, stream=_Body(self, conn, timeouts),
                               extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason,
                                           "network_stream": conn.stream})

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for c in conns:
                c.stream.close()
                self._open -= 1
        self._idle.clear()
        self._idle_count = 0

    # -- the pool ------------------------------------------------------------------------

    async def _connection(self, origin: tuple[bytes, bytes, int],
                          timeouts: dict[str, Any]) -> _Conn:
        """An idle connection to ``origin`` that can be reused, else a new one once there is
        room (an idle connection elsewhere is closed to make it; else the request waits)."""
        while True:
            conn = self._reuse(origin)
            if conn is not None:
                return conn
            if self._max_open is None or self._open < self._max_open or self._evict():
                return await self._connect(origin, timeouts)
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                async with asyncio.timeout(timeouts.get("pool")):
                    await fut
            except TimeoutError:
                raise httpx2.PoolTimeout("no connection became free in time") from None
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)

    def _reuse(self, origin: tuple[bytes, bytes, int]) -> _Conn | None:
        conns = self._idle.get(origin)
        now = time.monotonic()
        while conns:
            c = conns.pop()
            self._idle_count -= 1
            expired = self._expiry is not None and now - c.idle_since > self._expiry
            if expired or c.stream.is_readable():  # the server closed it, or said something
                self._drop(c)
                continue
            return c
        return None

    def _evict(self) -> bool:
        """Closes the longest idle connection (any origin) to make room for a new one."""
        oldest = min((c for conns in self._idle.values() for c in conns),
                     key=lambda c: c.idle_since, default=None)
        if oldest is None:
            return False
        self._idle[oldest.origin].remove(oldest)
        self._idle_count -= 1
        self._drop(oldest)
        return True

    async def _connect(self, origin: tuple[bytes, bytes, int], timeouts: dict[str, Any]) -> _Conn:
        scheme, host, port = origin
        name = host.decode("ascii")
        self._open += 1
        try:
            stream = await connect(name, port, self._ssl if scheme == b"https" else None,
                                   timeouts.get("connect"))
        except BaseException as e:
            self._open -= 1
            self._wake()
            if isinstance(e, TimeoutError):
                raise httpx2.ConnectTimeout(f"timed out connecting to {name}:{port}") from None
            if isinstance(e, OSError):  # ssl.SSLError too: "certificate verify failed" ...
                raise httpx2.ConnectError(str(e) or type(e).__name__) from None
            raise
        return _Conn(stream, origin)

    def _wake(self) -> None:
        """One waiting request tries again (a connection was closed or became idle)."""
        while self._waiters:
            fut = self._waiters.pop(0)
            if not fut.done():
                fut.set_result(None)
                return

    def _drop(self, conn: _Conn) -> None:
        conn.stream.close()
        self._open -= 1
        self._wake()

    def _release(self, conn: _Conn) -> None:
        """A response read to its end: the connection goes back, if it can be reused."""
        h = conn.h11
        if self._closed or h.our_state is not h11.DONE or h.their_state is not h11.DONE or \
                (self._max_idle is not None and self._idle_count >= self._max_idle):
            self._drop(conn)
            return
        h.start_next_cycle()
        conn.idle_since = time.monotonic()
        self._idle.setdefault(conn.origin, []).append(conn)
        self._idle_count += 1
        self._wake()


async def _send(conn: _Conn, request: httpx2.Request, timeouts: dict[str, Any]
                ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Writes the request (head and body) and reads the response's head."""
    h = conn.h11
    write_timeout = timeouts.get("write")
    try:
        out = h.send(h11.Request(method=request.method, target=request.url.raw_path,
                                 headers=request.headers.raw))
        async for chunk in request.stream:  # type: ignore[union-attr]
            if chunk:
                out += h.send(h11.Data(data=chunk))  # type: ignore[operator]
                if len(out) >= _READ_SIZE:  # type: ignore[arg-type]
                    await conn.stream.write(out, write_timeout)  # type: ignore[arg-type]
                    out = b""
        out += h.send(h11.EndOfMessage())  # type: ignore[operator]
        await conn.stream.write(out, write_timeout)  # type: ignore[arg-type]
    except h11.LocalProtocolError as e:
        raise httpx2.LocalProtocolError(str(e)) from None
    except TimeoutError:
        raise httpx2.WriteTimeout("timed out sending the request") from None
    except ConnectionError:
        pass  # the server may have answered early and closed: read what it said
    while True:
        event = await _next_event(conn, timeouts.get("read"))
        if isinstance(event, h11.Response):
            return event.status_code, list(event.headers.raw_items()), event.reason
        if not isinstance(event, h11.InformationalResponse):  # 1xx: wait for the real one
            raise httpx2.RemoteProtocolError(f"unexpected {type(event).__name__} before the "
                                             "response")


async def _next_event(conn: _Conn, timeout: float | None) -> Any:
    h = conn.h11
    while True:
        try:
            event = h.next_event()
        except h11.RemoteProtocolError as e:
            raise httpx2.RemoteProtocolError(str(e)) from None
        if event is not h11.NEED_DATA:
            return event
        try:
            data = await conn.stream.read(_READ_SIZE, timeout)
        except TimeoutError:
            raise httpx2.ReadTimeout("timed out reading the response") from None
        except ConnectionError as e:
            raise httpx2.ReadError(str(e)) from None
        if not data and h.their_state is h11.SEND_RESPONSE:
            raise httpx2.RemoteProtocolError("the server disconnected without sending a response")
        try:
            h.receive_data(data)
        except h11.RemoteProtocolError as e:
            raise httpx2.RemoteProtocolError(str(e)) from None


class _Body(httpx2.AsyncByteStream):
    """A response's body, read as it is iterated; closing it puts the connection back (read
    to its end) or closes it."""

    def __init__(self, transport: Transport, conn: _Conn, timeouts: dict[str, Any]) -> None:
        self.transport, self.conn, self.timeouts = transport, conn, timeouts
        self.done = False  # the whole body was read
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        timeout = self.timeouts.get("read")
        try:
            while not self.done:
                event = await _next_event(self.conn, timeout)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    self.done = True
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.done:
            self.transport._release(self.conn)
        else:
            self.transport._drop(self.conn)
