"""POST /chat/completions, streamed or not, through shared httpx2 clients (one per event loop,
a few more under heavy concurrency: see :class:`_Pool`).

httpx2 (the maintained continuation of httpx) verifies TLS with the operating system's trust
store via truststore. It is imported here only, and only when a request is made.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

from .assemble import Assembled, Assembler
from .errors import (AuthError, ConfigError, ConnectError, IdleTimeoutError, ProviderError,
                     StreamError, error_for_status, extract_message, redact)
from .json_text import loads_event, no_lone_surrogates
from .providers import Route
from .retry import parse_retry_after
from .sse import LineTooLong, SSEParser
from .timeouts import IdleWatch, connect_timeout, idle_timeout

#: per event loop: the pool for TLS URLs (True) and the one for plain-http URLs (False)
_pools: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, _Pool]]" = \
    weakref.WeakKeyDictionary()
_MAX_ERROR_BODY = 64 * 1024
#: requests in flight on one client before the next client takes new ones
_CLIENT_LOAD = 48
#: clients per event loop at most
_MAX_CLIENTS = 8
_ssl_context: Any = None
_no_ca_context: Any = None


def _new_client(tls: bool = True) -> Any:
    """A client for https URLs (the system trust store, loaded once per process: ~30 ms), or
    for plain-http ones (local servers: ollama, llama.cpp, vLLM), whose TLS context loads no
    certificates at all: it is never used for TLS, an https redirect fails closed, and a
    local one-shot does not pay for the trust store."""
    import httpx2
    global _ssl_context, _no_ca_context
    if tls and _ssl_context is None:
        _ssl_context = httpx2.create_ssl_context()
    if not tls and _no_ca_context is None:
        import ssl
        _no_ca_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, and trusts nothing
    context = _ssl_context if tls else _no_ca_context
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=_CLIENT_LOAD)
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(connect=connect_timeout(), read=idle_timeout(), write=60.0,
                               pool=None),
        limits=limits, follow_redirects=True, verify=context,
        transport=_transport(context, limits),
    )


def _transport(context: Any, limits: Any) -> Any:
    """loomex's HTTP/1.1 transport (http11.py); None, httpx2's own, when a proxy is set
    (``$HTTPS_PROXY``...): httpx2 reads the proxy settings only for its own transport."""
    from urllib.request import getproxies  # what httpx2 reads them with (loaded by it anyway)
    if getproxies():
        return None
    from .http11 import Transport
    return Transport(context, limits)


class _Pool:
    """The HTTP clients of one event loop (keep-alive, pooled).

    One client's cost per request grows with the requests it has in flight: at 100
    concurrent agent runs one client took 1.3x the CPU per run of several (measured with
    scripts/bench_agents.py; under httpcore's pool, which polled every pooled connection on
    each request, far more). A request goes to the first client with
    fewer than ``_CLIENT_LOAD`` requests in flight; another client is made only when all are
    that busy (up to ``_MAX_CLIENTS``, then the least busy one). At low concurrency this is
    one client, as before."""

    __slots__ = ("clients", "load", "tls")

    def __init__(self, tls: bool = True) -> None:
        self.tls = tls
        self.clients: list[Any] = [_new_client(tls)]
        self.load: list[int] = [0]

    def acquire(self) -> int:
        load = self.load
        for i, n in enumerate(load):
            if n < _CLIENT_LOAD:
                break
        else:
            if len(load) < _MAX_CLIENTS:
                self.clients.append(_new_client(self.tls))
                load.append(0)
                i = len(load) - 1
            else:
                i = min(range(len(load)), key=load.__getitem__)
        load[i] += 1
        return i

    def release(self, i: int) -> None:
        self.load[i] -= 1


def _pool(url: str = "https://") -> _Pool:
    loop = asyncio.get_running_loop()
    tls = not url.startswith("http://")
    pools = _pools.get(loop)
    if pools is None:
        pools = _pools[loop] = {}
    pool = pools.get(tls)
    if pool is None or pool.clients[0].is_closed:
        pool = pools[tls] = _Pool(tls)
    return pool


async def close_client() -> None:
    """Closes the running loop's clients (``run()`` calls this before its loop ends)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    for pool in (_pools.pop(loop, None) or {}).values():
        for client in pool.clients:
            await client.aclose()


