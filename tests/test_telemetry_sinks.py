"""Sinks (callable, async callable, asyncio.Queue, list; a raising sink is detached and the run
goes on) and telemetry (attach/detach, the events and their fields, a raising handler)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from helpers import make_agent, run_async
from replay_server import Reply

from loomex_cli import (RunFinished, StepFinish, StepStart, TextDelta, ToolCallComplete,
                        ToolCallDelta, ToolCallStart, ToolResult, arun, telemetry, tool)
from loomex_cli.engine.events import (ALL_EVENTS, MessageAdded, ModelCallFinish, ModelCallStart,
                                     RunStart, ToolStart, event_to_dict)
from loomex_cli.engine.telemetry_sink import TABLE


@tool
def add(a: int, b: int) -> int:
    """Adds."""
    return a + b


def _two_step(replay, prefix):
    _, url = replay.new_script([
        Reply.tool_calls([("c1", "add", {"a": 1, "b": 2})], text="Adding.",
                         usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
        Reply.text("It", " is", " 3."),
    ], prefix=prefix)
    return make_agent(url, tools=[add])


EXPECTED_ORDER = (
    [RunStart, StepStart, ModelCallStart, TextDelta, ToolCallStart, ToolCallDelta, ToolCallDelta,
     ModelCallFinish, MessageAdded, ToolCallComplete, ToolStart, ToolResult, MessageAdded,
     StepFinish,
     StepStart, ModelCallStart, TextDelta, TextDelta, TextDelta, ModelCallFinish, MessageAdded,
     StepFinish, RunFinished])


def test_event_order(replay):
    events: list = []
    res = run_async(lambda: arun(_two_step(replay, "order"), "go", sink=events.append))
    assert [type(e) for e in events] == EXPECTED_ORDER
    assert res.text == "It is 3."
    assert events[-1].result is res
    # every event is JSON-ready
    for e in events:
        d = event_to_dict(e)
        json.dumps(d)
        assert d["type"] == e.type


def test_all_sink_kinds_get_the_same_events(replay):
    plain: list = []
    from_async: list = []
    q: asyncio.Queue = asyncio.Queue()

    async def slow_async_sink(ev):
        await asyncio.sleep(0)
        from_async.append(ev)

    class AsyncCallable:
        def __init__(self):
            self.seen = []

        async def __call__(self, ev):
            self.seen.append(ev)

    obj = AsyncCallable()

    async def main():
        res = await arun(_two_step(replay, "kinds"), "go",
                         sink=[plain.append, slow_async_sink, q, [obj]])
        drained = []
        while not q.empty():
            drained.append(q.get_nowait())
        return res, drained
    res, drained = run_async(main)
    assert [type(e) for e in plain] == EXPECTED_ORDER
    # async sinks have been awaited to the end by the time arun returns
    assert from_async == plain and obj.seen == plain and drained == plain
    assert res.text == "It is 3."


def test_a_raising_sink_is_detached_and_the_run_goes_on(replay, caplog):
    good: list = []
    calls = {"bad": 0, "bad_async": 0}

    def bad(ev):
        calls["bad"] += 1
        if isinstance(ev, TextDelta):
            raise RuntimeError("sink bug")

    async def bad_async(ev):
        calls["bad_async"] += 1
        raise ValueError("async sink bug")

    caplog.set_level(logging.WARNING, logger="loomex")
    res = run_async(lambda: arun(_two_step(replay, "badsink"), "go",
                                 sink=[bad, good.append, bad_async]))
    assert res.text == "It is 3." and res.finish_reason == "stop"
    assert [type(e) for e in good] == EXPECTED_ORDER
    assert calls == {"bad": 4, "bad_async": 1}  # detached at their first failure (4th event)
    assert "RuntimeError" in caplog.text and "ValueError" in caplog.text


def test_a_full_queue_is_detached(replay):
    q: asyncio.Queue = asyncio.Queue(maxsize=2)
    good: list = []

    async def main():
        return await arun(_two_step(replay, "fullq"), "go", sink=[q, good.append])
    res = run_async(main)
    assert res.text == "It is 3." and len(good) == len(EXPECTED_ORDER) and q.qsize() == 2


def test_not_a_sink(replay):
    _, url = replay.new_script([Reply.text("x")], prefix="notsink")
    with pytest.raises(TypeError, match="not a sink"):
        run_async(lambda: arun(make_agent(url), "go", sink=42))


# -- telemetry ---------------------------------------------------------------------------

@pytest.fixture
def collected():
    got: list = []
    telemetry.attach("test-all", telemetry.EVENTS,
                     lambda ev, m, md: got.append((".".join(ev[1:]), m, md)))
    try:
        yield got
    finally:
        telemetry.detach("test-all")


def test_attach_detach():
    def h(*a):
        pass
    telemetry.attach("t1", ("loomex", "tool", "stop"), h)
    try:
        assert "t1" in telemetry.handlers()
        assert telemetry.enabled(("loomex", "tool", "stop"))
        with pytest.raises(ValueError):
            telemetry.attach("t1", [("loomex", "tool", "stop")], h)
    finally:
        assert telemetry.detach("t1") is True
    assert telemetry.detach("t1") is False
    assert "t1" not in telemetry.handlers()
    assert not telemetry.enabled(("loomex", "tool", "stop"))


def test_the_twelve_events_and_their_fields(replay, collected):
    from loomex_cli import report_progress

    @tool(risk="write")
    def save(text: str) -> str:
        """Saves."""
        report_progress(1, 2, "half way")  # from a worker thread: the call's ToolProgress
        return "saved"

    @tool
    def broken() -> str:
        """Fails."""
        raise RuntimeError("no")

    _, url = replay.new_script([
        Reply.json({"error": {"message": "busy"}}, status=503),
        Reply.tool_calls([("c1", "save", {"text": "hi"}), ("c2", "broken", {})]),
        Reply.text("done"),
    ], prefix="telemetry")
    agent = make_agent(url, tools=[save, broken])
    res = run_async(lambda: arun(agent, "go", approver=lambda t, args, ctx: True))
    assert res.text == "done"
    names = [n for n, _, _ in collected]
    assert set(names) == set(TABLE) - {"context.compact"} | {"tool.approval"}
    assert names[0] == "agent.start" and names[-1] == "agent.stop"
    # every event has exactly the table's measurements and metadata (tool.approval is apart)
    for n, m, md in collected:
        if n != "tool.approval":
            assert (set(m), set(md)) == TABLE[n], n

    def one(name):
        return [(m, md) for n, m, md in collected if n == name]
    [(m, md)] = one("agent.start")
    assert md["model"] == "test/m" and md["agent"] == "Agent" and md["run_id"]
    assert md["context"] == {} and m["system_time"] > 0
    run_id = md["run_id"]
    [(m, md)] = one("agent.stop")
    assert m["duration"] > 0 and m["steps"] == 2 and md["finish_reason"] == "stop"
    assert md["result"] is res and md["agent"] == "Agent"
    assert [(md["agent"], md["step"]) for _, md in one("step.start")] == [("Agent", 1),
                                                                         ("Agent", 2)]
    assert [(md["step"], md["finish_reason"]) for _, md in one("step.stop")] == \
        [(1, "tool_calls"), (2, "stop")]
    assert all(m["duration"] >= 0 for m, _ in one("step.stop"))
    starts = one("llm.start")
    assert [(md["model"], md["message_count"]) for _, md in starts] == [("test/m", 1),
                                                                       ("test/m", 4)]
    stops = one("llm.stop")
    assert [md["finish_reason"] for _, md in stops] == ["tool_calls", "stop"]
    assert all(m["duration"] > 0 for m, _ in stops)
    [(m, md)] = one("llm.retry")
    assert m["delay_ms"] > 0 and md["attempt"] == 1 and "busy" in md["error"]
    assert md["model"] == "test/m"
    assert {(md["tool"], md["tool_call_id"]) for _, md in one("tool.start")} == \
        {("save", "c1"), ("broken", "c2")}
    stops = {md["tool"]: (m, md) for m, md in one("tool.stop")}
    assert stops["save"][1]["is_error"] is False and stops["broken"][1]["is_error"] is True
    assert all(m["duration"] >= 0 for m, _ in stops.values())
    [(m, md)] = one("tool.error")
    assert md["tool"] == "broken" and md["tool_call_id"] == "c2"
    assert "RuntimeError: no" in md["error"]
    [(m, md)] = one("tool.progress")
    assert m == {"progress": 1, "total": 2} and md["message"] == "half way"
    assert (md["tool"], md["tool_call_id"], md["step"]) == ("save", "c1", 1)
    [(m, md)] = one("tool.approval")
    assert md["tool"] == "save" and md["allowed"] is True
    assert all(md["run_id"] == run_id for _, _, md in collected)


def test_llm_stop_and_step_stop_on_failure(replay, collected):
    _, url = replay.new_script([Reply.json({"error": {"message": "bad"}}, status=400)],
                               prefix="telemetry-fail")
    with pytest.raises(Exception):
        run_async(lambda: arun(make_agent(url), "go"))
    names = [n for n, _, _ in collected]
    assert names == ["agent.start", "step.start", "llm.start", "llm.stop", "step.stop",
                     "agent.stop"]
    by = {n: md for n, _, md in collected}
    assert by["llm.stop"]["finish_reason"] == "error"
    assert by["step.stop"]["finish_reason"] == "error"
    assert by["agent.stop"]["finish_reason"] == "error"
    for n, m, md in collected:
        assert (set(m), set(md)) == TABLE[n], n


def test_event_type_strings_follow_the_class_names():
    import re
    for cls in ALL_EVENTS:
        assert cls.type == re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower(), cls


def _one_of_each():
    from loomex_cli.engine.events import (Compacted, ReasoningDelta, Retrying, RunError,
                                          ToolProgress)
    from loomex_cli.engine.result import RunResult
    from loomex_cli import Message
    samples = [RunStart("A", "p/m", "r1"), StepStart(1, "p/m", 1), ModelCallStart(1, "p/m", 1),
               TextDelta("x", 1), ReasoningDelta("y", 1), ToolCallStart("c", "t", 0, 1),
               ToolCallDelta("c", 0, "{", 1), ToolCallComplete("c", "t", "{}", 0, 1),
               ModelCallFinish(1, "p/m", "tool_calls"), MessageAdded(Message.user("u"), 1),
               ToolStart("c", "t", 1), ToolProgress("c", "t", 40, 100, "page 2", 1),
               ToolResult("c", "t", "ok", False, 1.0, 1),
               ToolResult("d", "t", "Error: no", True, 1.0, 1, "error"),
               Retrying(1, 1, 0.5, "busy"), Compacted(10, 5, 2, 1, True, 1),
               StepFinish(1, "stop"), RunError("boom", "provider"),
               RunFinished(RunResult([Message.user("u")]))]
    assert {type(e) for e in samples} == set(ALL_EVENTS)  # a new event class needs a sample
    return samples


def test_every_consumer_handles_every_event(tmp_path):
    """Each consumer takes one of every event class without failing: the telemetry sink
    matches exhaustively (an unknown class is a TypeError), the others must not crash."""
    import io
    from loomex_cli.cli.render import JsonOutput
    from loomex_cli.engine.telemetry_sink import TelemetrySink
    got: list = []
    telemetry.attach("exhaustive", telemetry.EVENTS, lambda ev, m, md: got.append(ev))
    try:
        sink = TelemetrySink()
        for e in _one_of_each():
            sink(e)
    finally:
        telemetry.detach("exhaustive")
    assert {".".join(e[1:]) for e in got} == set(TABLE)
    with pytest.raises(TypeError):
        sink(object())
    out = io.StringIO()
    j = JsonOutput(out)
    for e in _one_of_each():
        j(e)
        if not isinstance(e, (RunStart, RunFinished)):
            assert event_to_dict(e)["type"] == e.type
    from loomex_cli.web.protocol import UIMessageStream
    enc = UIMessageStream()
    for e in _one_of_each():
        enc.event(e)


def test_a_raising_handler_is_detached(replay, caplog, collected):
    calls = []

    def bad(ev, m, md):
        calls.append(ev)
        raise RuntimeError("handler bug")
    telemetry.attach("bad", telemetry.EVENTS, bad)
    caplog.set_level(logging.WARNING, logger="loomex.telemetry")
    try:
        res = run_async(lambda: arun(_two_step(replay, "badhandler"), "go"))
    finally:
        telemetry.detach("bad")
    assert res.text == "It is 3."
    assert len(calls) == 1 and "bad" not in telemetry.handlers()
    assert "handler bug" not in caplog.text and "'bad'" in caplog.text
    # the other handler saw the whole run
    assert collected[0][0] == "agent.start" and collected[-1][0] == "agent.stop"


def test_default_logger(replay, caplog):
    hid = telemetry.attach_default_logger()
    caplog.set_level(logging.INFO, logger="loomex.telemetry")
    try:
        run_async(lambda: arun(_two_step(replay, "deflog"), "go"))
    finally:
        telemetry.detach(hid)
    assert "loomex.agent.start" in caplog.text and "loomex.tool.stop" in caplog.text
