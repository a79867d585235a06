"""Telemetry events as tuples, after the seed's ``:telemetry`` calls.

    telemetry.attach("audit", [("loomex", "tool", "stop")], fn)   # fn(event, measurements, metadata)
    telemetry.detach("audit")
    telemetry.attach_default_logger()                             # logs every event via logging

Events: agent.start/stop, step.start/stop, llm.start/stop/retry, tool.start/stop/error/progress,
context.compact (made from the run's typed events by ``telemetry_sink.TelemetrySink``, whose
``TABLE`` lists each one's measurements and metadata), and tool.approval.
A handler that raises is detached with a warning and never breaks a run. With no handler
attached a run adds no telemetry sink at all.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

Event = tuple[str, ...]
Handler = Callable[[Event, dict[str, Any], dict[str, Any]], Any]

EVENTS: tuple[Event, ...] = (
    ("loomex", "agent", "start"), ("loomex", "agent", "stop"),
    ("loomex", "step", "start"), ("loomex", "step", "stop"),
    ("loomex", "llm", "start"), ("loomex", "llm", "stop"), ("loomex", "llm", "retry"),
    ("loomex", "tool", "start"), ("loomex", "tool", "stop"), ("loomex", "tool", "error"),
    ("loomex", "tool", "approval"), ("loomex", "tool", "progress"),
    ("loomex", "context", "compact"),
)

log = logging.getLogger("loomex.telemetry")

_by_event: dict[Event, list[tuple[str, Handler]]] = {}
_ids: dict[str, list[Event]] = {}


def attach(handler_id: str, events: Iterable[Event] | Event, fn: Handler) -> None:
    """Calls ``fn(event, measurements, metadata)`` for each of ``events``."""
    if handler_id in _ids:
        raise ValueError(f"telemetry handler {handler_id!r} is already attached")
    evs = [tuple(events)] if isinstance(events, tuple) and events and isinstance(events[0], str) \
        else [tuple(e) for e in events]  # type: ignore[union-attr]
    _ids[handler_id] = evs
    for e in evs:
        _by_event.setdefault(e, []).append((handler_id, fn))


def detach(handler_id: str) -> bool:
    evs = _ids.pop(handler_id, None)
    if evs is None:
        return False
    for e in evs:
        hs = [h for h in _by_event.get(e, []) if h[0] != handler_id]
        if hs:
            _by_event[e] = hs
        else:
            _by_event.pop(e, None)
    return True


def handlers() -> list[str]:
    return list(_ids)


def execute(event: Event, measurements: dict[str, Any], metadata: dict[str, Any]) -> None:
    hs = _by_event.get(event)
    if not hs:
        return
    for handler_id, fn in list(hs):
        try:
            fn(event, measurements, metadata)
        except Exception as e:  # noqa: BLE001 - a handler must never break a run
            detach(handler_id)
            log.warning("telemetry handler %r raised %s and was detached", handler_id,
                        type(e).__name__)


def enabled(event: Event) -> bool:
    return event in _by_event


def attach_default_logger(level: int = logging.INFO, logger: logging.Logger | None = None) -> str:
    """Logs every event through ``logging`` (logger ``loomex.telemetry``); returns its id."""
    lg = logger or log

    def _log(event: Event, measurements: dict[str, Any], metadata: dict[str, Any]) -> None:
        meta = {k: v for k, v in metadata.items() if k not in ("agent", "messages", "ctx")}
        lg.log(level, "%s %s %s", ".".join(event), measurements, meta)

    handler_id = "loomex-default-logger"
    detach(handler_id)
    attach(handler_id, EVENTS, _log)
    return handler_id
