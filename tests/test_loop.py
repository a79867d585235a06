"""The agent loop: tool failures become results the model reads, parallel tools really run in
parallel (async and blocking alike), results keep call order, max_steps / on_step end a run."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from helpers import make_agent, run_async
from replay_server import Reply

from loomex_cli import (Agent, Message, RunFinished, StepFinish, StepStart, Tool,
                        ToolCallComplete, ToolError, ToolResult, arun, run, tool)


@tool
def add(a: int, b: int) -> int:
    """Adds two integers.

    Args:
        a: the first
        b: the second
    """
    return a + b


def test_simple_tool_round_trip(replay):
    sname, url = replay.new_script([
        Reply.tool_calls([("call_1", "add", {"a": 2, "b": 3})],
                         usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}),
        Reply.text("It is ", "5.", usage={"prompt_tokens": 20, "completion_tokens": 2,
                                          "total_tokens": 22}),
    ], prefix="simple")
    agent = make_agent(url, tools=[add], system_prompt="Be brief.")
    res = run(agent, "What is 2+3?")  # the blocking API, on its own event loop
    assert res.text == "It is 5." and res.finish_reason == "stop" and res.steps == 2
    assert [m.role for m in res.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert res.messages[3].content == "5" and res.messages[3].tool_call_id == "call_1"
    assert res.usage == {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37}
    assert len(res.step_usage) == 2
    sent = [r.body for r in replay.requests(sname)]
    assert sent[0]["messages"] == [{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "What is 2+3?"}]
    assert sent[0]["stream"] is True and sent[0]["stream_options"] == {"include_usage": True}
    assert sent[0]["model"] == "m" and "temperature" not in sent[0]
    [spec] = sent[0]["tools"]
    assert spec["function"]["name"] == "add"
    assert spec["function"]["parameters"] == {
        "type": "object", "required": ["a", "b"],
        "properties": {"a": {"type": "integer", "description": "the first"},
                       "b": {"type": "integer", "description": "the second"}}}
    assert sent[1]["messages"][2:] == [
        {"role": "assistant", "tool_calls": [  # no "content": null (strict servers)
            {"id": "call_1", "type": "function",
             "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]},
        {"role": "tool", "content": "5", "tool_call_id": "call_1"}]
    json.dumps(res.to_dict())  # JSON-ready


def test_tool_failures_become_results_and_the_loop_goes_on(replay):
    @tool
    def boom() -> str:
        """Raises."""
        raise ValueError("kaput")

    @tool
    def refuse() -> str:
        """Raises a ToolError."""
        raise ToolError("the file does not exist")

    @tool(timeout=0.05)
    async def sleepy() -> str:
        """Sleeps past its timeout."""
        await asyncio.sleep(2)
        return "woke"

    @tool(timeout=0.05)
    def sleepy_sync() -> str:
        """Blocks past its timeout."""
        time.sleep(0.3)
        return "woke"

    calls = [("c1", "boom", {}), ("c2", "refuse", {}), ("c3", "sleepy", {}),
             ("c4", "nosuch", {"x": 1}), ("c5", "add", '{"a": 1,'),
             ("c6", "add", {"a": "one"}), ("c7", "add", [1, 2]), ("c8", "sleepy_sync", {}),
             ("c9", "add", {"a": 1, "b": 2})]
    sname, url = replay.new_script([Reply.tool_calls(calls), Reply.text("recovered")],
                                   prefix="toolfail")
    events: list = []
    agent = make_agent(url, tools=[boom, refuse, sleepy, sleepy_sync, add])
    t0 = time.perf_counter()
    res = run_async(lambda: arun(agent, "go", sink=events.append))
    assert time.perf_counter() - t0 < 1.5
    assert res.text == "recovered" and res.finish_reason == "stop" and res.steps == 2
    results = {e.id: e for e in events if isinstance(e, ToolResult)}
    assert results["c1"].content == "Error: ValueError: kaput" and results["c1"].status == "error"
    assert results["c2"].content == "Error: the file does not exist"
    assert results["c3"].status == "timeout"
    assert results["c3"].content == "Error: sleepy timed out after 0.05 s"
    assert results["c4"].status == "unknown_tool"
    assert results["c4"].content.startswith("Error: unknown tool 'nosuch'. Available tools: boom")
    assert results["c5"].status == "invalid_arguments" and "not valid JSON" in results["c5"].content
    assert results["c6"].status == "invalid_arguments"
    assert "arguments.a: expected integer, got string" in results["c6"].content
    assert "missing required property 'b'" in results["c6"].content
    assert results["c7"].content == "Error: the arguments must be a JSON object"
    assert results["c8"].status == "timeout"
    assert results["c9"].content == "3" and not results["c9"].is_error
    assert all(results[c].is_error for c in ("c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"))
    # the model was sent every result, in call order; the call of a tool that does not exist
    # (not offered) and its result go as text (engine/repair.py calls_as_text)
    sent = replay.requests(sname)[1].body["messages"]
    tool_msgs = [m for m in sent if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == [c[0] for c in calls if c[0] != "c4"]
    assert tool_msgs[0]["content"] == "Error: ValueError: kaput"
    assert sent[-1]["role"] == "user" and sent[-1]["content"].startswith(
        "[result of tool call c4: nosuch]\nError: unknown tool 'nosuch'")


def _nap_tool(kind: str, delay):
    """A tool named nap(i) that sleeps ``delay(i)`` seconds: async, blocking, or a Tool class."""
    if kind == "async":
        @tool
        async def nap(i: int) -> str:
            """Sleeps."""
            await asyncio.sleep(delay(i))
            return f"slept {i}"
        return nap
    if kind == "blocking":
        @tool
        def nap(i: int) -> str:  # noqa: F811
            """Sleeps."""
            time.sleep(delay(i))
            return f"slept {i}"
        return nap

    class Nap(Tool):
        name = "nap"
        parameters = {"type": "object", "properties": {"i": {"type": "integer"}}}

        def execute(self, args, ctx):
            time.sleep(delay(args["i"]))
            return {"slept": args["i"]}
    return Nap


def _run_naps(replay, kind, delay, prefix):
    calls = [(f"c{i}", "nap", {"i": i}) for i in range(8)]
    _, url = replay.new_script([Reply.tool_calls(calls), Reply.text("all rested")], prefix=prefix)
    stamps: list = []
    agent = make_agent(url, tools=[_nap_tool(kind, delay)])
    t0 = time.perf_counter()
    res = run_async(lambda: arun(agent, "nap", sink=lambda e: stamps.append(
        (time.perf_counter(), e))))
    return res, stamps, time.perf_counter() - t0


@pytest.mark.parametrize("kind", ["async", "blocking", "class"])
def test_parallel_tools_run_in_parallel(kind, replay):
    """8 tools sleeping 0.5 s each: one step's tools take ~0.5 s, not 4 s."""
    res, stamps, total = _run_naps(replay, kind, lambda i: 0.5, "parallel-" + kind)
    assert res.text == "all rested"
    first_call_done = min(t for t, e in stamps if isinstance(e, ToolCallComplete))
    last_result = max(t for t, e in stamps if isinstance(e, ToolResult))
    tool_phase = last_result - first_call_done
    assert tool_phase < 0.6, tool_phase  # sequential: 4 s
    assert total < 1.5, total  # the whole 2-step run
    results = [e for _, e in stamps if isinstance(e, ToolResult)]
    assert len(results) == 8 and all(480 <= r.duration_ms < 600 for r in results)
    assert all(not r.is_error for r in results)


