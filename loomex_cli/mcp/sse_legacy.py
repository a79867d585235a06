"""The older HTTP+SSE transport (MCP 2024-11-05), for servers that still use it.

A GET opens an SSE stream whose first ``endpoint`` event names the URL to POST messages to;
everything the server sends (answers included) then arrives as ``message`` events on that
stream.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

from .http import HttpError, make_client, sse_events, status_error


class LegacySseTransport:
    def __init__(self, url: str, *, headers: dict[str, str] | None = None,
                 timeout: float = 30.0) -> None:
        from .config import safe_url
        self.url = url
        self.shown = safe_url(url)
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.endpoint: str | None = None
        self._client: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    def describe(self) -> str:
        return self.shown

    async def start(self, on_message: Callable[[Any], None],
                    on_close: Callable[[str], None]) -> None:
        import httpx2
        self._client = make_client(self.url, self.timeout)
        try:
            response = await self._client.send(self._client.build_request(
                "GET", self.url, headers={"Accept": "text/event-stream", **self.headers}),
                stream=True)
        except httpx2.HTTPError as e:
            await self._client.aclose()
            raise HttpError(f"cannot reach {self.shown}: {type(e).__name__}") from None
        if response.status_code != 200:
            body = (await response.aread()).decode("utf-8", "replace")
            await response.aclose()
            await self._client.aclose()
            raise status_error(response.status_code, self.shown, body)
        found: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.get_running_loop().create_task(
            self._read(response, found, on_message, on_close))
        try:
            endpoint = await asyncio.wait_for(found, self.timeout)
        except (TimeoutError, HttpError):
            await self.close()
            raise HttpError(f"{self.shown} sent no endpoint event") from None
        full = urljoin(self.url, endpoint)
        if urlsplit(full)[:2] != urlsplit(self.url)[:2]:  # same scheme and host only
            await self.close()
            raise HttpError(f"{self.shown} named an endpoint on another origin")
        self.endpoint = full

    async def _read(self, response: Any, found: "asyncio.Future[str]",
                    on_message: Callable[[Any], None], on_close: Callable[[str], None]) -> None:
        why = "the server closed its event stream"
        try:
            async for event, data, _eid, _retry in sse_events(response):
                if event == "endpoint":
                    if not found.done():
                        found.set_result(data.strip())
                    continue
                if event == "message" and data.strip():
                    try:
                        on_message(json.loads(data))
                    except ValueError:
                        continue
        except asyncio.CancelledError:
            return
        except Exception as e:  # noqa: BLE001
            why = f"the event stream broke: {type(e).__name__}"
        finally:
            await response.aclose()
        if not found.done():
            found.set_exception(HttpError(why))
        if not self._closed:
            on_close(why)

    async def send(self, message: dict[str, Any]) -> None:
        import httpx2
        if self.endpoint is None:
            raise HttpError("not connected")
        try:
            response = await self._client.post(
                self.endpoint, content=json.dumps(message, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json", **self.headers})
        except httpx2.HTTPError as e:
            raise HttpError(f"cannot reach {self.shown}: {type(e).__name__}") from None
        if response.status_code >= 300:
            raise status_error(response.status_code, self.shown, response.text)

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
        if self._client is not None:
            await self._client.aclose()
