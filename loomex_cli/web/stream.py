"""``stream_agent``: one agent run as a UI message stream, for any Python web framework.

    from loomex_cli.web import stream_agent

    @app.post("/api/chat")                      # FastAPI / Starlette
    async def chat(request: Request):
        try:
            headers, body = stream_agent(agent, await request.json())
        except BadRequest as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return StreamingResponse(body, headers=dict(headers))

The run starts when the body is first iterated and is cancelled (tools included) when the
iteration stops early: a framework that stops reading on a client disconnect cancels it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Callable

from ..engine.messages import Message
from .convert import request_messages, ui_to_messages
from .protocol import DONE, KEEPALIVE, UI_STREAM_HEADERS, UIMessageStream, sse

log = logging.getLogger("loomex.web")

_END = object()
_KEEPALIVE = object()
#: the name of every run's task (``loomex serve`` cancels them by it when it shuts down)
RUN_TASK_NAME = "loomex-web-run"
#: seconds a cancelled run is given to wind down (tools are cancelled; threads cannot be)
CANCEL_WAIT_S = 5.0


def stream_agent(agent: Any, ui_messages: Any, *, approver: Any = None, route: Any = None,
                 context: dict[str, Any] | None = None, ask_human: Any = None,
                 allow_system: bool = False, error_text: Callable[[Any], str] | None = None,
                 keepalive: float | None = 15.0, accepts_images: bool | None = None,
                 ) -> tuple[list[tuple[str, str]], AsyncIterator[bytes]]:
    """``(headers, body)`` for a chat request: the response headers of a UI message stream
    and an async iterator of its SSE bytes (one item per batch of engine events that were ready
    together, ``data: [DONE]`` last).

    ``ui_messages`` is the request body (``{"messages": [...], ...}``) or its messages list.
    Raises :class:`~loomex_cli.web.convert.BadRequest` (a ValueError) at once when it is
    malformed, before anything runs. ``approver``, ``route``, ``context`` and ``ask_human``
    go to :func:`~loomex_cli.engine.loop.arun`. ``keepalive``: seconds of silence after
    which an SSE comment is sent (None: never). ``error_text(RunError | exception) -> str``
    decides what the user is told when the run fails. ``accepts_images``: whether the model
    takes images (``ResolvedModel.accepts_images``); False refuses a request holding one
    (BadRequest), None (unknown) sends them.
    """
    messages = ui_to_messages(ui_messages, allow_system=allow_system,
                              accepts_images=accepts_images,
                              model=str(getattr(agent, "model", "") or ""))
    last = request_messages(ui_messages)[-1]
    message_id = None
    if last.get("role") == "assistant":
        # the client appends this response to that message: keep its id (or send none)
        mid = last.get("id")
        message_id = mid if isinstance(mid, str) else ""
    encoder = UIMessageStream(message_id=message_id, error_text=error_text)
    kwargs = {"approver": approver, "route": route, "context": context, "ask_human": ask_human}
    return list(UI_STREAM_HEADERS), _body(agent, messages, encoder, kwargs, keepalive)


async def _body(agent: Any, messages: list[Message], enc: UIMessageStream,
                kwargs: dict[str, Any], keepalive: float | None) -> AsyncIterator[bytes]:
    from ..engine.loop import arun

    queue: asyncio.Queue[Any] = asyncio.Queue()
    failure: list[BaseException] = []

    async def run() -> None:
        try:
            await arun(agent, messages, sink=queue, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - reported in the stream
            failure.append(e)
        finally:
            queue.put_nowait(_END)

    loop = asyncio.get_running_loop()
    task = loop.create_task(run(), name=RUN_TASK_NAME)
    # keep-alive: a timer puts a marker in the queue after ``keepalive`` seconds without a
    # write (not a wait_for per event: that is a task and a timer for every event)
    sent = [loop.time()]
    timer: list[asyncio.TimerHandle] = []

    def tick() -> None:
        idle = loop.time() - sent[0]
        if idle >= keepalive:  # type: ignore[operator]
            queue.put_nowait(_KEEPALIVE)
            sent[0] = loop.time()
            idle = 0.0
        timer[:] = [loop.call_later(keepalive - idle, tick)]  # type: ignore[operator]

    if keepalive:
        timer.append(loop.call_later(keepalive, tick))
    try:
        # ``start`` goes out with the first events (the encoder adds it): one write fewer
        chunks: list[dict[str, Any]] = []
        while True:
            ev = await queue.get()
            if ev is _KEEPALIVE:
                yield KEEPALIVE
                continue
            # the events already waiting go out with it: one write, not one per event
            chunks = []
            while ev is not _END:
                if ev is not _KEEPALIVE:
                    chunks += enc.event(ev)
                if queue.empty():
                    break
                ev = queue.get_nowait()
            if ev is _END:
                break
            if chunks:
                sent[0] = loop.time()
                yield b"".join(map(sse, chunks))
        tail = chunks  # the last events go out with the end of the stream
        if failure:
            err = failure[0]
            from ..wire.errors import LoomexError
            if not isinstance(err, LoomexError):
                log.error("the agent run failed", exc_info=err)
            tail += enc.error(err)
        tail += enc.finish()
        yield b"".join(map(sse, tail)) + DONE
    finally:
        for t in timer:
            t.cancel()
        if not task.done():
            task.cancel()
            try:
                await asyncio.wait({task}, timeout=CANCEL_WAIT_S)
            except BaseException:  # noqa: BLE001 - cancelled again while waiting: give up
                pass
