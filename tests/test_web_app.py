"""``chat_app`` through a real uvicorn server on 127.0.0.1, its agent on the replay server:
the exact chunk sequences, bad requests, client disconnects; and ``stream_agent`` alone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from typing import Any, Iterator

import pytest
import uvicorn

from helpers import run_async  # noqa: E402
from replay_server import Reply  # noqa: E402
from test_web_protocol import DOC_ASSISTANT, check_stream, user  # noqa: E402

from loomex_cli import Agent, Approval, RetryPolicy, ToolError, telemetry, tool  # noqa: E402
from loomex_cli.web import BadRequest, chat_app, stream_agent  # noqa: E402


# -- a server and a client ---------------------------------------------------------------

@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Runs ``app`` under uvicorn in a thread on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[str]:
        text = self.body.decode("utf-8")
        assert text.endswith("\n\n"), text[-50:]
        return [e for e in text.split("\n\n") if e]

    def chunks(self) -> list[dict[str, Any]]:
        """The data events, [DONE] checked to be last and dropped; keep-alives skipped."""
        data = [e[len("data: "):] for e in self.events() if not e.startswith(":")]
        assert all(not e.startswith(":") and e for e in data)
        assert data[-1] == "[DONE]", data[-3:]
        chunks = [json.loads(d) for d in data[:-1]]
        check_stream(chunks)
        return chunks


def request(base: str, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 20) -> Response:
    import http.client
    host = base.split("//", 1)[1]
    conn = http.client.HTTPConnection(host, timeout=timeout)
    hdrs = {"content-type": "application/json"} if body is not None or raw is not None else {}
    hdrs.update(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers=hdrs)
    r = conn.getresponse()
    out = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    conn.close()
    return out


def chat(base: str, *messages: dict[str, Any]) -> Response:
    return request(base, "POST", "/api/chat", {
        "id": "chat_1", "messages": list(messages), "trigger": "submit-message"})


def normalized(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chunks with the fresh message id replaced by MID."""
    assert chunks[0]["messageId"].startswith("msg_") and len(chunks[0]["messageId"]) > 10
    return [{**chunks[0], "messageId": "MID"}, *chunks[1:]]


@tool
async def get_weather(city: str) -> dict:
    """The weather in a city.

    Args:
        city: the city
    """
    if city == "Atlantis":
        raise ToolError("no weather station in Atlantis")
    await asyncio.sleep({"Paris": 0.3}.get(city, 0))
    return {"city": city, "tempC": 18}


def make(url: str, **kw: Any) -> Agent:
    kw.setdefault("tools", [get_weather])
    return Agent(model="openai/x", base_url=url, api_key="k", temperature=None,
                 retry=RetryPolicy(max_attempts=1), **kw)


Q = user("What is the weather in Paris?", "msg_u1")


# -- the exact sequences -------------------------------------------------------------------

def test_text_only(replay):
    name, url = replay.new_script([Reply.text("Hel", "lo!")], prefix="web-text")
    with serving(chat_app(make(url))) as base:
        r = chat(base, Q)
    assert r.status == 200
    for k, v in [("content-type", "text/event-stream"), ("cache-control", "no-cache"),
                 ("x-vercel-ai-ui-message-stream", "v1"), ("x-accel-buffering", "no")]:
        assert r.headers.get(k) == v, (k, r.headers)
    assert normalized(r.chunks()) == [
        {"type": "start", "messageId": "MID"},
        {"type": "start-step"},
        {"type": "text-start", "id": "txt_1"},
        {"type": "text-delta", "id": "txt_1", "delta": "Hel"},
        {"type": "text-delta", "id": "txt_1", "delta": "lo!"},
        {"type": "text-end", "id": "txt_1"},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": "stop"},
    ]
    assert r.body.endswith(b'data: {"type":"finish","finishReason":"stop"}\n\ndata: [DONE]\n\n')
    sent = replay.requests(name)[0].body["messages"]
    assert sent == [{"role": "user", "content": "What is the weather in Paris?"}]


