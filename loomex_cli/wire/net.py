"""One TCP (or TLS) connection on asyncio's own transports, for the HTTP/1.1 transport
(http11.py).

A connection is one :class:`asyncio.Protocol` that keeps what arrived in a list; a read that
has to wait sets one timer for its timeout. Reading is paused while more than
``_HIGH_WATER`` bytes are held unread, and writing waits while asyncio's buffer is full.
Errors are Python's own: ``TimeoutError`` for a timeout, ``ConnectionError`` for a connection
that broke, ``OSError`` (``ssl.SSLError`` among them) from :func:`connect`; http11.py says
them in httpx2's terms.
"""

from __future__ import annotations

import asyncio
import select
import ssl
from typing import Any

#: bytes held unread before the socket is no longer read (the reader is behind)
_HIGH_WATER = 256 * 1024


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


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


async def connect(host: str, port: int, ssl_context: ssl.SSLContext | None,
                  timeout: float | None) -> "Stream":
    """A connection to ``host:port`` (TLS with ``ssl_context``: verified against ``host``),
    within ``timeout`` seconds (TimeoutError), else OSError."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        _, stream = await loop.create_connection(
            lambda: Stream(loop), host, port, ssl=ssl_context,
            server_hostname=host if ssl_context is not None else None,
            ssl_handshake_timeout=timeout if ssl_context is not None else None)
    return stream


class Stream(asyncio.Protocol):
    """One connection: the protocol asyncio feeds, and the reads and writes of its user."""

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

    # -- its user ------------------------------------------------------------------------

    async def read(self, max_bytes: int, timeout: float | None) -> bytes:
        """Up to ``max_bytes`` (waiting at most ``timeout`` s for the first), ``b""`` at the
        end; ConnectionError when the connection broke."""
        if not self.chunks and not self.eof and not self.closed:
            fut = self.reader = self.loop.create_future()
            timer = self.loop.call_later(timeout, _expire, fut) if timeout is not None else None
            try:
                await fut
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
            raise ConnectionError(str(self.lost) or type(self.lost).__name__)
        return b""  # the end of the stream

    async def write(self, data: bytes, timeout: float | None) -> None:
        """Hands ``data`` to the transport; waits (at most ``timeout`` s) while its buffer is
        full. ConnectionError when the connection is closed."""
        if self.closed or self.transport.is_closing():
            raise ConnectionError("the connection is closed")
        self.transport.write(data)
        w = self.writer
        if w is None:
            return
        timer = self.loop.call_later(timeout, _expire, w) if timeout is not None else None
        try:
            await asyncio.shield(w)
        finally:
            if timer is not None:
                timer.cancel()
        if self.closed:
            raise ConnectionError(str(self.lost or "the connection was closed"))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def is_readable(self) -> bool:
        """For an idle connection: something arrived, or it was closed (not to be reused)."""
        t = self.transport
        return bool(self.chunks) or self.eof or self.closed or t is None or \
            t.is_closing() or _readable(t.get_extra_info("socket"))

    def get_extra_info(self, info: str) -> Any:
        """httpcore's names: ``ssl_object``, ``client_addr``, ``server_addr``, ``socket``,
        ``is_readable``."""
        if info == "is_readable":
            return self.is_readable()
        t = self.transport
        if t is None:
            return None
        name = {"client_addr": "sockname", "server_addr": "peername"}.get(info, info)
        return t.get_extra_info(name) if name in ("ssl_object", "sockname", "peername",
                                                  "socket") else None
