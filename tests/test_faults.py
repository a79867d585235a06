"""Faults served by the real loopback server: rate limits, server errors, broken connections,
garbage in the stream, cancellation mid-stream and mid-tool."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from helpers import make_agent, reference_sse, run_async
from replay_server import Reply, load_fixture, stream_text

from loomex_cli import (Agent, AuthError, BadRequestError, NotFoundError, Retrying, RetryPolicy,
                        RunFinished, ServerError, StreamError, TextDelta, ToolResult, arun, tool)


def _retries(events):
    return [e for e in events if isinstance(e, Retrying)]


def test_429_retry_after_is_honoured(replay):
    sname, url = replay.new_script([
        Reply.json({"error": {"message": "slow down"}}, status=429, headers={"retry-after": "1"}),
        Reply.text("after", " the wait"),
    ], prefix="retry-after")
    events: list = []
    t0 = time.perf_counter()
    res = run_async(lambda: arun(make_agent(url), "hi", sink=events.append))
    elapsed = time.perf_counter() - t0
    assert res.text == "after the wait"
    assert len(replay.requests(sname)) == 2
    [retry] = _retries(events)
    assert retry.attempt == 1 and retry.delay_s == 1.0 and "slow down" in retry.error
    assert 0.9 <= elapsed < 5


def test_503_three_times_then_gives_up(replay):
    sname, url = replay.new_script(
        [Reply.json({"error": {"message": "overloaded"}}, status=503)], prefix="503",
        repeat_last=True)
    events: list = []
    agent = Agent(model="test/m", base_url=url, api_key="sk-x", retry=RetryPolicy(base_delay=0.01))
    with pytest.raises(ServerError) as ei:
        run_async(lambda: arun(agent, "hi", sink=events.append))
    assert ei.value.status == 503 and ei.value.message == "overloaded"
    assert len(replay.requests(sname)) == 3  # the default max_attempts
    assert [r.attempt for r in _retries(events)] == [1, 2]
    assert isinstance(events[-1], RunFinished)
    assert ei.value.result.finish_reason == "error"


def test_closed_before_first_byte_is_retried(replay):
    sname, url = replay.new_script(
        [Reply(close_before_response=True), Reply.text("second", " try")], prefix="close0")
    events: list = []
    res = run_async(lambda: arun(make_agent(url), "hi", sink=events.append))
    assert res.text == "second try"
    assert len(replay.requests(sname)) == 2
    assert len(_retries(events)) == 1


def test_closed_after_head_before_output_is_retried(replay):
    sname, url = replay.new_script(
        [Reply.text("lost", close_after_pieces=0), Reply.text("kept")], prefix="closehead")
    res = run_async(lambda: arun(make_agent(url), "hi"))
    assert res.text == "kept"
    assert len(replay.requests(sname)) == 2


def test_closed_mid_stream_keeps_partial_and_does_not_retry(replay, fixtures_dir):
    name = "openai-gpt4omini-stream-tool-turn2-final"
    pieces = 6
    # what the first 6 events of the recording say
    expected = "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                       for _, d in reference_sse(load_fixture(name)["body"])[:pieces])
    assert expected
    sname, url = replay.new_script(
        [Reply.fixture(name, close_after_pieces=pieces), Reply.text("must not be fetched")],
        prefix="midclose")
    events: list = []
    with pytest.raises(StreamError) as ei:
        run_async(lambda: arun(make_agent(url), "hi", sink=events.append))
    e = ei.value
    assert e.after_output
    assert len(replay.requests(sname)) == 1
    last = e.result.messages[-1]
    assert last.role == "assistant" and last.content == expected
    assert last.extra == {"interrupted": "error"}
    assert "".join(ev.text for ev in events if isinstance(ev, TextDelta)) == expected
    assert e.result.finish_reason == "error" and isinstance(events[-1], RunFinished)


def test_garbage_line_is_skipped(replay, fixtures_dir):
    body = stream_text(["Hello", ", ", "world"])
    parts = body.split("\n\n")
    parts.insert(2, "data: {this is not json")
    parts.insert(4, "data: \x00\x01garbage")
    _, url = replay.new_script([Reply.sse("\n\n".join(parts))], prefix="garbage")
    res = run_async(lambda: arun(make_agent(url), "hi"))
    assert res.text == "Hello, world"
    # and inside a real recording
    fx = load_fixture("openai-gpt41-stream-text-usage")["body"]
    i = fx.index("\n\n", fx.index("\n\n") + 2) + 2
    _, url = replay.new_script([Reply.sse(fx[:i] + "data: {oops\n\n" + fx[i:])], prefix="garbage2")
    res = run_async(lambda: arun(make_agent(url), "hi"))
    assert res.text == "Hello!"
    assert res.usage["total_tokens"] == 1146


@pytest.mark.parametrize("status,cls", [(400, BadRequestError), (401, AuthError),
                                        (403, AuthError), (404, NotFoundError)])
def test_client_errors_are_not_retried(status, cls, replay):
    sname, url = replay.new_script(
        [Reply.json({"error": {"message": f"nope {status}"}}, status=status),
         Reply.text("should", "not", "be", "reached")], prefix=f"noretry{status}")
    with pytest.raises(cls) as ei:
        run_async(lambda: arun(make_agent(url), "hi"))
    assert ei.value.message == f"nope {status}"
    assert len(replay.requests(sname)) == 1


def test_on_error_retry_tries_the_step_once_more(replay):
    class Persistent(Agent):
        def on_error(self, error, ctx):
            return "retry"
    sname, url = replay.new_script(
        [Reply.json({"error": {"message": "bad"}}, status=400), Reply.text("second")],
        prefix="onerror")
    agent = Persistent(model="test/m", base_url=url, api_key="k")
    res = run_async(lambda: arun(agent, "hi"))
    assert res.text == "second" and len(replay.requests(sname)) == 2


# -- cancellation ----------------------------------------------------------------------

def _cancel_when(agent, predicate):
    """Runs the agent, cancels it once ``predicate(events)`` holds; returns (CancelledError,
    events)."""
    events: list = []

    async def main():
        hit = asyncio.Event()

        def sink(ev):
            events.append(ev)
            if predicate(events):
                hit.set()
        task = asyncio.create_task(arun(agent, "hi", sink=sink))
        await asyncio.wait_for(hit.wait(), 10)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError as e:
            return e
        raise AssertionError("the run was not cancelled")
    return run_async(main), events


def test_cancel_mid_stream_keeps_partial_text(replay):
    _, url = replay.new_script(
        [Reply.text("Hello", " there", " and", " more", " text", delay=0.1)], prefix="cancel-s")
    t0 = time.perf_counter()
    err, events = _cancel_when(
        make_agent(url), lambda evs: sum(isinstance(e, TextDelta) for e in evs) >= 2)
    assert time.perf_counter() - t0 < 2  # prompt
    res = err.result
    assert res.finish_reason == "cancelled"
    last = res.messages[-1]
    assert last.role == "assistant" and last.extra == {"interrupted": "cancelled"}
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert streamed.startswith("Hello there") and last.content == streamed
    assert isinstance(events[-1], RunFinished) and events[-1].result is res


@pytest.mark.parametrize("blocking", [False, True])
def test_cancel_mid_tool_gives_every_call_a_result(replay, blocking):
    if blocking:
        @tool
        def slow(n: int) -> str:
            """Sleeps."""
            time.sleep(0.6)
            return "slow done"
    else:
        @tool
        async def slow(n: int) -> str:
            """Sleeps."""
            await asyncio.sleep(30)
            return "slow done"

    @tool
    async def fast(n: int) -> str:
        """Answers at once."""
        return f"fast {n}"

    _, url = replay.new_script([
        Reply.tool_calls([("c1", "slow", {"n": 1}), ("c2", "fast", {"n": 2}),
                          ("c3", "slow", {"n": 3})]),
        Reply.text("never"),
    ], prefix="cancel-t")
    agent = make_agent(url, tools=[slow, fast])
    t0 = time.perf_counter()
    err, events = _cancel_when(
        agent, lambda evs: any(isinstance(e, ToolResult) and e.name == "fast" for e in evs))
    assert time.perf_counter() - t0 < 2
    res = err.result
    assert res.finish_reason == "cancelled"
    msgs = res.messages
    assert [m.role for m in msgs] == ["user", "assistant", "tool", "tool", "tool"]
    assert [tc.id for tc in msgs[1].tool_calls] == ["c1", "c2", "c3"]
    assert [m.tool_call_id for m in msgs[2:]] == ["c1", "c2", "c3"]
    assert msgs[3].content == "fast 2"
    for m in (msgs[2], msgs[4]):
        assert "cancelled" in m.content and m.content.startswith("Error:")
    statuses = {e.id: e.status for e in events if isinstance(e, ToolResult)}
    assert statuses == {"c1": "cancelled", "c2": "ok", "c3": "cancelled"}
    assert isinstance(events[-1], RunFinished)


# -- keep-alive ------------------------------------------------------------------------

def test_consecutive_calls_reuse_one_connection(replay, fixtures_dir):
    """A stream read up to ``[DONE]`` leaves the connection reusable (no new TCP/TLS handshake
    per model call)."""
    from loomex_cli import Message
    sname, url = replay.new_script(
        [Reply.fixture("openai-gpt41-stream-text-usage")] * 3
        + [Reply.fixture("openai-gpt4omini-nonstream-tool-step3-final")], prefix="keepalive")

    async def main():
        before = replay.connections
        for _ in range(3):
            res = await arun(make_agent(url), [Message.user("hi")])
            assert res.text == "Hello!"
        res = await arun(make_agent(url, stream=False), "hi")
        assert res.text == "YES"
        return replay.connections - before
    assert run_async(main, fresh=True) == 1


def test_a_server_that_keeps_sending_after_done_does_not_hang(replay, monkeypatch):
    from loomex_cli.wire import client as wc
    monkeypatch.setattr(wc, "_DRAIN_SECONDS", 0.3)
    body = stream_text(["ok"]) + "".join(": after done\n\n" for _ in range(50))
    _, url = replay.new_script([Reply.sse(body, delay=0.05)], prefix="after-done")
    t0 = time.perf_counter()
    res = run_async(lambda: arun(make_agent(url), "hi"))
    assert res.text == "ok"
    assert time.perf_counter() - t0 < 1.5  # 0.05 s x ~5 events, then at most 0.3 s of drain


def test_client_pool_grows_only_under_load(monkeypatch):
    """One client at low concurrency; more (up to the cap) only when all are busy."""
    from loomex_cli.wire import client as wc

    class Fake:
        is_closed = False

        def __init__(self, tls: bool = True) -> None:
            self.tls = tls
    monkeypatch.setattr(wc, "_new_client", Fake)
    pool = wc._Pool()
    slots = [pool.acquire() for _ in range(wc._CLIENT_LOAD)]
    assert set(slots) == {0} and len(pool.clients) == 1
    for s in slots:
        pool.release(s)
    assert pool.acquire() == 0 and len(pool.clients) == 1  # sequential use stays on one client
    pool.release(0)
    busy = [pool.acquire() for _ in range(wc._CLIENT_LOAD * wc._MAX_CLIENTS + 5)]
    assert len(pool.clients) == wc._MAX_CLIENTS
    assert max(pool.load) - min(pool.load) <= 1  # the overflow goes to the least busy
    for s in busy:
        pool.release(s)
    assert pool.load == [0] * wc._MAX_CLIENTS and pool.acquire() == 0


def test_concurrent_runs_share_the_pool(replay):
    from loomex_cli import tool as mktool

    @mktool
    async def lookup(key: str) -> str:
        """Looks up."""
        await asyncio.sleep(0)
        return "v" + key

    from replay_server import agent_responder
    name = replay.unique_name("many")
    url = replay.responder(name, agent_responder({
        "tool_calls": [[f"c{i}", "lookup", {"key": str(i)}] for i in range(4)],
        "text": ["all", " done"]}))

    async def main():
        agent = make_agent(url, tools=[lookup])
        results = await asyncio.gather(*(arun(agent, "go") for _ in range(120)))
        return [r.text for r in results]
    before = replay.connections
    assert run_async(main, fresh=True) == ["all done"] * 120
    assert len(replay.requests(name)) == 240
    assert replay.connections - before <= 120  # connections are reused between the 2 steps


def test_plain_http_never_loads_the_trust_store(replay):
    """Local servers are plain http: their client's TLS context holds no certificates (it is
    never used, and fails closed if a redirect ever asked for TLS)."""
    from loomex_cli.wire import client as wc
    _, url = replay.new_script([Reply.text("ok")], prefix="plainhttp")

    async def main():
        await arun(make_agent(url), "hi")
        pools = wc._pools[asyncio.get_running_loop()]
        ctx = wc._no_ca_context
        await wc.close_client()
        return set(pools), ctx

    kinds, ctx = asyncio.run(main())
    assert kinds == {False}  # no TLS pool was made for an http URL
    assert ctx.cert_store_stats()["x509_ca"] == 0
