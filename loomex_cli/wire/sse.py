"""An incremental Server-Sent Events parser over raw bytes.

Accepts what real servers send: ``:`` comment and keep-alive lines, ``event:`` lines,
LF / CRLF / CR line ends (also split across reads), a body that starts with white space, and
a stream that ends without a blank line or ``data: [DONE]``. Network reads may split the
stream anywhere; the result is the same.

Reading is linear in the size of the stream, however long a line is (the reads of an
unfinished line are kept apart and joined once, when its end arrives), and one line may be
at most :data:`MAX_LINE` bytes: :class:`LineTooLong` is raised as soon as more than that is
held for one line (so a line may exceed it by one read, at most 64 KiB from httpx, before it
is refused; checking every read's length instead would cost the hot path).
"""

from __future__ import annotations

__all__ = ["SSEParser", "LineTooLong", "MAX_LINE"]

_LF = b"\n"
_CR = b"\r"
#: the longest line accepted (16 MiB)
MAX_LINE = 16 * 1024 * 1024


class LineTooLong(ValueError):
    """One line of the stream is over :data:`MAX_LINE` bytes."""


class SSEParser:
    """``feed(bytes)`` returns the events completed so far as ``(event_name, data)`` pairs,
    ``event_name`` None for plain messages and ``data`` the bytes of the joined data lines."""

    __slots__ = ("_buf", "_more", "_size", "_data", "_event")

    def __init__(self) -> None:
        #: the start of an unfinished line, and the later reads that did not end it
        self._buf = b""
        self._more: list[bytes] = []
        self._size = 0
        self._data: list[bytes] = []
        self._event: bytes | None = None

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        if self._buf:
            if _LF not in chunk and _CR not in chunk and self._buf[-1:] != _CR:
                return self._hold(chunk)  # the line goes on: joined once, when it ends
            chunk = (self._take() if self._more else self._buf) + chunk
        if _CR in chunk:
            hold = b""
            if chunk[-1:] == _CR:  # a CR that ends a read may be half of a CRLF: keep it
                chunk, hold = chunk[:-1], _CR
            lines = chunk.replace(b"\r\n", _LF).replace(_CR, _LF).split(_LF)
            self._buf = lines.pop() + hold
        else:
            lines = chunk.split(_LF)
            self._buf = lines.pop()
        return self._lines(lines)

    def _hold(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        if not self._more:
            self._size = len(self._buf)
        self._more.append(chunk)
        self._size += len(chunk)
        if self._size > MAX_LINE:
            self._too_long()
        return []

    def _take(self) -> bytes:
        joined = b"".join([self._buf, *self._more])
        self._more = []
        return joined

    def _too_long(self) -> None:
        self._buf, self._more, self._size = b"", [], 0
        raise LineTooLong(f"the provider sent a line over {MAX_LINE // (1024 * 1024)} MiB")

    def close(self) -> list[tuple[str | None, bytes]]:
        """Flushes what is left when the body ends (a last event without its blank line)."""
        if self._more:
            self._buf = self._take()
        rest = self._buf.replace(b"\r\n", _LF).replace(_CR, _LF)
        self._buf = b""
        out = self._lines(rest.split(_LF)) if rest else []
        if self._data:
            out.append(self._dispatch())
        return out

    def _lines(self, lines: list[bytes]) -> list[tuple[str | None, bytes]]:
        out: list[tuple[str | None, bytes]] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    out.append(self._dispatch())
                    data = self._data
                else:
                    self._event = None
                continue
            first = line[0]
            if first == 100 and line[:6] == b"data: ":  # fast path: b"d"
                data.append(line[6:])
                continue
            if first in (32, 9):  # leading white space (a body that starts with " data:")
                line = line.lstrip()
                if not line:
                    continue
                first = line[0]
            if first == 58:  # b":" comment / keep-alive
                continue
            name, sep, value = line.partition(b":")
            if sep and value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                self._event = value.strip()
            # "id" and "retry" are of no use to a one-shot POST stream
        return out

    def _dispatch(self) -> tuple[str | None, bytes]:
        data = self._data
        payload = data[0] if len(data) == 1 else b"\n".join(data)
        event = self._event.decode("utf-8", "replace") if self._event else None
        self._data = []
        self._event = None
        return event, payload

