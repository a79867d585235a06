"""How a running tool says how far it is.

Inside a tool's ``execute`` (plain or ``async``, any thread), :func:`report_progress` sends a
:class:`~.events.ToolProgress` event for the call being run; :func:`progress_reporter` gives
the same as a callable to keep, for work that reports from elsewhere (the MCP client hears a
server's notifications on its own loop). Reports are dropped outside a tool call, and once
the call has ended (a late notification never follows the call's result).
"""

from __future__ import annotations

import asyncio
import math
from contextvars import ContextVar
from typing import Any, Callable

from .events import ToolProgress

#: the longest message kept (the face cuts it to its width anyway)
MAX_MESSAGE = 500

Reporter = Callable[..., None]

_CURRENT: ContextVar["_Call | None"] = ContextVar("loomex_tool_progress", default=None)


class _Call:
    """One running call's reporter: thread-safe, silent once ``done``."""

    __slots__ = ("id", "name", "step", "emit", "loop", "done")

    def __init__(self, call_id: str, name: str, step: int, emit: Callable[[Any], None]) -> None:
        self.id, self.name, self.step, self.emit = call_id, name, step, emit
        self.loop = asyncio.get_running_loop()
        self.done = False

    def __call__(self, progress: Any, total: Any = None, message: Any = None) -> None:
        if self.done or not _number(progress):
            return
        event = ToolProgress(self.id, self.name, float(progress),
                             float(total) if _number(total) else None,
                             str(message)[:MAX_MESSAGE] if message is not None else None,
                             self.step)
        try:
            here = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            here = False
        if here:
            self._emit(event)
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._emit, event)

    def _emit(self, event: ToolProgress) -> None:
        if not self.done:
            self.emit(event)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def begin(call_id: str, name: str, step: int, emit: Callable[[Any], None]) -> _Call:
    """Makes the call the current one in this context (tool_calls.py, before ``execute``)."""
    call = _Call(call_id, name, step, emit)
    _CURRENT.set(call)
    return call


def progress_reporter() -> Reporter | None:
    """``report(progress, total=None, message=None)`` for the tool call running in this
    context, usable from any thread; None outside a tool call."""
    return _CURRENT.get()


def report_progress(progress: float, total: float | None = None,
                    message: str | None = None) -> None:
    """Reports the running tool call's progress (nothing happens outside a tool call)."""
    call = _CURRENT.get()
    if call is not None:
        call(progress, total, message)
