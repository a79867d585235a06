"""Long-lived agents, after the seed's GenServer agents.

    handle = await astart_agent(MathAgent)      # in the running event loop
    r = await handle.call("What is 2 + 2?")
    r = await handle.call("Now multiply that by 10")   # sees the history
    handle.get_messages(); await handle.stop()

    handle = start_agent(MathAgent)             # the blocking form: its own loop thread
    handle.call("What is 2 + 2?"); handle.stop()

Calls to one handle are served one at a time in arrival order (a mailbox); many handles run
concurrently in one loop. A call that fails raises its error (carrying ``.result``) and the
handle stays usable, with what the failed call produced kept in the history. ``cancel()``
stops the call in flight (Ctrl-C in the REPL); ``stop()`` also ends the handle.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterable

from .agent import Agent
from .messages import Message
from .result import RunResult

_STOP = object()


class AgentHandle:
    """An agent with a conversation that outlives one run. Create it inside a running loop."""

    def __init__(self, agent: Agent | type[Agent], messages: Iterable[Message] = (), *,
                 sink: Any = None, **run_options: Any) -> None:
        self.agent = agent() if isinstance(agent, type) else agent
        self._messages: list[Message] = list(messages)
        self._sink = sink
        self._options = run_options
        self._mailbox: asyncio.Queue[Any] = asyncio.Queue()
        self._current: asyncio.Task[RunResult] | None = None
        self._stopped = False
        #: the result of the last call, also of one that failed or was cancelled (partial)
        self.last_result: RunResult | None = None
        self._worker = asyncio.get_running_loop().create_task(self._serve())

    # -- the public calls ---------------------------------------------------------------
    async def call(self, prompt: str | Message | Iterable[Message], *, sink: Any = None,
                   **options: Any) -> RunResult:
        """Adds ``prompt`` to the conversation, runs the agent, returns the result."""
        return await self.submit(prompt, sink=sink, **options)

    def submit(self, prompt: str | Message | Iterable[Message], *, sink: Any = None,
               **options: Any) -> "asyncio.Future[RunResult]":
        """Queues a call and returns its future at once (the ``cast`` of a GenServer)."""
        if self._stopped:
            raise RuntimeError("this agent handle was stopped")
        if isinstance(prompt, str):
            new = [Message.user(prompt)]
        elif isinstance(prompt, Message):
            new = [prompt]
        else:
            new = list(prompt)
        fut: asyncio.Future[RunResult] = asyncio.get_running_loop().create_future()
        self._mailbox.put_nowait((new, sink, options, fut))
        return fut

    def get_messages(self) -> list[Message]:
        return list(self._messages)

    def reset(self, messages: Iterable[Message] = ()) -> None:
        self._messages = list(messages)

    def cancel(self) -> bool:
        """Cancels the call in flight, if any (its caller gets CancelledError); the handle
        stays usable and keeps what was streamed."""
        if self._current is not None and not self._current.done():
            self._current.cancel()
            return True
        return False

    @property
    def busy(self) -> bool:
        return self._current is not None and not self._current.done()

    async def stop(self) -> None:
        """Cancels the call in flight and every queued call, then ends the handle."""
        if self._stopped:
            return
        self._stopped = True
        self.cancel()
        self._mailbox.put_nowait(_STOP)
        try:
            await self._worker
        except asyncio.CancelledError:
            pass

    # -- the mailbox --------------------------------------------------------------------
    async def _serve(self) -> None:
        from .loop import arun
        while True:
            item = await self._mailbox.get()
            if item is _STOP:
                break
            new, sink, options, fut = item
            if fut.cancelled():
                continue
            if self._stopped:
                fut.cancel()
                continue
            sinks = [s for s in (self._sink, sink) if s is not None]
            run = asyncio.ensure_future(arun(self.agent, [*self._messages, *new], sink=sinks or None,
                                             **{**self._options, **options}))
            self._current = run
            try:
                result = await asyncio.shield(run)
            except asyncio.CancelledError as e:
                if not run.done():  # the worker itself was cancelled: take the run down too
                    run.cancel()
                    await asyncio.gather(run, return_exceptions=True)
                partial = getattr(e, "result", None) or _result_of(run)
                if partial is not None:
                    self._messages = partial.messages
                self.last_result = partial
                if not fut.done():
                    fut.cancel()
                if self._stopped:
                    break
                continue
            except BaseException as e:  # noqa: BLE001 - handed to the caller; the handle lives on
                partial = getattr(e, "result", None)
                if partial is not None:
                    self._messages = partial.messages
                self.last_result = partial
                if not fut.done():
                    fut.set_exception(e)
                continue
            finally:
                self._current = None
            self._messages = result.messages
            self.last_result = result
            if not fut.done():
                fut.set_result(result)
        while not self._mailbox.empty():  # calls that were queued behind a stop
            item = self._mailbox.get_nowait()
            if item is not _STOP and not item[3].done():
                item[3].cancel()


def _result_of(task: "asyncio.Task[Any]") -> RunResult | None:
    if not task.done() or not task.cancelled():
        return None
    try:
        task.result()
    except asyncio.CancelledError as e:
        return getattr(e, "result", None)
    return None


async def astart_agent(agent: Agent | type[Agent], messages: Iterable[Message] = (),
                       **options: Any) -> AgentHandle:
    """The async form: a handle served by the running event loop."""
    return AgentHandle(agent, messages, **options)


class SyncAgentHandle:
    """The blocking form: the handle lives on its own event loop in a daemon thread."""

    def __init__(self, agent: Agent | type[Agent], messages: Iterable[Message] = (),
                 **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="loomex-agent",
                                        daemon=True)
        self._thread.start()
        self._handle: AgentHandle = self._run(astart_agent(agent, messages, **options))

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def call(self, prompt: str | Message | Iterable[Message], **options: Any) -> RunResult:
        return self._run(self._handle.call(prompt, **options))

    def get_messages(self) -> list[Message]:
        return self._handle.get_messages()

    def cancel(self) -> None:
        """Cancels the call in flight, if any (from any thread)."""
        self._loop.call_soon_threadsafe(self._handle.cancel)

    def stop(self) -> None:
        if not self._loop.is_running():
            return

        async def shutdown() -> None:
            await self._handle.stop()
            from ..wire.client import close_client
            await close_client()
        self._run(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> "SyncAgentHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_agent(agent: Agent | type[Agent], messages: Iterable[Message] = (),
                **options: Any) -> SyncAgentHandle:
    """The blocking form of :func:`astart_agent` (for scripts and notebooks without a loop)."""
    return SyncAgentHandle(agent, messages, **options)
