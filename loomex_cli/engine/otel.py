"""Runs as OpenTelemetry traces (the optional extra ``loomex[otel]``): a sink over the typed
events that opens a span per agent run, per model call and per tool call, with the GenAI
semantic-convention attributes (``gen_ai.operation.name``, ``gen_ai.request.model``,
``gen_ai.usage.input_tokens``/``output_tokens``, ``gen_ai.tool.name``, ``gen_ai.tool.call.id``).

Switched on by the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``): the
first run then exports over OTLP/HTTP. In code::

    from loomex_cli.engine import otel
    otel.instrument()                          # the global tracer provider
    otel.instrument(tracer_provider=provider)  # or your own

This module is imported only then: a run without it never imports opentelemetry.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import telemetry_sink
from .events import (Compacted, MessageAdded, ModelCallFinish, ModelCallStart, ReasoningDelta,
                     Retrying, RunError, RunFinished, RunStart, StepFinish, StepStart,
                     TextDelta, ToolCallComplete, ToolCallDelta, ToolCallStart, ToolProgress,
                     ToolResult, ToolStart)

SCOPE = "loomex"
_provider: Any = None  # the provider made from the environment (flushed by flush())


def _split(model: str) -> tuple[str, str]:
    provider, _, name = model.partition("/")
    return (provider, name) if name else ("", model)


class OtelSink:
    """One run's spans: the run, and under it each model call and each tool call."""

    __slots__ = ("tracer", "run", "model", "provider", "call", "tools", "usage")

    def __init__(self, tracer: Any) -> None:
        self.tracer = tracer
        self.run: Any = None
        self.call: Any = None
        self.tools: dict[str, Any] = {}
        self.model = self.provider = ""
        self.usage = [0, 0]

    def _child(self, name: str, kind: Any, attrs: dict[str, Any]) -> Any:
        ctx = trace.set_span_in_context(self.run) if self.run is not None else None
        return self.tracer.start_span(name, context=ctx, kind=kind, attributes=attrs)

    def __call__(self, event: Any) -> None:  # noqa: C901 - one case per event class
        match event:
            case RunStart():
                self.provider, self.model = _split(event.model)
                self.run = self.tracer.start_span(
                    f"invoke_agent {event.agent}", kind=SpanKind.INTERNAL, attributes={
                        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": event.agent,
                        "gen_ai.request.model": self.model, "gen_ai.provider.name": self.provider,
                        "gen_ai.conversation.id": event.run_id})
            case ModelCallStart():
                self.call = self._child(f"chat {self.model}", SpanKind.CLIENT, {
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": self.model,
                    "gen_ai.provider.name": self.provider, "loomex.step": event.step,
                    "loomex.message_count": event.message_count})
            case ModelCallFinish():
                span, self.call = self.call, None
                if span is None:
                    return
                u = event.usage or {}
                inp, out = u.get("prompt_tokens"), u.get("completion_tokens")
                if isinstance(inp, int):
                    span.set_attribute("gen_ai.usage.input_tokens", inp)
                    self.usage[0] += inp
                if isinstance(out, int):
                    span.set_attribute("gen_ai.usage.output_tokens", out)
                    self.usage[1] += out
                if event.finish_reason:
                    span.set_attribute("gen_ai.response.finish_reasons", [event.finish_reason])
                if event.error is not None or event.finish_reason == "cancelled":
                    span.set_status(Status(StatusCode.ERROR, event.error or "cancelled"))
                    span.set_attribute("error.type", event.finish_reason or "error")
                span.end()
            case ToolStart():
                self.tools[event.id] = self._child(f"execute_tool {event.name}",
                                                   SpanKind.INTERNAL, {
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": event.name,
                    "gen_ai.tool.call.id": event.id, "loomex.step": event.step})
            case ToolResult():
                span = self.tools.pop(event.id, None)
                if span is None:  # a call that never started (denied, unknown, cancelled)
                    span = self._child(f"execute_tool {event.name}", SpanKind.INTERNAL, {
                        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": event.name,
                        "gen_ai.tool.call.id": event.id})
                span.set_attribute("loomex.tool.status", event.status)
                if event.is_error:
                    span.set_status(Status(StatusCode.ERROR, event.status))
                    span.set_attribute("error.type", event.status)
                span.end()
            case Retrying():
                target = self.call or self.run
                if target is not None:
                    target.add_event("retry", {"attempt": event.attempt,
                                               "delay_ms": event.delay_s * 1000,
                                               "error": event.error})
            case Compacted():
                if self.run is not None:
                    self.run.add_event("context.compact", {
                        "tokens_before": event.tokens_before, "tokens_after": event.tokens_after,
                        "removed": event.removed, "kept": event.kept})
            case RunError():
                if self.run is not None:
                    self.run.set_status(Status(StatusCode.ERROR, event.error))
                    self.run.set_attribute("error.type", event.kind)
            case RunFinished():
                self._end(event)
            case StepStart() | StepFinish() | TextDelta() | ReasoningDelta() | ToolCallStart() \
                    | ToolCallDelta() | ToolCallComplete() | MessageAdded() | ToolProgress():
                pass
            case _:
                raise TypeError(f"OtelSink does not handle {type(event).__name__}")

    def _end(self, event: RunFinished) -> None:
        for span in [self.call, *self.tools.values()]:
            if span is not None:
                span.end()
        self.call, self.tools = None, {}
        if self.run is None:
            return
        r = event.result
        self.run.set_attribute("gen_ai.usage.input_tokens", self.usage[0])
        self.run.set_attribute("gen_ai.usage.output_tokens", self.usage[1])
        self.run.set_attribute("loomex.steps", r.steps)
        self.run.set_attribute("loomex.finish_reason", r.finish_reason)
        if r.cost_usd is not None:
            self.run.set_attribute("loomex.cost_usd", r.cost_usd)
        self.run.end()
        self.run = None


def instrument(tracer_provider: Any = None) -> None:
    """Every run from now on is traced (``tracer_provider``: None for the global one)."""
    tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
    telemetry_sink.set_tracing(lambda: OtelSink(tracer))


def uninstrument() -> None:
    telemetry_sink.set_tracing(None)


def instrument_from_env() -> None:
    """A tracer provider exporting over OTLP/HTTP to ``$OTEL_EXPORTER_OTLP_ENDPOINT`` (the
    exporter reads the standard variables), then :func:`instrument`."""
    global _provider
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    name = os.environ.get("OTEL_SERVICE_NAME") or "loomex"
    _provider = TracerProvider(resource=Resource.create({"service.name": name}))
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    import atexit
    atexit.register(flush)
    instrument(_provider)


def flush(timeout_ms: int = 5000) -> bool:
    """Exports what is buffered now (also done at exit)."""
    return bool(_provider.force_flush(timeout_ms)) if _provider is not None else True
