"""Long-lived agents: start_agent / astart_agent, call, get_messages, cancel, stop."""

from __future__ import annotations

import asyncio
import time

import pytest

from loomex_cli import Agent, ServerError, astart_agent, start_agent, tool
from loomex_cli.wire.retry import RetryPolicy
from replay_server import Reply


def agent_for(url: str, **kw) -> Agent:
    return Agent(model="openai/x", base_url=url, api_key="k", retry=RetryPolicy(max_attempts=1), **kw)


def test_sync_handle_keeps_history(replay):
    name, url = replay.new_script([Reply.text("4"), Reply.text("40")], prefix="sess")
    with start_agent(agent_for(url)) as h:
        assert h.call("What is 2 + 2?").text == "4"
        assert h.call("Now multiply that by 10").text == "40"
        roles = [m.role for m in h.get_messages()]
    assert roles == ["user", "assistant", "user", "assistant"]
    second = replay.requests(name)[1].body["messages"]
    assert [m["content"] for m in second] == ["What is 2 + 2?", "4", "Now multiply that by 10"]


def test_calls_are_served_in_arrival_order(replay):
    name, url = replay.new_script([Reply.text("one", delay=0.05), Reply.text("two")], prefix="order")

    async def main():
        h = await astart_agent(agent_for(url))
        first = h.submit("first")
        second = h.submit("second")  # queued behind the first, sees its answer
        r1, r2 = await asyncio.gather(first, second)
        await h.stop()
        return r1, r2

    r1, r2 = asyncio.run(main())
    assert (r1.text, r2.text) == ("one", "two")
    sent = replay.requests(name)[1].body["messages"]
    assert [m["content"] for m in sent] == ["first", "one", "second"]


def test_many_handles_run_concurrently(replay):
    urls = [replay.new_script([Reply.text(f"a{i}", delay=0.2)], prefix="many")[1] for i in range(10)]

    async def main():
        handles = [await astart_agent(agent_for(u)) for u in urls]
        t0 = time.perf_counter()
        results = await asyncio.gather(*(h.call("go") for h in handles))
        took = time.perf_counter() - t0
        for h in handles:
            await h.stop()
        return [r.text for r in results], took

    texts, took = asyncio.run(main())
    assert texts == [f"a{i}" for i in range(10)]
    assert took < 0.2 * 10 / 2  # far from serial


def test_a_failed_call_leaves_the_handle_usable(replay):
    boom = tool(lambda: 1 / 0, name="boom")
    name, url = replay.new_script([
        Reply.json({"error": {"message": "overloaded"}}, status=503),
        Reply.tool_calls([("c1", "boom", {})]),
        Reply.text("recovered"),
    ], prefix="fail")

    async def main():
        h = await astart_agent(agent_for(url, tools=[boom]))
        with pytest.raises(ServerError):
            await h.call("first")
        r = await h.call("second")
        msgs = h.get_messages()
        await h.stop()
        return r, msgs

    r, msgs = asyncio.run(main())
    assert r.text == "recovered"
    tool_msg = next(m for m in msgs if m.role == "tool")
    assert tool_msg.content.startswith("Error: ZeroDivisionError")
    assert [m.content for m in msgs if m.role == "user"] == ["first", "second"]


def test_stop_cancels_the_call_in_flight(replay):
    started = asyncio.Event()

    @tool
    async def slow() -> str:
        """Takes forever."""
        started.set()
        await asyncio.sleep(60)
        return "never"

    name, url = replay.new_script([Reply.tool_calls([("c1", "slow", {})])], prefix="stop")

    async def main():
        h = await astart_agent(agent_for(url, tools=[slow]))
        call = asyncio.ensure_future(h.call("go"))
        await asyncio.wait_for(started.wait(), 10)
        t0 = time.perf_counter()
        await h.stop()
        with pytest.raises(asyncio.CancelledError):
            await call
        return time.perf_counter() - t0, h.get_messages()

    took, msgs = asyncio.run(main())
    assert took < 2
    calls = [m for m in msgs if m.role == "assistant" and m.tool_calls]
    results = [m for m in msgs if m.role == "tool"]
    assert len(calls) == 1 and len(results) == 1 and "cancelled" in results[0].content
    with pytest.raises(RuntimeError):
        asyncio.run(_submit_after_stop(url))


async def _submit_after_stop(url):
    h = await astart_agent(agent_for(url))
    await h.stop()
    h.submit("too late")