def test_one_tool_call(replay):
    name, url = replay.new_script([
        Reply.tool_calls([("call_1", "get_weather", {"city": "Oslo"})], text="Checking."),
        Reply.text("18°C in Oslo."),
    ], prefix="web-tool")
    with serving(chat_app(make(url))) as base:
        r = chat(base, Q)
    assert normalized(r.chunks()) == [
        {"type": "start", "messageId": "MID"},
        {"type": "start-step"},
        {"type": "text-start", "id": "txt_1"},
        {"type": "text-delta", "id": "txt_1", "delta": "Checking."},
        {"type": "text-end", "id": "txt_1"},
        {"type": "tool-input-start", "toolCallId": "call_1", "toolName": "get_weather"},
        {"type": "tool-input-delta", "toolCallId": "call_1", "inputTextDelta": '{"city":'},
        {"type": "tool-input-delta", "toolCallId": "call_1", "inputTextDelta": ' "Oslo"}'},
        {"type": "tool-input-available", "toolCallId": "call_1", "toolName": "get_weather",
         "input": {"city": "Oslo"}},
        {"type": "tool-output-available", "toolCallId": "call_1",
         "output": {"city": "Oslo", "tempC": 18}},
        {"type": "finish-step"},
        {"type": "start-step"},
        {"type": "text-start", "id": "txt_2"},
        {"type": "text-delta", "id": "txt_2", "delta": "18°C in Oslo."},
        {"type": "text-end", "id": "txt_2"},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": "stop"},
    ]
    second = replay.requests(name)[1].body["messages"]
    assert second[1]["tool_calls"][0]["id"] == "call_1"
    assert second[2] == {"role": "tool", "content": '{"city": "Oslo", "tempC": 18}',
                         "tool_call_id": "call_1"}


def test_parallel_tool_calls_report_outputs_as_they_finish_inside_the_step(replay):
    name, url = replay.new_script([
        Reply.tool_calls([("call_p", "get_weather", {"city": "Paris"}),
                          ("call_o", "get_weather", {"city": "Oslo"})]),
        Reply.text("Both 18°C."),
    ], prefix="web-par")
    with serving(chat_app(make(url))) as base:
        r = chat(base, Q)
    chunks = normalized(r.chunks())
    assert chunks[:12] == [
        {"type": "start", "messageId": "MID"},
        {"type": "start-step"},
        {"type": "tool-input-start", "toolCallId": "call_p", "toolName": "get_weather"},
        {"type": "tool-input-delta", "toolCallId": "call_p", "inputTextDelta": '{"city":'},
        {"type": "tool-input-delta", "toolCallId": "call_p", "inputTextDelta": ' "Paris"}'},
        {"type": "tool-input-start", "toolCallId": "call_o", "toolName": "get_weather"},
        {"type": "tool-input-delta", "toolCallId": "call_o", "inputTextDelta": '{"city":'},
        {"type": "tool-input-delta", "toolCallId": "call_o", "inputTextDelta": ' "Oslo"}'},
        {"type": "tool-input-available", "toolCallId": "call_p", "toolName": "get_weather",
         "input": {"city": "Paris"}},
        {"type": "tool-input-available", "toolCallId": "call_o", "toolName": "get_weather",
         "input": {"city": "Oslo"}},
        # Paris takes 0.3 s: Oslo's output comes first
        {"type": "tool-output-available", "toolCallId": "call_o",
         "output": {"city": "Oslo", "tempC": 18}},
        {"type": "tool-output-available", "toolCallId": "call_p",
         "output": {"city": "Paris", "tempC": 18}},
    ]
    assert [c["type"] for c in chunks[12:]] == [
        "finish-step", "start-step", "text-start", "text-delta", "text-end", "finish-step",
        "finish"]
    # the provider still gets the results in call order
    second = replay.requests(name)[1].body["messages"]
    assert [m.get("tool_call_id") for m in second[2:]] == ["call_p", "call_o"]