def build_body(route: Route, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
               *, stream: bool = True, temperature: float | None = None,
               max_tokens: int | None = None, extra_body: dict[str, Any] | None = None,
               effort: str | None = None, response_format: dict[str, Any] | None = None,
               tool_choice: Any = None) -> dict[str, Any]:
    """The request body. ``effort`` (already chosen: wire/effort.py) is written the way the
    route's provider takes it; the route's and the caller's ``extra_body`` come last and win."""
    body: dict[str, Any] = {"model": route.model, "messages": messages}
    if stream:
        body["stream"] = True
        if route.include_usage:
            body["stream_options"] = {"include_usage": True}
    if tools:
        body["tools"] = tools
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    if response_format is not None:
        body["response_format"] = response_format
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if effort is not None:
        from .effort import effort_fields
        body.update(effort_fields(route.effort_style, effort))
    if route.extra_body:
        body.update(route.extra_body)
    if extra_body:
        body.update(extra_body)
    return body


async def chat(route: Route, body: dict[str, Any], asm: Assembler) -> Assembled:
    """One provider call. Deltas go to ``asm``'s callbacks as they arrive; typed errors out."""
    stream = bool(body.get("stream"))
    headers = {"content-type": "application/json",
               "accept": "text/event-stream" if stream else "application/json"}
    if route.api_key:
        headers["authorization"] = f"Bearer {route.api_key}"
    headers.update(route.headers)
    pool = _pool(route.base_url)
    slot = pool.acquire()
    try:
        return await _chat(pool.clients[slot], route, body, asm, headers, stream)
    finally:
        pool.release(slot)


async def _chat(client: Any, route: Route, body: dict[str, Any], asm: Assembler,
                headers: dict[str, str], stream: bool) -> Assembled:
    import httpx2
    provider = route.provider
    idle = idle_timeout(route)
    content = json.dumps(body, ensure_ascii=False).encode()
    try:
        request = client.build_request(
            "POST", route.url, headers=headers, content=content,
            timeout=httpx2.Timeout(connect=connect_timeout(route), read=idle, write=60.0,
                                   pool=None))
    except (httpx2.InvalidURL, ValueError) as e:  # check_base_url let through what httpx refuses
        raise ConfigError(f"{provider}: base_url {route.base_url!r} is not usable: "
                          f"{_reason(e)}") from None
    try:
        response = await client.send(request, stream=True)
    except httpx2.ConnectTimeout:
        raise ConnectError(f"timed out connecting to {_host(route)} (after "
                           f"{_secs(connect_timeout(route))} s)", provider=provider) from None
    except httpx2.ReadTimeout:
        raise IdleTimeoutError(f"no data from {_host(route)} for {_secs(idle)} s while waiting "
                               "for the answer", provider=provider) from None
    except httpx2.TimeoutException:
        raise ConnectError(f"timed out sending the request to {_host(route)}",
                           provider=provider) from None
    except httpx2.HTTPError as e:
        raise ConnectError(f"cannot reach {_host(route)}: {_reason(e)}", provider=provider) from None
    try:
        if response.status_code >= 300:
            raw = await _read_limited(response)
            msg, code = extract_message(raw, response.reason_phrase or "error")
            err = error_for_status(response.status_code, redact(msg, route.api_key), code=code,
                                   provider=provider,
                                   retry_after=parse_retry_after(response.headers.get("retry-after")))
            if isinstance(err, AuthError):
                err.note = key_hint(route)
            raise err
        ctype = response.headers.get("content-type", "")
        if stream and "event-stream" in ctype or stream and "json" not in ctype:
            try:
                await _read_watched(response, asm, idle)
            except TimeoutError:  # the idle watch fired
                raise _idle(asm, route, idle) from None
            except LineTooLong as e:
                raise StreamError(str(e), provider=provider) from None
        else:  # a non-streamed body (also from a server that ignored stream: true)
            raw = await response.aread()
            try:
                data = no_lone_surrogates(json.loads(raw))
            except (ValueError, RecursionError):
                raise StreamError("the response is not valid JSON", provider=provider) from None
            asm.add_response(data)
    except httpx2.TimeoutException:
        raise _idle(asm, route, idle) from None
    except httpx2.HTTPError as e:
        raise _broken(asm, provider, f"connection lost: {_reason(e)}") from None
    except ProviderError as e:
        if route.api_key:
            e.message = redact(e.message, route.api_key)
            e.args = (e.message,)
        raise
    finally:
        await response.aclose()
    return asm.result()


