"""The Streamable HTTP transport (MCP 2025-06-18 / 2025-11-25), on httpx2.

Every message is a POST. A request's answer comes back as JSON or as an SSE stream (which
may carry the server's own requests and notifications first); a stream that drops before
the answer is resumed with a GET carrying ``Last-Event-ID``, after the ``retry`` the server
asked for. ``Mcp-Session-Id`` from the initialize answer goes on every later request, with
``MCP-Protocol-Version``; a GET stream carries what the server sends unprompted (405: none);
closing sends DELETE. A server that refuses the first POST the way pre-2025 servers do
(400/404/405) is spoken to with the older HTTP+SSE transport instead (:mod:`.sse_legacy`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator, Callable

#: reconnections of one stream before it is given up
MAX_RESUMES = 5
#: milliseconds before reconnecting when the server did not say (the SSE default is ~3 s)
DEFAULT_RETRY_MS = 1000


class HttpError(OSError):
    """One line for the person: what the server answered."""


def make_client(url: str, timeout: float) -> Any:
    import httpx2
    tls = url.lower().startswith("https://")
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(connect=min(timeout, 15.0), read=None, write=60.0, pool=None),
        follow_redirects=True, verify=httpx2.create_ssl_context() if tls else True)


def status_error(status: int, url: str, body: str = "") -> HttpError:
    if status == 401:
        return HttpError(f"{url} needs authorization (HTTP 401); OAuth is not supported yet: "
                         'set a header, e.g. headers = { Authorization = "Bearer ${TOKEN}" }')
    if status == 403:
        return HttpError(f"{url} refused access (HTTP 403); check the server's headers/token")
    detail = " ".join(body.split())[:200]
    return HttpError(f"{url} answered HTTP {status}" + (f": {detail}" if detail else ""))


async def sse_events(response: Any) -> AsyncIterator[tuple[str, str, str | None, int | None]]:
    """(event, data, id, retry ms) for each event of an SSE body; ``id``/``retry`` are None
    when the event did not set them."""
    event, data, eid, retry = "message", [], None, None
    async for line in response.aiter_lines():
        if line == "":
            if data or eid is not None:
                yield event, "\n".join(data), eid, retry
            event, data, eid, retry = "message", [], None, None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            eid = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
    if data:
        yield event, "\n".join(data), eid, retry


class StreamableHttpTransport:
    def __init__(self, url: str, *, headers: dict[str, str] | None = None,
                 timeout: float = 30.0) -> None:
        from .config import safe_url
        self.url = url
        self.shown = safe_url(url)  # for messages: no credentials, no query
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.legacy: Any = None  # the HTTP+SSE transport, after a fallback
        self._client: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_message: Callable[[Any], None] = lambda m: None
        self._on_close: Callable[[str], None] = lambda why: None
        self._first = True
        self._closed = False

    def describe(self) -> str:
        return self.shown

    async def start(self, on_message: Callable[[Any], None],
                    on_close: Callable[[str], None]) -> None:
        self._on_message, self._on_close = on_message, on_close
        self._client = make_client(self.url, self.timeout)

    def _headers(self, accept: str) -> dict[str, str]:
        h = {"Accept": accept, **self.headers}
        if self.session_id:
            h["Mcp-Session-Id"] = self.session_id
        if self.protocol_version:
            h["MCP-Protocol-Version"] = self.protocol_version
        return h

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, message: dict[str, Any]) -> None:
        if self.legacy is not None:
            return await self.legacy.send(message)
        import httpx2
        first, self._first = self._first, False
        headers = {**self._headers("application/json, text/event-stream"),
                   "Content-Type": "application/json"}
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        try:
            response = await self._client.send(
                self._client.build_request("POST", self.url, headers=headers, content=body),
                stream=True)
        except httpx2.HTTPError as e:
            raise HttpError(f"cannot reach {self.shown}: {type(e).__name__}") from None
        status = response.status_code
        if first and status in (400, 404, 405) and message.get("method") == "initialize":
            await response.aclose()
            return await self._fall_back(message)
        if status == 404 and self.session_id:
            await response.aclose()
            self._lost("the server ended the session (HTTP 404)")
            raise HttpError(f"{self.shown}: the session expired")
        if status >= 300:
            text = (await response.aread()).decode("utf-8", "replace")
            await response.aclose()
            raise status_error(status, self.shown, text)
        if first:
            self.session_id = response.headers.get("mcp-session-id") or None
        ctype = response.headers.get("content-type", "")
        if "text/event-stream" in ctype:
            if first:  # the initialize answer: read it before anything else is sent
                await self._read_stream(response, message.get("id"))
            else:
                self._spawn(self._read_stream(response, message.get("id")))
            return
        try:
            raw = await response.aread()
        finally:
            await response.aclose()
        if raw.strip() and "json" in ctype:
            try:
                self._on_message(json.loads(raw))
            except ValueError:
                raise HttpError(f"{self.shown} sent a body that is not JSON") from None
        if message.get("method") == "notifications/initialized":
            self._spawn(self._listen())  # now the server may talk unprompted

    async def _read_stream(self, response: Any, rid: Any) -> None:
        """Reads one POST's SSE stream; resumes it with GET + Last-Event-ID when it drops
        before the answer to ``rid`` came."""
        last_id: str | None = None
        retry_ms = DEFAULT_RETRY_MS
        answered = rid is None
        resumes = 0
        while True:
            try:
                async for _event, data, eid, retry in sse_events(response):
                    if eid is not None:
                        last_id = eid
                    if retry is not None:
                        retry_ms = retry
                    if not data.strip():
                        continue  # a priming event: just an id to resume from
                    try:
                        msg = json.loads(data)
                    except ValueError:
                        continue
                    if isinstance(msg, dict) and "method" not in msg and msg.get("id") == rid:
                        answered = True
                    self._on_message(msg)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a dropped stream: resumed below
                pass
            finally:
                await response.aclose()
            if answered or self._closed or last_id is None or resumes >= MAX_RESUMES:
                if not answered and not self._closed and rid is not None:
                    self._on_message({"jsonrpc": "2.0", "id": rid, "error": {
                        "code": -32000, "message": "the server's stream ended before the "
                                                   "answer (and could not be resumed)"}})
                return
            resumes += 1
            await asyncio.sleep(retry_ms / 1000)
            response = await self._get(last_id)
            if response is None:
                last_id = None  # cannot resume: report it on the next turn of the loop
                response = _Empty()

    async def _get(self, last_id: str | None) -> Any:
        import httpx2
        headers = self._headers("text/event-stream")
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        try:
            response = await self._client.send(
                self._client.build_request("GET", self.url, headers=headers), stream=True)
        except httpx2.HTTPError:
            return None
        if response.status_code != 200 or \
                "text/event-stream" not in response.headers.get("content-type", ""):
            await response.aclose()
            return None
        return response

    async def _listen(self) -> None:
        """The GET stream for what the server sends unprompted (405: the server has none)."""
        last_id: str | None = None
        retry_ms = DEFAULT_RETRY_MS
        failures = 0
        while not self._closed and failures < MAX_RESUMES:
            response = await self._get(last_id)
            if response is None:
                return
            try:
                async for _event, data, eid, retry in sse_events(response):
                    failures = 0
                    last_id = eid if eid is not None else last_id
                    retry_ms = retry if retry is not None else retry_ms
                    if data.strip():
                        try:
                            self._on_message(json.loads(data))
                        except ValueError:
                            pass
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - reconnect below
                pass
            finally:
                await response.aclose()
            failures += 1
            await asyncio.sleep(retry_ms / 1000)

    async def _fall_back(self, message: dict[str, Any]) -> None:
        from .sse_legacy import LegacySseTransport
        legacy = LegacySseTransport(self.url, headers=self.headers, timeout=self.timeout)
        try:
            await legacy.start(self._on_message, self._on_close)
        except HttpError as e:
            raise HttpError(f"{self.shown} speaks neither Streamable HTTP nor HTTP+SSE ({e})") \
                from None
        self.legacy = legacy
        await legacy.send(message)

    def _lost(self, why: str) -> None:
        if not self._closed:
            self._closed = True
            self._on_close(why)

    async def close(self) -> None:
        if self.legacy is not None:
            await self.legacy.close()
        was_closed, self._closed = self._closed, True
        for task in list(self._tasks):
            task.cancel()
        if self._client is None:
            return
        if self.session_id and not was_closed:
            try:
                await asyncio.wait_for(self._client.request(
                    "DELETE", self.url, headers=self._headers("application/json")), 2)
            except Exception:  # noqa: BLE001 - the server may not allow it (405): fine
                pass
        await self._client.aclose()


class _Empty:
    """A stream with nothing in it (a resumption that failed)."""

    async def aiter_lines(self) -> AsyncIterator[str]:
        return
        yield  # pragma: no cover

    async def aclose(self) -> None:
        pass