@pytest.mark.parametrize("kind", ["async", "blocking", "class"])
def test_tool_results_keep_the_order_of_the_calls(kind, replay):
    # call i sleeps 0.09 - 0.01*i s: the first call finishes last
    res, stamps, _ = _run_naps(replay, kind, lambda i: 0.09 - 0.01 * i, "order-" + kind)
    done_order = [e.id for _, e in stamps if isinstance(e, ToolResult)]
    assert done_order[0] == "c7" and done_order[-1] == "c0"
    tool_msgs = [m for m in res.messages if m.role == "tool"]
    assert [m.tool_call_id for m in tool_msgs] == [f"c{i}" for i in range(8)]
    expect = [f"slept {i}" if kind != "class" else json.dumps({"slept": i}) for i in range(8)]
    assert [m.content for m in tool_msgs] == expect


def test_max_parallel_tools_limits_concurrency(replay):
    running = {"now": 0, "peak": 0}

    @tool
    async def work(i: int) -> str:
        """Works."""
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        await asyncio.sleep(0.02)
        running["now"] -= 1
        return "ok"
    _, url = replay.new_script([Reply.tool_calls([(f"c{i}", "work", {"i": i}) for i in range(6)]),
                                Reply.text("done")], prefix="maxpar")
    res = run_async(lambda: arun(make_agent(url, tools=[work], max_parallel_tools=2), "go"))
    assert res.text == "done" and running["peak"] == 2