def test_tool_errors_unknown_tools_and_denied_calls_are_tool_output_errors(replay):
    @tool(risk="write")
    def delete_city(city: str) -> str:
        """Deletes a city."""
        raise AssertionError("a denied call must not run")

    def approver(t: Any, args: Any, ctx: Any) -> Approval:
        return Approval(False, "not in serve mode")

    name, url = replay.new_script([
        Reply.tool_calls([("c1", "get_weather", {"city": "Atlantis"}),
                          ("c2", "no_such_tool", {}),
                          ("c3", "delete_city", {"city": "Rome"})]),
        Reply.text("Sorry."),
    ], prefix="web-toolerr")
    agent = make(url, tools=[get_weather, delete_city])
    with serving(chat_app(agent, approver=approver)) as base:
        r = chat(base, Q)
    chunks = r.chunks()
    errors = {c["toolCallId"]: c["errorText"] for c in chunks if c["type"] == "tool-output-error"}
    assert errors["c1"] == "Error: no weather station in Atlantis"
    assert errors["c2"].startswith("Error: unknown tool 'no_such_tool'")
    assert errors["c3"].startswith("Error: denied: not in serve mode")
    assert not [c for c in chunks if c["type"] in ("tool-output-available", "error")]
    step1 = chunks[:chunks.index({"type": "finish-step"})]
    assert len([c for c in step1 if c["type"] == "tool-output-error"]) == 3
    assert chunks[-1] == {"type": "finish", "finishReason": "stop"}


def test_provider_error_is_an_error_chunk_then_finish_error(replay):
    name, url = replay.new_script(
        [Reply.json({"error": {"message": "the upstream exploded"}}, status=500)],
        prefix="web-500")
    with serving(chat_app(make(url))) as base:
        r = chat(base, Q)
    assert r.status == 200
    chunks = normalized(r.chunks())
    assert chunks[:2] == [{"type": "start", "messageId": "MID"}, {"type": "start-step"}]
    assert chunks[2]["type"] == "error"
    assert "the upstream exploded" in chunks[2]["errorText"]
    assert "Traceback" not in chunks[2]["errorText"]
    assert chunks[3:] == [{"type": "finish-step"}, {"type": "finish", "finishReason": "error"}]
    assert len(replay.requests(name)) == 1  # max_attempts=1: no retry


def test_error_in_a_later_step_and_a_stream_broken_mid_text(replay):
    _, url = replay.new_script([
        Reply.tool_calls([("call_1", "get_weather", {"city": "Oslo"})]),
        Reply.text("It is ", "sunny ", "and", close_after_pieces=3),
    ], prefix="web-broken")
    with serving(chat_app(make(url))) as base:
        r = chat(base, Q)
    chunks = r.chunks()
    kinds = [c["type"] for c in chunks]
    assert kinds[kinds.index("finish-step") + 1:] == [
        "start-step", "text-start", "text-delta", "text-delta", "text-end", "error",
        "finish-step", "finish"]
    assert chunks[-1]["finishReason"] == "error"


def test_a_config_error_before_the_run_still_ends_the_stream():
    agent = Agent(model="nosuchprovider/x", tools=[])
    with serving(chat_app(agent)) as base:
        r = chat(base, Q)
    chunks = r.chunks()
    assert [c["type"] for c in chunks] == ["start", "error", "finish"]
    assert "nosuchprovider" in chunks[1]["errorText"]


def test_an_internal_error_is_not_described_to_the_client(replay):
    class Broken(Agent):
        def system_prompt(self, ctx: Any) -> str:
            raise RuntimeError("secret internals /etc/passwd")
    _, url = replay.new_script([Reply.text("x")], prefix="web-internal")
    with serving(chat_app(Broken(model="openai/x", base_url=url, api_key="k"))) as base:
        r = chat(base, Q)
    chunks = r.chunks()
    assert chunks[1] == {"type": "error", "errorText": "An internal error occurred."}
    assert b"secret" not in r.body


# -- history -------------------------------------------------------------------------------

def test_second_turn_sends_the_tool_history_to_the_provider(replay):
    name, url = replay.new_script([Reply.text("Same tomorrow.")], prefix="web-turn2")
    with serving(chat_app(make(url, system_prompt="Be brief."))) as base:
        r = chat(base, Q, DOC_ASSISTANT, user("And tomorrow?", "msg_u2"))
    r.chunks()
    assert replay.requests(name)[0].body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "Let me check the weather.", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "content": '{"city": "Paris", "tempC": 18, "sky": "cloudy"}',
         "tool_call_id": "call_1"},
        {"role": "assistant", "content": "It is 18°C and cloudy in Paris."},
        {"role": "user", "content": "And tomorrow?"},
    ]


