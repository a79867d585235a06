"""Telemetry as a sink over the typed events: each moment of a run is one typed event, and
this sink turns it into the seed's ``:telemetry``-style tuple (``engine/telemetry.py``).

``TABLE`` is the contract (a test checks every emitted event against it): the event name, its
measurements and its metadata. Every event also carries ``run_id`` in its metadata.
``llm.stop`` and ``step.stop`` are emitted when a call or a step ends in an error too.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from . import telemetry
from .events import (Compacted, MessageAdded, ModelCallFinish, ModelCallStart,
                     ReasoningDelta, Retrying, RunError, RunFinished, RunStart, StepFinish,
                     StepStart, TextDelta, ToolCallComplete, ToolCallDelta, ToolCallStart,
                     ToolProgress, ToolResult, ToolStart)

#: event -> (measurements, metadata); run_id is added to every metadata
TABLE: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    name: (frozenset(m.split()), frozenset(md.split()) | {"run_id"}) for name, m, md in (
        ("agent.start", "system_time", "agent context model"),
        ("agent.stop", "duration steps", "agent result finish_reason"),
        ("step.start", "system_time", "agent step"),
        ("step.stop", "duration", "agent step finish_reason"),
        ("llm.start", "system_time", "model message_count step"),
        ("llm.stop", "duration input_tokens output_tokens", "model finish_reason step"),
        ("llm.retry", "delay_ms", "model attempt error step"),
        ("tool.start", "system_time", "tool tool_call_id"),
        ("tool.stop", "duration", "tool tool_call_id status is_error"),
        ("tool.error", "duration", "tool tool_call_id error status"),
        ("tool.progress", "progress total", "tool tool_call_id message step"),
        ("context.compact", "tokens_before tokens_after", "removed kept summarized"),
    )}

#: events with no telemetry of their own (the stream's pieces; what a store saves)
SILENT = (TextDelta, ReasoningDelta, ToolCallStart, ToolCallDelta, ToolCallComplete,
          MessageAdded)


def _ev(name: str) -> tuple[str, ...]:
    return ("loomex", *name.split("."))


class TelemetrySink:
    """One run's telemetry. Add it to a run's sinks only when a handler is attached."""

    __slots__ = ("agent", "model", "run_id", "_step", "_step_t0")

    def __init__(self) -> None:
        self.agent = self.model = self.run_id = ""
        self._step = 0
        self._step_t0 = 0.0

    def _out(self, name: str, measurements: dict[str, Any], metadata: dict[str, Any]) -> None:
        metadata["run_id"] = self.run_id
        telemetry.execute(_ev(name), measurements, metadata)

    def __call__(self, event: Any) -> None:  # noqa: C901 - one case per event class
        match event:
            case RunStart():
                self.agent, self.model, self.run_id = event.agent, event.model, event.run_id
                self._out("agent.start", {"system_time": time.time()},
                          {"agent": event.agent, "context": event.context,
                           "model": event.model})
            case StepStart():
                self._step, self._step_t0 = event.step, time.perf_counter()
                self._out("step.start", {"system_time": time.time()},
                          {"agent": self.agent, "step": event.step})
            case ModelCallStart():
                self._out("llm.start", {"system_time": time.time()},
                          {"model": event.model, "message_count": event.message_count,
                           "step": event.step})
            case ModelCallFinish():
                u = event.usage or {}
                self._out("llm.stop", {"duration": event.duration_ms,
                                       "input_tokens": u.get("prompt_tokens"),
                                       "output_tokens": u.get("completion_tokens")},
                          {"model": event.model, "finish_reason": event.finish_reason,
                           "step": event.step})
            case Retrying():
                self._out("llm.retry", {"delay_ms": event.delay_s * 1000},
                          {"model": self.model, "attempt": event.attempt,
                           "error": event.error, "step": event.step})
            case ToolStart():
                self._out("tool.start", {"system_time": time.time()},
                          {"tool": event.name, "tool_call_id": event.id})
            case ToolResult():
                if event.is_error:
                    self._out("tool.error", {"duration": event.duration_ms},
                              {"tool": event.name, "tool_call_id": event.id,
                               "error": event.content, "status": event.status})
                self._out("tool.stop", {"duration": event.duration_ms},
                          {"tool": event.name, "tool_call_id": event.id,
                           "status": event.status, "is_error": event.is_error})
            case ToolProgress():
                self._out("tool.progress", {"progress": event.progress, "total": event.total},
                          {"tool": event.name, "tool_call_id": event.id,
                           "message": event.message, "step": event.step})
            case StepFinish():
                self._close_step(event.finish_reason)
            case Compacted():
                self._out("context.compact", {"tokens_before": event.tokens_before,
                                              "tokens_after": event.tokens_after},
                          {"removed": event.removed, "kept": event.kept,
                           "summarized": event.summarized})
            case RunError():
                self._close_step("error")
            case RunFinished():
                r = event.result
                self._close_step(r.finish_reason)
                self._out("agent.stop", {"duration": r.duration_ms, "steps": r.steps},
                          {"agent": self.agent, "result": r, "finish_reason": r.finish_reason})
            case TextDelta() | ReasoningDelta() | ToolCallStart() | ToolCallDelta() \
                    | ToolCallComplete() | MessageAdded():
                pass
            case _:
                raise TypeError(f"TelemetrySink does not handle {type(event).__name__}")

    def _close_step(self, finish_reason: str | None) -> None:
        """step.stop for the open step, if any (once: on its StepFinish, or on the error or
        the end that cut it short)."""
        if not self._step:
            return
        step, self._step = self._step, 0
        self._out("step.stop", {"duration": (time.perf_counter() - self._step_t0) * 1000},
                  {"agent": self.agent, "step": step, "finish_reason": finish_reason})


def sink_if_enabled() -> TelemetrySink | None:
    """A sink for the next run when any telemetry handler is attached (else None: no cost)."""
    return TelemetrySink() if telemetry.handlers() else None


#: makes a run's OpenTelemetry sink (set by ``engine.otel.instrument``); None: no tracing
_tracing: Callable[[], Any] | None = None
_env_checked = False
OTEL_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def set_tracing(factory: Callable[[], Any] | None) -> None:
    global _tracing, _env_checked
    _tracing = factory
    _env_checked = factory is not None


def tracing_sink() -> Any:
    """The next run's OpenTelemetry sink, or None (``engine.otel`` sets the factory; the loop
    switches it on from the environment)."""
    return _tracing() if _tracing is not None else None


def tracing_from_env() -> bool:
    """True once, for the first run of a process whose environment names an OTLP endpoint and
    that has no tracing yet: the caller then imports ``engine.otel`` (and only then)."""
    global _env_checked
    if _tracing is not None or _env_checked:
        return False
    _env_checked = True
    return any(os.environ.get(v) for v in OTEL_ENV)