def test_max_steps_is_a_finish_reason_not_an_error(replay):
    sname, url = replay.new_script([Reply.tool_calls([("c", "add", {"a": 1, "b": 1})])],
                                   prefix="maxsteps", repeat_last=True)
    events: list = []
    res = run_async(lambda: arun(make_agent(url, tools=[add], max_steps=3), "loop",
                                 sink=events.append))
    assert res.finish_reason == "max_steps" and res.steps == 3 and res.error is None
    assert len(replay.requests(sname)) == 3
    assert [m.role for m in res.messages] == ["user"] + ["assistant", "tool"] * 3
    assert isinstance(events[-1], RunFinished)
    # the max_steps argument overrides the agent's
    res = run_async(lambda: arun(make_agent(url, tools=[add], max_steps=3), "loop", max_steps=1))
    assert res.steps == 1 and res.finish_reason == "max_steps"


def test_on_step_stop(replay):
    seen = []

    class Once(Agent):
        def on_step(self, info, ctx):
            seen.append((info.step, info.finish_reason, len(info.tool_results)))
            return "stop"

    sname, url = replay.new_script([Reply.tool_calls([("c", "add", {"a": 1, "b": 1})]),
                                    Reply.text("never")], prefix="onstep")
    agent = Once(model="test/m", base_url=url, api_key="k", tools=[add])
    res = run_async(lambda: arun(agent, "go"))
    assert res.finish_reason == "on_step" and res.steps == 1
    assert seen == [(1, "tool_calls", 1)]
    assert len(replay.requests(sname)) == 1
    assert res.messages[-1].role == "tool" and res.messages[-1].content == "2"


def test_context_system_prompt_callable_and_dict_messages(replay):
    class Ctx(Agent):
        model = "test/m"

        def system_prompt(self, ctx):
            return f"User is {ctx.deps['who']}."

    @tool
    def whoami(ctx) -> str:
        """Who is asking."""
        return f"{ctx.deps['who']} at step {ctx.step}"

    sname, url = replay.new_script([Reply.tool_calls([("c", "whoami", {})]), Reply.text("ok")],
                                   prefix="ctx")
    agent = Ctx(base_url=url, api_key="k", tools=[whoami])
    res = run_async(lambda: arun(agent, [{"role": "user", "content": "hi"}],
                                 context={"who": "Ada"}))
    assert res.messages[0].content == "User is Ada."
    assert res.messages[3].content == "Ada at step 1"


def test_event_order(replay):
    _, url = replay.new_script([Reply.tool_calls([("c1", "add", {"a": 1, "b": 2}),
                                                  ("c2", "add", {"a": 3, "b": 4})], text="Let me."),
                                Reply.text("3 and 7")], prefix="order")
    events: list = []
    run_async(lambda: arun(make_agent(url, tools=[add]), "go", sink=events.append))
    assert events[0].type == "run_start"
    assert [e.type for e in events if e.type.startswith("model_call")] == \
        ["model_call_start", "model_call_finish"] * 2
    assert [e.type for e in events].count("tool_start") == 2
    kinds = [e.type for e in events if e.type not in
             ("run_start", "model_call_start", "model_call_finish", "tool_start")]
    # step 1: start, text, two calls streamed, completes, results, finish
    s1 = kinds[:kinds.index("step_finish") + 1]
    assert s1[0] == "step_start" and s1[1] == "text_delta"
    assert s1.index("tool_call_start") < s1.index("tool_call_delta") < \
        s1.index("tool_call_complete") < s1.index("tool_result") < s1.index("step_finish")
    assert s1.count("tool_call_complete") == 2 and s1.count("tool_result") == 2
    rest = kinds[len(s1):]
    assert rest[0] == "step_start" and "text_delta" in rest
    assert rest[-2:] == ["step_finish", "run_finished"]
    assert kinds.count("run_finished") == 1
    starts = [e for e in events if isinstance(e, StepStart)]
    assert [(s.step, s.message_count) for s in starts] == [(1, 1), (2, 4)]
    fins = [e for e in events if isinstance(e, StepFinish)]
    assert [(f.finish_reason, f.tool_calls) for f in fins] == [("tool_calls", 2), ("stop", 0)]


def test_non_streaming_agent(replay):
    body = {"id": "x", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "whole"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    sname, url = replay.new_script([Reply.json(body)], prefix="nonstream")
    res = run_async(lambda: arun(make_agent(url, stream=False), "hi"))
    assert res.text == "whole" and res.usage["total_tokens"] == 2
    sent = replay.requests(sname)[0].body
    assert "stream" not in sent and "stream_options" not in sent


def test_agent_rejects_unknown_settings():
    with pytest.raises(TypeError):
        Agent(modle="x/y")


def test_message_inputs_are_not_mutated(replay):
    _, url = replay.new_script([Reply.text("fine")], prefix="nomut")
    history = [Message.user("hi")]
    res = run_async(lambda: arun(make_agent(url, system_prompt="S"), history))
    assert len(history) == 1 and len(res.messages) == 3