def test_a_continued_assistant_message_keeps_its_id(replay):
    _, url = replay.new_script([Reply.text("Done.")], prefix="web-cont")
    last = {**DOC_ASSISTANT, "id": "msg_keep"}
    with serving(chat_app(make(url))) as base:
        r = chat(base, Q, last)
    assert r.chunks()[0] == {"type": "start", "messageId": "msg_keep"}


# -- bad requests and routing ------------------------------------------------------------

@pytest.mark.parametrize("raw,needle", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b"{}", "no 'messages'"),
    (b'{"messages": []}', "empty"),
    (b'{"messages": {"role": "user"}}', "must be a list"),
    (b'{"messages": [{"role": "user", "parts": [{"type": "text", "text": null}]}]}', "text"),
    (b'{"messages": [{"role": "assistant", "parts": []}]}', "no user message"),
])
def test_bad_bodies_get_400_with_a_json_error(raw, needle):
    agent = Agent(model="openai/x", base_url="http://127.0.0.1:9/unused", api_key="k")
    with serving(chat_app(agent)) as base:
        r = request(base, "POST", "/api/chat", raw=raw)
    assert r.status == 400, r.body
    assert r.headers["content-type"] == "application/json"
    assert needle in r.json()["error"]
    assert b"Traceback" not in r.body


def test_routes_methods_and_origins():
    agent = Agent(model="openai/some-model", base_url="http://127.0.0.1:9/unused", api_key="k")
    with serving(chat_app(agent)) as base:
        page = request(base, "GET", "/")
        assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        assert b"openai/some-model" in page.body and b"<script>" in page.body
        assert b"http://" not in page.body and b"https://" not in page.body  # no external assets
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert request(base, "HEAD", "/").body == b""
        assert request(base, "GET", "/nope").status == 404
        assert request(base, "GET", "/api/chat/x").status == 404
        r = request(base, "GET", "/api/chat")
        assert r.status == 405 and "POST" in r.headers["allow"]
        assert request(base, "POST", "/", {"messages": []}).status == 405
        assert request(base, "DELETE", "/api/chat").status == 405
        assert request(base, "GET", "/api/chat/chat_1/stream").status == 204  # nothing to resume
        r = request(base, "POST", "/api/chat", raw=b'{"messages":[]}',
                    headers={"content-type": "text/plain"})
        assert r.status == 415  # a cross-site form cannot start a run
        r = request(base, "POST", "/api/chat", {"messages": [Q]},
                    headers={"origin": "https://evil.example"})
        assert r.status == 403
    with serving(chat_app(agent, allowed_hosts={"127.0.0.1"}, max_body_bytes=100)) as base:
        r = request(base, "GET", "/", headers={"host": "rebound.example:8000"})
        assert r.status == 403
        assert request(base, "GET", "/").status == 200
        r = request(base, "POST", "/api/chat", {"messages": [Q] * 10})
        assert r.status == 413


# -- cancellation ------------------------------------------------------------------------