def key_hint(route: Route) -> str:
    """Where the key that was sent came from (never the key itself), for a 401/403."""
    src = route.key_source or ""
    if not route.api_key:
        return "no key was sent"
    if src.startswith("env:"):
        return f"the key came from ${src[4:]}"
    where = {"keys.toml": "keys.toml (`loomex keys set {p}`)",
             "config.toml": "api_key in config.toml [providers.{p}]",
             "api_key_cmd": "api_key_cmd in config.toml [providers.{p}]",
             "argument": "the program (api_key=...)"}.get(src)
    return f"the key came from {where.format(p=route.provider)}" if where else \
        "the key's source is unknown"


def _idle(asm: Assembler, route: Route, idle: float) -> ProviderError:
    e = IdleTimeoutError(f"no data from {_host(route)} for {_secs(idle)} s while reading the "
                         "answer", provider=route.provider)
    e.after_output = asm.emitted
    return e


def _secs(value: float) -> str:
    return f"{value:g}"


def _is_done(data: bytes) -> bool:
    return data.strip() == b"[DONE]"


#: what is read after ``[DONE]`` so that the connection can be reused: normally nothing but
#: the end of the chunked body; a server that sends more is not waited for
_DRAIN_BYTES = 64 * 1024
_DRAIN_SECONDS = 1.0


async def _drain(chunks: Any) -> None:
    """Reads the rest of a body after ``[DONE]``. A response closed before its end cannot go
    back to the pool, so without this every streamed call would open a new connection (and
    pay a new TLS handshake). Bounded in bytes and time; any failure here is ignored (the
    answer is complete)."""
    n = 0
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for raw in chunks:
                n += len(raw)
                if n > _DRAIN_BYTES:
                    return
    except Exception:  # noqa: BLE001 - TimeoutError, a connection error: the pool drops it
        return


async def _read_watched(response: Any, asm: Assembler, idle: float) -> None:
    """:func:`_read_stream` under an :class:`IdleWatch`: TimeoutError when no event arrives
    for ``idle`` seconds (keep-alive comments do not count)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(None) as cm:
        watch = IdleWatch(loop, idle, cm)
        try:
            await _read_stream(response, asm, watch)
        finally:
            watch.stop()


class _Unwatched:
    __slots__ = ("busy",)


async def _read_stream(response: Any, asm: Assembler, watch: Any = None) -> None:
    """Reads the SSE body into ``asm``, setting ``watch.busy`` after each read that completed
    an event (needs no event loop of its own: the property tests drive it by hand)."""
    if watch is None:
        watch = _Unwatched()
    parser = SSEParser()
    loads = loads_event
    add = asm.add
    done = False
    bad = 0
    chunks = response.aiter_bytes()
    async for raw in chunks:
        events = parser.feed(raw)
        if events:
            watch.busy = True
        for event, data in events:
            if event is None:
                try:
                    chunk = loads(data)
                except ValueError:  # "[DONE]" is not JSON: checked only here, off the hot path
                    if _is_done(data):
                        done = True
                        break
                    bad += 1  # a garbage line: skipped; what is valid is kept
                    continue
                add(chunk)
            elif event == "error":
                asm.add_error_event(data)
        if done:
            await _drain(chunks)
            return
    for event, data in parser.close():
        if event == "error":
            asm.add_error_event(data)
        elif event is None and not _is_done(data):
            try:
                add(loads(data))
            except ValueError:
                bad += 1
    if asm.finish_reason is None and not (asm.usage and asm.emitted):
        # no [DONE], no finish_reason: the body was cut short
        if asm.emitted:
            raise _broken(asm, asm.provider, "the stream ended before the model finished")
        raise StreamError("the provider sent no usable data"
                          + (f" ({bad} malformed lines)" if bad else ""), provider=asm.provider)


def _broken(asm: Assembler, provider: str | None, message: str) -> ProviderError:
    if asm.emitted:
        e: ProviderError = StreamError(message, provider=provider)
        e.after_output = True
        return e
    return ConnectError(message, provider=provider)  # nothing streamed yet: may be retried


async def _read_limited(response: Any) -> bytes:
    out = bytearray()
    async for chunk in response.aiter_bytes():
        out += chunk
        if len(out) > _MAX_ERROR_BODY:
            break
    return bytes(out)


def _host(route: Route) -> str:
    from urllib.parse import urlsplit
    return urlsplit(route.base_url).netloc or route.base_url


def _reason(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text.splitlines()[0][:200]
