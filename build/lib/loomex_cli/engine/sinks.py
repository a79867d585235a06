"""Sinks: where a run's events go.

A sink is a callable (``print_event(ev)``), an ``async def`` (awaited in order by a
consumer task), an ``asyncio.Queue`` (the BEAM "send to a process" sink: ``put_nowait``), or
a list of sinks. A sink that raises is detached with a warning; the run goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Callable

log = logging.getLogger("loomex")


def _noop(event: Any) -> None:
    return None


class Dispatcher:
    """Holds the resolved sinks of one run. ``emit`` is the per-event hot path."""

    __slots__ = ("emit", "_tasks", "_queues")

    def __init__(self, sink: Any) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._queues: list[asyncio.Queue[Any]] = []
        fns = [f for f in (self._resolve(s) for s in _flatten(sink)) if f is not None]
        if not fns:
            self.emit: Callable[[Any], None] = _noop
        elif len(fns) == 1:
            self.emit = fns[0]
        else:
            def fan_out(event: Any, _fns: list[Callable[[Any], None]] = fns) -> None:
                for f in _fns:
                    f(event)
            self.emit = fan_out

    def _resolve(self, sink: Any) -> Callable[[Any], None] | None:
        if sink is None:
            return None
        if isinstance(sink, asyncio.Queue):
            return _guard(sink.put_nowait, sink)
        if inspect.iscoroutinefunction(sink) or inspect.iscoroutinefunction(
                getattr(sink, "__call__", None)):
            q: asyncio.Queue[Any] = asyncio.Queue()
            self._queues.append(q)
            self._tasks.append(asyncio.get_running_loop().create_task(_consume(q, sink)))
            return q.put_nowait
        if callable(sink):
            return _guard(sink, sink)
        raise TypeError(f"not a sink: {sink!r} (a callable, an asyncio.Queue or a list)")

    async def aclose(self) -> None:
        """Lets async sinks finish what was sent to them."""
        for q in self._queues:
            q.put_nowait(_STOP)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


_STOP = object()


async def _consume(q: "asyncio.Queue[Any]", sink: Callable[[Any], Any]) -> None:
    broken = False
    while True:
        event = await q.get()
        if event is _STOP:
            return
        if broken:
            continue
        try:
            await sink(event)
        except Exception as e:  # noqa: BLE001
            broken = True
            log.warning("sink %r raised %s and was detached", sink, type(e).__name__)


def _guard(fn: Callable[[Any], Any], sink: Any) -> Callable[[Any], None]:
    state = {"ok": True}

    def call(event: Any) -> None:
        if state["ok"]:
            try:
                fn(event)
            except Exception as e:  # noqa: BLE001 - a sink must not corrupt the run
                state["ok"] = False
                log.warning("sink %r raised %s and was detached", sink, type(e).__name__)
    return call


def _flatten(sink: Any) -> list[Any]:
    if isinstance(sink, (list, tuple)):
        out: list[Any] = []
        for s in sink:
            out.extend(_flatten(s))
        return out
    return [sink]
