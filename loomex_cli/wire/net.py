"""The sockets under loomex's HTTP clients: httpcore2's network backend written on asyncio's
own transports, instead of the AnyIO backend httpcore2 picks by itself.

The AnyIO backend wraps every read and write in a cancel scope (``anyio.fail_after``: the
current task looked up, a scope entered and left, exceptions mapped through a context
manager) and reads through AnyIO's stream classes; on a loopback agent run that was about a
tenth of the CPU. Here a connection is one :class:`asyncio.Protocol` that keeps what arrived
in a list, and a read that has to wait sets one timer for its timeout. Behaviour is
httpcore2's contract: ``read`` returns ``b""`` at the end, timeouts raise ReadTimeout /
WriteTimeout / ConnectTimeout, a broken connection ReadError / WriteError / ConnectError,
``get_extra_info`` answers ``ssl_object``, ``client_addr``, ``server_addr``, ``socket`` and
``is_readable`` (an idle connection that the server closed or wrote to is not reused).

Proxied connections (``$HTTPS_PROXY``) are httpx2's own transports and keep AnyIO.
"""

from __future__ import annotations

import asyncio
import select
import ssl
from typing import Any, Iterable

import httpcore2
import httpx2

#: bytes held unread before the socket is no longer read (the reader is behind)
_HIGH_WATER = 256 * 1024


def _readable(sock: Any) -> bool:
    """Whether a read on ``sock`` would return at once (data, or the end): gone is readable."""
    fd = sock.fileno() if sock is not None else -1
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([fd], [], [], 0)[0])
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(0))


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class _Stream(asyncio.Protocol, httpcore2.AsyncNetworkStream):
    """One connection: the protocol asyncio feeds, and the stream httpcore2 reads."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: Any = None
        self.chunks: list[bytes] = []
        self.held = 0  # bytes in chunks
        self.eof = False
        self.lost: BaseException | None = None
        self.closed = False
        self.reader: asyncio.Future[None] | None = None
        self.writer: asyncio.Future[None] | None = None  # set while writing is paused
        self.paused = False  # reading paused (too much held)

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.held += len(data)
        if self.held > _HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc
        self._wake_reader()
        w = self.writer
        if w is not None and not w.done():
            w.set_result(None)

    def pause_writing(self) -> None:
        if self.writer is None:
            self.writer = self.loop.create_future()

    def resume_writing(self) -> None:
        w, self.writer = self.writer, None
        if w is not None and not w.done():
            w.set_result(None)

    def _wake_reader(self) -> None:
        r = self.reader
        if r is not None and not r.done():
            r.set_result(None)

    # -- httpcore2.AsyncNetworkStream --------------------------------------------------

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self.chunks and not self.eof and not self.closed:
            fut = self.reader = self.loop.create_future()
            timer = self.loop.call_later(timeout, _expire, fut) if timeout is not None else None
            try:
                await fut
            except TimeoutError:
                raise httpcore2.ReadTimeout("timed out reading from the server") from None
            finally:
                self.reader = None
                if timer is not None:
                    timer.cancel()
        chunks = self.chunks
        if chunks:
            data = chunks[0]
            if len(data) <= max_bytes:
                del chunks[0]
            else:
                data, chunks[0] = data[:max_bytes], data[max_bytes:]
            self.held -= len(data)
            if self.paused and self.held <= _HIGH_WATER // 4 and not self.closed:
                self.paused = False
                self.transport.resume_reading()
            return data
        if self.lost is not None:
            raise httpcore2.ReadError(str(self.lost) or type(self.lost).__name__)
        return b""  # the end of the stream

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self.closed or self.transport.is_closing():
            raise httpcore2.WriteError("the connection is closed")
        self.transport.write(buffer)
        w = self.writer
        if w is None:
            return
        timer = self.loop.call_later(timeout, _expire, w) if timeout is not None else None
        try:
            await asyncio.shield(w)
        except TimeoutError:
            raise httpcore2.WriteTimeout("timed out writing to the server") from None
        finally:
            if timer is not None:
                timer.cancel()
        if self.closed:
            raise httpcore2.WriteError(str(self.lost or "the connection was closed"))

    async def aclose(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore2.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                self.transport = await self.loop.start_tls(
                    self.transport, self, ssl_context, server_hostname=server_hostname,
                    ssl_handshake_timeout=timeout)
        except TimeoutError:
            await self.aclose()
            raise httpcore2.ConnectTimeout("timed out during the TLS handshake") from None
        except (OSError, ssl.SSLError) as e:  # ssl.SSLError is an OSError: one message
            await self.aclose()
            raise httpcore2.ConnectError(str(e) or type(e).__name__) from None
        return self

    def get_extra_info(self, info: str) -> Any:
        t = self.transport
        if info == "is_readable":  # an idle connection that got data or was closed
            return bool(self.chunks) or self.eof or self.closed or t is None or \
                t.is_closing() or _readable(t.get_extra_info("socket"))
        if t is None:
            return None
        if info == "ssl_object":
            return t.get_extra_info("ssl_object")
        if info == "client_addr":
            return t.get_extra_info("sockname")
        if info == "server_addr":
            return t.get_extra_info("peername")
        if info == "socket":
            return t.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's network backend on asyncio transports (see the module's docstring)."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None,
                          ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, stream = await loop.create_connection(
                    lambda: _Stream(loop), host, port,
                    local_addr=(local_address, 0) if local_address else None)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as e:
            raise httpcore2.ConnectError(str(e) or type(e).__name__) from None
        _set_options(stream, socket_options)
        return stream

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None,
                                  ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, stream = await loop.create_unix_connection(lambda: _Stream(loop), path)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"timed out connecting to {path}") from None
        except OSError as e:
            raise httpcore2.ConnectError(str(e) or type(e).__name__) from None
        _set_options(stream, socket_options)
        return stream

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _set_options(stream: _Stream, options: Iterable[Any] | None) -> None:
    sock = stream.get_extra_info("socket")
    for option in options or ():
        sock.setsockopt(*option)


class Transport(httpx2.AsyncHTTPTransport):
    """httpx2's HTTP transport over :class:`AsyncioBackend`: the same connection pool
    (httpcore2's, public arguments), request and response handling and error mapping, which
    it inherits; only the pool is built here, with the backend."""

    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx2.Limits) -> None:
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=AsyncioBackend())
