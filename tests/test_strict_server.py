"""A strict chat-completions server, as llama-cpp-python 0.3.x is: its request model refuses an
assistant message whose ``content`` is ``null`` and answers HTTP 500 with pydantic's
validation errors (not 422). A real HTTP server on 127.0.0.1 plays it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import make_agent, run_async
from replay_server import stream_text, stream_tool_calls

from loomex_cli import Message, ServerError, arun, tool


def _validation_errors(messages: list[dict]) -> list[dict]:
    """What llama-cpp-python's pydantic model says of a message list (the content rule only)."""
    errs = []
    for i, m in enumerate(messages):
        if "content" in m and m["content"] is None:
            for kind in ("system", "user", "assistant", "tool", "function", "developer", "x"):
                errs.append({"type": "string_type", "loc": ("body", "messages", i, "typed-dict",
                                                             "content"),
                             "msg": "Input should be a valid string", "input": None,
                             "ctx": {"role": kind}})
    return errs[:7]


class Strict:
    def __init__(self, always_refuse: bool = False) -> None:
        self.bodies: list[dict] = []
        self.always_refuse = always_refuse
        owner = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                owner.bodies.append(body)
                errs = _validation_errors(body["messages"])
                if errs or owner.always_refuse:
                    errs = errs or _validation_errors([{"content": None}])
                    text = f"{len(errs)} validation errors:\n" + "".join(f"  {e}\n" for e in errs)
                    out = json.dumps({"error": {"message": text, "type": "internal_server_error",
                                                "param": None, "code": None}}).encode()
                    self.send_response(500)
                    self.send_header("content-type", "application/json")
                else:
                    n = len(owner.bodies)
                    out = (stream_tool_calls([("call_1", "add", {"a": 2, "b": 3})]) if n == 1
                           else stream_text(["five"])).encode()
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def strict():
    servers: list[Strict] = []

    def make(**kw):
        servers.append(Strict(**kw))
        return servers[-1]
    yield make
    for s in servers:
        s.close()


@tool
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


def test_tool_loop_passes_a_strict_server(strict):
    srv = strict()
    agent = make_agent(srv.url, tools=[add], model="llamacpp/m")
    res = run_async(lambda: arun(agent, [Message.user("2+3?")]))
    assert res.text == "five" and res.steps == 2
    second = srv.bodies[1]["messages"]
    turn = [m for m in second if m["role"] == "assistant"][0]
    assert "content" not in turn and turn["tool_calls"][0]["id"] == "call_1"
    assert [m["role"] for m in second] == ["user", "assistant", "tool"]


def test_an_assistant_turn_with_text_and_calls_keeps_its_text():
    m = Message.assistant("Let me add.", [])
    assert m.to_wire()["content"] == "Let me add."
    from loomex_cli import ToolCall
    m = Message.assistant(None, [ToolCall("c1", "add", "{}")])
    assert "content" not in m.to_wire()
    assert Message.assistant(None).to_wire() == {"role": "assistant", "content": None}


def test_a_validation_500_is_not_retried(strict):
    srv = strict(always_refuse=True)
    agent = make_agent(srv.url, model="llamacpp/m")
    with pytest.raises(ServerError) as ei:
        run_async(lambda: arun(agent, [Message.user("hi")]))
    assert ei.value.status == 500 and "validation error" in ei.value.message
    assert len(srv.bodies) == 1  # tried once, not three times
