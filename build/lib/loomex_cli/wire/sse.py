"""An incremental Server-Sent Events parser over raw bytes.

Accepts what real servers send: ``:`` comment and keep-alive lines, ``event:`` lines,
LF / CRLF / CR line ends (also split across reads), a body that starts with white space, and
a stream that ends without a blank line or ``data: [DONE]``. Network reads may split the
stream anywhere; the result is the same.
"""

from __future__ import annotations

__all__ = ["SSEParser"]

_LF = b"\n"
_CR = b"\r"


class SSEParser:
    """``feed(bytes)`` returns the events completed so far as ``(event_name, data)`` pairs,
    ``event_name`` None for plain messages and ``data`` the bytes of the joined data lines."""

    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[bytes] = []
        self._event: bytes | None = None

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        if self._buf:
            chunk = self._buf + chunk
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

    def close(self) -> list[tuple[str | None, bytes]]:
        """Flushes what is left when the body ends (a last event without its blank line)."""
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