def open_stream(base: str, body: dict[str, Any]) -> tuple[socket.socket, Any]:
    """POSTs ``body`` on a raw socket; returns it and a reader of its chunks as they come."""
    host, port = base.split("//", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    data = json.dumps(body).encode()
    s.sendall(b"POST /api/chat HTTP/1.1\r\nhost: %s:%s\r\ncontent-type: application/json\r\n"
              b"content-length: %d\r\n\r\n%s" % (host.encode(), port.encode(), len(data), data))
    buf = b""

    def until(needle: bytes) -> bytes:
        nonlocal buf
        while needle not in buf:
            piece = s.recv(65536)
            assert piece, f"the stream ended before {needle!r}: {buf[-300:]!r}"
            buf += piece
        return buf
    return s, until


def test_disconnect_cancels_a_running_tool_promptly(replay):
    started, cancelled = threading.Event(), threading.Event()

    @tool
    async def slow_lookup(q: str) -> str:
        """Takes a long time."""
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    name, url = replay.new_script([
        Reply.tool_calls([("call_s", "slow_lookup", {"q": "x"})]), Reply.text("never sent"),
    ], prefix="web-cancel-tool")
    with serving(chat_app(make(url, tools=[slow_lookup]))) as base:
        s, until = open_stream(base, {"messages": [Q]})
        until(b'"tool-input-available"')
        assert started.wait(5)
        t0 = time.monotonic()
        s.close()
        assert cancelled.wait(3), "the tool was not cancelled after the client left"
        took = time.monotonic() - t0
    assert took < 2.0, took
    assert len(replay.requests(name)) == 1


def test_disconnect_stops_reading_the_provider_stream(replay):
    class SlowStreamAgent(Agent):
        pass

    stops: list[tuple[float, str]] = []

    def on_stop(event: Any, measurements: Any, meta: dict[str, Any]) -> None:
        if meta.get("agent") == "SlowStreamAgent":
            stops.append((time.monotonic(), meta["finish_reason"]))

    # 30 pieces 0.15 s apart: 4.5 s of streamed text if nobody stopped it
    name, url = replay.new_script([
        Reply.text(*[f"w{i} " for i in range(30)], delay=0.15),
        Reply.text("never"),
    ], prefix="web-cancel-stream")
    agent = SlowStreamAgent(model="openai/x", base_url=url, api_key="k",
                            retry=RetryPolicy(max_attempts=1))
    telemetry.attach("web-disconnect-test", [("loomex", "agent", "stop")], on_stop)
    try:
        with serving(chat_app(agent)) as base:
            s, until = open_stream(base, {"messages": [Q]})
            until(b'"delta":"w1 "')
            t0 = time.monotonic()
            s.close()
            deadline = t0 + 3
            while not stops and time.monotonic() < deadline:
                time.sleep(0.02)
            assert stops, "the run did not end after the client left"
            assert stops[0][1] == "cancelled"
            assert stops[0][0] - t0 < 2.0
    finally:
        telemetry.detach("web-disconnect-test")
    assert len(replay.requests(name)) == 1


# -- stream_agent without the app -----------------------------------------------------------

def test_stream_agent_is_framework_neutral(replay):
    _, url = replay.new_script([Reply.text("plain")], prefix="web-neutral")

    async def main() -> tuple[Any, bytes]:
        headers, body = stream_agent(make(url), {"messages": [Q], "trigger": "submit-message"})
        return headers, b"".join([piece async for piece in body])

    headers, raw = run_async(main)
    assert ("x-vercel-ai-ui-message-stream", "v1") in headers
    assert ("content-type", "text/event-stream") in headers
    r = Response(200, dict(headers), raw)
    assert [c["type"] for c in r.chunks()] == [
        "start", "start-step", "text-start", "text-delta", "text-end", "finish-step", "finish"]
    with pytest.raises(BadRequest):
        stream_agent(make(url), {"messages": []})


def test_stream_agent_closed_early_cancels_the_run(replay):
    @tool
    async def wait_forever() -> str:
        """Never returns."""
        await asyncio.sleep(60)
        return "no"

    _, url = replay.new_script([Reply.tool_calls([("c", "wait_forever", {})])],
                               prefix="web-neutral-close")

    async def main() -> float:
        from loomex_cli.engine import telemetry as tm
        ended: list[str] = []
        tm.attach("web-close-test", [("loomex", "agent", "stop")],
                  lambda e, m, meta: ended.append(meta["finish_reason"]))
        try:
            _, body = stream_agent(make(url, tools=[wait_forever]), [Q])
            async for piece in body:
                if b"tool-input-available" in piece:
                    break
            t0 = time.monotonic()
            await body.aclose()
            assert ended == ["cancelled"]
            return time.monotonic() - t0
        finally:
            tm.detach("web-close-test")

    assert run_async(main) < 1.0


def test_keepalive_comments_while_a_tool_runs(replay):
    @tool
    async def slowish() -> str:
        """Takes a moment."""
        await asyncio.sleep(0.35)
        return "done"

    _, url = replay.new_script([Reply.tool_calls([("c", "slowish", {})]), Reply.text("ok")],
                               prefix="web-keepalive")

    async def main() -> bytes:
        _, body = stream_agent(make(url, tools=[slowish]), [Q], keepalive=0.1)
        return b"".join([piece async for piece in body])

    raw = run_async(main)
    assert b"\n\n: keep-alive\n\n" in raw
    r = Response(200, {}, raw)
    assert [c["type"] for c in r.chunks()][-4:] == ["text-delta", "text-end", "finish-step",
                                                   "finish"]
