"""Runs as OpenTelemetry spans (loomex[otel]): the SDK's in-memory exporter, and a real OTLP/HTTP
receiver on 127.0.0.1 that decodes the protobuf requests the exporter sends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import make_agent, run_async
from replay_server import Reply

from loomex_cli import arun, tool
from loomex_cli.engine import telemetry_sink

import opentelemetry.sdk.trace as trace_sdk  # noqa: E402  (the test extra installs loomex[otel])
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402


@tool
def add(a: int, b: int) -> int:
    """Adds."""
    return a + b


@tool
def broken() -> str:
    """Fails."""
    raise RuntimeError("no")


def _script(replay, prefix):
    _, url = replay.new_script([
        Reply.tool_calls([("c1", "add", {"a": 1, "b": 2}), ("c2", "broken", {})],
                         usage={"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34}),
        Reply.text("It is 3.", usage={"prompt_tokens": 50, "completion_tokens": 5,
                                      "total_tokens": 55}),
    ], prefix=prefix)
    return url


@pytest.fixture
def memory():
    from loomex_cli.engine import otel
    exporter = InMemorySpanExporter()
    provider = trace_sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.instrument(tracer_provider=provider)
    yield exporter
    otel.uninstrument()


def test_spans_with_genai_attributes(replay, memory):
    agent = make_agent(_script(replay, "otel-mem"), tools=[add, broken], model="openai/gpt-x")
    res = run_async(lambda: arun(agent, "go"))
    assert res.text == "It is 3."
    spans = memory.get_finished_spans()
    by = {}
    for s in spans:
        by.setdefault(s.name, []).append(s)
    assert sorted(by) == ["chat gpt-x", "execute_tool add", "execute_tool broken",
                          "invoke_agent Agent"]
    [run] = by["invoke_agent Agent"]
    assert run.parent is None
    a = dict(run.attributes)
    assert a["gen_ai.operation.name"] == "invoke_agent" and a["gen_ai.request.model"] == "gpt-x"
    assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.agent.name"] == "Agent"
    assert a["gen_ai.usage.input_tokens"] == 80 and a["gen_ai.usage.output_tokens"] == 9
    chats = by["chat gpt-x"]
    assert len(chats) == 2
    for c in chats:
        assert c.parent.span_id == run.context.span_id
        assert c.attributes["gen_ai.operation.name"] == "chat"
        assert c.attributes["gen_ai.request.model"] == "gpt-x"
    assert [(c.attributes["gen_ai.usage.input_tokens"], c.attributes["gen_ai.usage.output_tokens"],
             tuple(c.attributes["gen_ai.response.finish_reasons"])) for c in chats] == \
        [(30, 4, ("tool_calls",)), (50, 5, ("stop",))]
    [t_add], [t_bad] = by["execute_tool add"], by["execute_tool broken"]
    assert t_add.attributes["gen_ai.tool.name"] == "add"
    assert t_add.attributes["gen_ai.tool.call.id"] == "c1"
    assert t_add.attributes["gen_ai.operation.name"] == "execute_tool"
    assert t_add.parent.span_id == run.context.span_id
    assert t_bad.status.status_code.name == "ERROR" and t_add.status.status_code.name == "UNSET"


def test_a_failed_run_ends_its_spans_in_error(replay, memory):
    _, url = replay.new_script([Reply.json({"error": {"message": "bad"}}, status=400)],
                               prefix="otel-fail")
    with pytest.raises(Exception):
        run_async(lambda: arun(make_agent(url), "go"))
    spans = {s.name: s for s in memory.get_finished_spans()}
    assert set(spans) == {"invoke_agent Agent", "chat m"}
    assert all(s.status.status_code.name == "ERROR" for s in spans.values())


class Receiver:
    """A tiny OTLP/HTTP collector: POST /v1/traces, protobuf ExportTraceServiceRequest."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest, ExportTraceServiceResponse)
        self.spans: list = []
        self.paths: list[str] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["content-length"]))
                outer.paths.append((self.path, self.headers.get("content-type")))
                req = ExportTraceServiceRequest()
                req.ParseFromString(raw)
                for rs in req.resource_spans:
                    for ss in rs.scope_spans:
                        outer.spans.extend(ss.spans)
                body = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _attrs(span) -> dict:
    out = {}
    for kv in span.attributes:
        v = kv.value
        out[kv.key] = v.string_value or v.int_value
    return out


def test_the_environment_switches_otlp_export_on(replay, monkeypatch):
    from loomex_cli.engine import otel
    rx = Receiver()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rx.url)
        telemetry_sink.set_tracing(None)
        monkeypatch.setattr(telemetry_sink, "_env_checked", False)
        agent = make_agent(_script(replay, "otel-otlp"), tools=[add, broken],
                           model="openai/gpt-x")
        run_async(lambda: arun(agent, "go"))
        assert otel.flush()
    finally:
        otel.uninstrument()
        rx.close()
    assert rx.paths and all(p == ("/v1/traces", "application/x-protobuf") for p in rx.paths)
    names = sorted(s.name for s in rx.spans)
    assert names == ["chat gpt-x", "chat gpt-x", "execute_tool add", "execute_tool broken",
                     "invoke_agent Agent"]
    tool_span = next(s for s in rx.spans if s.name == "execute_tool add")
    assert _attrs(tool_span)["gen_ai.tool.name"] == "add"
    assert _attrs(tool_span)["gen_ai.tool.call.id"] == "c1"
    chat = next(s for s in rx.spans if s.name == "chat gpt-x")
    assert _attrs(chat)["gen_ai.operation.name"] == "chat"
    assert _attrs(chat)["gen_ai.usage.input_tokens"] == 30


PROBE = """
import json, sys
from loomex_cli import Agent, arun, run
from loomex_cli.engine import loop  # the whole loop, imported
import loomex_cli.engine.telemetry_sink as ts
ts.tracing_sink(); loop._tracing()
print(json.dumps(sorted(m for m in sys.modules if m.startswith("opentelemetry"))))
"""


def test_opentelemetry_is_never_imported_otherwise():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OTEL_") and not k.startswith("PYTHON")}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
