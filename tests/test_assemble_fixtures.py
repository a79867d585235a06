"""Every recorded 200 response, replayed over real HTTP, assembles into what the recording holds.

Expected values come from :func:`helpers.reference_turn` (an independent, naive reading of the
recorded body) and, for the tricky shapes, from values written out by hand below.
"""

from __future__ import annotations

import json

import pytest

from helpers import (FAKE_KEY, Recorder, is_stream_fixture, make_agent, make_route,
                     reference_turn, run_async)
from replay_server import Reply, fixture_names, load_fixture

from loomex_cli import (BadRequestError, Message, ProviderError, RunFinished, StepFinish,
                        StepStart, TextDelta, ToolCallComplete, ToolCallStart, arun, run)
from loomex_cli.engine.events import RunStart
from loomex_cli.wire import client

ALL = fixture_names()
OK = [n for n in ALL if load_fixture(n)["status"] == 200]
ERRORS = [n for n in ALL if load_fixture(n)["status"] != 200]

#: recordings whose 200 body carries a provider error (a chunk or an ``event: error``)
MIDSTREAM_ERRORS = {
    "openrouter-minimax-stream-midstream-error-length": (BadRequestError, "Token limit reached"),
    "groq-gptoss120b-stream-reasoning-midstream-error-event": (
        BadRequestError, "Tool call validation failed: tool call validation failed: parameters "
        "for tool get_something_by_name did not match schema"),
}

INVENTED = object()  # the provider sent no id: loomex must invent a unique, non-empty one


def test_fixture_inventory(fixtures_dir):
    """The recordings are all there (a missing folder fails under LOOMEX_REQUIRE_ALL=1)."""
    assert len(ALL) == 64
    assert len(OK) == 57 and len(ERRORS) == 7
    assert set(MIDSTREAM_ERRORS) <= set(OK)


def _body(fx: dict) -> dict:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    if is_stream_fixture(fx):
        body["stream"] = True
    return body


def _assemble(replay, name: str, split: str = "events"):
    """(Assembled or the raised error, the assembler, its recorder) over real HTTP."""
    fx = load_fixture(name)
    _, url = replay.new_script([Reply.fixture(name, split=split)], prefix=name)
    rec = Recorder()
    asm = rec.assembler()

    async def go():
        return await client.chat(make_route(url), _body(fx), asm)
    try:
        return run_async(go), asm, rec
    except ProviderError as e:
        return e, asm, rec


@pytest.mark.parametrize("split", ["events", "bytes:61"])
@pytest.mark.parametrize("name", OK)
def test_recording_assembles(name, split, replay, fixtures_dir):
    ref = reference_turn(name)
    got, asm, rec = _assemble(replay, name, split)
    if ref.error is not None:
        cls, words = MIDSTREAM_ERRORS[name]
        assert isinstance(got, cls), got
        assert got.message == ref.error["message"]
        assert words in str(got)
        assert got.after_output  # output had streamed: never retried
        # what streamed before the error is kept
        assert asm.partial_text() == ref.text
        assert asm.partial_reasoning() == ref.reasoning
        assert "".join(rec.reasoning) == ref.reasoning
        return
    assert not isinstance(got, Exception), got
    assert got.content == (ref.text or None)
    assert got.reasoning == (ref.reasoning or None)
    assert got.finish_reason == ref.finish_reason
    assert got.usage == ref.usage
    assert len(got.tool_calls) == len(ref.tool_calls)
    for call, (rid, rname, rargs) in zip(got.tool_calls, ref.tool_calls):
        assert call.name == rname
        assert call.arguments == rargs
        assert json.loads(call.arguments) == json.loads(rargs)
        if rid:
            assert call.id == rid
        else:
            assert call.id and call.id.strip()
    assert len({c.id for c in got.tool_calls}) == len(got.tool_calls)
    # the callbacks saw the same thing, under the same ids, as it arrived
    assert "".join(rec.text) == ref.text
    assert "".join(rec.reasoning) == ref.reasoning
    assert [(cid, nm) for _, cid, nm in rec.starts] == [(c.id, c.name) for c in got.tool_calls]
    assert rec.args_by_id() == {c.id: c.arguments for c in got.tool_calls if c.arguments}


# -- hand-written expectations for the tricky shapes -------------------------------------

HAND = {
    # continuation chunks repeat "id": "" (a naive accumulator would lose the id)
    "alibaba-qwen3max-stream-tool-empty-id-continuations": dict(
        calls=[("call_eee11723464a4b9eb8cee71d", "weather", {"location": "San Francisco"})],
        finish="tool_calls", total_tokens=317),
    # both calls in ONE chunk, entries without index: two calls, not one
    "mistral-large-stream-parallel-tools-one-chunk-no-index": dict(
        calls=[("nqjf8Hqe1", "plus", {"a": 1, "b": 2}), ("ATcpCKul3", "minus", {"a": 2, "b": 1})],
        finish="tool_calls", total_tokens=232),
    # each call whole in one chunk
    "xai-grok4fast-stream-parallel-tools-whole": dict(
        calls=[("call_55070233", "add", {"a": 2, "b": 3}),
               ("call_12016531", "multiply", {"a": 2, "b": 3})],
        finish="tool_calls", total_tokens=636),
    # no index, id "", finish_reason "stop"
    "gemini-openai-compat-stream-tool-no-index-finish-stop": dict(
        calls=[(INVENTED, "return_list_of_int", {"value": [1, 2, 3, 4, 5]})],
        finish="stop", total_tokens=33),
    "gemini-openai-compat-nonstream-tools-no-id": dict(
        calls=[(INVENTED, "get_current_time", {})], finish="tool_calls", total_tokens=109),
    "ollama-llama31-stream-tool-no-index-finish-stop": dict(
        calls=[("call_kve3oltz", "return_bool", {"value": True})], finish="stop",
        total_tokens=None),
    # the name chunk has no arguments key; the args chunk repeats type; a later usage chunk
    # carries finish_reason null (which must not erase "tool_calls")
    "openrouter-novita-kimik2-stream-tool-name-then-args": dict(
        calls=[("llm_version:0", "llm_version", {})], finish="tool_calls", total_tokens=68),
    # n=2: choice 0 only
    "openai-gpt4omini-stream-two-choices-n2": dict(
        text=("I'm unable to provide real-time weather updates. To get the latest weather "
              "information for Seattle and San Francisco, I recommend checking a reliable "
              "weather website or using a weather app. You can also ask a voice assistant or "
              "search online for the current weather conditions."),
        calls=[], finish="stop", total_tokens=130),
    # usage only inside x_groq
    "groq-llama3-stream-text-xgroq-usage": dict(calls=[], finish="stop", total_tokens=91,
                                                usage_key="x_groq"),
    # no [DONE]: the finish chunk is the last thing in the body
    "hf-router-llama31-stream-no-done": dict(text="2", calls=[], finish="stop", total_tokens=53),
    "together-mixtral-nonstream-finish-eos": dict(calls=[], finish="eos", total_tokens=53),
    "vllm-opt125m-stream-finish-length": dict(calls=[], finish="length", total_tokens=None),
    "openai-gpt4o-stream-parallel-tools-step2": dict(
        calls=[("call_NS4iQj14cDFwc0BnrKqDHavt", "get_weather", {"city": "Mexico City"}),
               ("call_SkGkkGDvHQEEk0CGbnAh2AQw", "get_product_name", {})],
        finish="tool_calls", total_tokens=461),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_tricky_shapes_by_hand(name, replay, fixtures_dir):
    exp = HAND[name]
    got, _, rec = _assemble(replay, name)
    assert not isinstance(got, Exception), got
    calls = [(c.id, c.name, json.loads(c.arguments)) for c in got.tool_calls]
    assert len(calls) == len(exp["calls"])
    for (cid, cname, cargs), (eid, ename, eargs) in zip(calls, exp["calls"]):
        assert (cname, cargs) == (ename, eargs)
        if eid is INVENTED:
            assert cid.startswith("call_") and len(cid) > 8
        else:
            assert cid == eid
    if "text" in exp:
        assert got.content == exp["text"]
    assert got.finish_reason == exp["finish"]
    if exp["total_tokens"] is None:
        assert got.usage is None
    else:
        assert got.usage["total_tokens"] == exp["total_tokens"]
    if exp.get("usage_key") == "x_groq":
        assert got.usage["completion_tokens"] == 73 and got.usage["prompt_tokens"] == 18
    # events named the same ids as the result
    assert [s[1] for s in rec.starts] == [c.id for c in got.tool_calls]


def test_gemini_invented_ids_are_unique(replay, fixtures_dir):
    a, _, _ = _assemble(replay, "gemini-openai-compat-stream-tool-no-index-finish-stop")
    b, _, _ = _assemble(replay, "gemini-openai-compat-stream-tool-no-index-finish-stop")
    assert a.tool_calls[0].id != b.tool_calls[0].id


def test_minimax_error_chunk(replay, fixtures_dir):
    name = "openrouter-minimax-stream-midstream-error-length"
    err, asm, _ = _assemble(replay, name)
    assert isinstance(err, BadRequestError)
    assert err.message == "Token limit reached" and err.status == 400
    assert asm.partial_reasoning() == "We need to respond to a greeting. The user"
    # through the loop: the partial reasoning stays in the conversation
    _, url = replay.new_script([Reply.fixture(name)], prefix="minimax-loop")
    with pytest.raises(BadRequestError) as ei:
        run(make_agent(url), "hi")
    res = ei.value.result
    assert res.finish_reason == "error" and res.error is ei.value
    last = res.messages[-1]
    assert last.role == "assistant" and last.reasoning == "We need to respond to a greeting. The user"
    assert last.extra == {"interrupted": "error"} and not last.tool_calls


def test_groq_error_event(replay, fixtures_dir):
    name = "groq-gptoss120b-stream-reasoning-midstream-error-event"
    err, asm, _ = _assemble(replay, name)
    assert isinstance(err, BadRequestError) and err.status == 400
    assert err.code == "tool_use_failed"
    assert err.message.startswith("Tool call validation failed")
    assert "failed_generation" not in str(err) and '{"error"' not in str(err)
    assert asm.partial_reasoning().startswith("We need to call the tool")
    assert FAKE_KEY not in str(err) + repr(err)


# -- the same recordings through the whole loop (one step) --------------------------------

@pytest.mark.parametrize("name", [n for n in OK if n not in MIDSTREAM_ERRORS])
def test_recording_through_run(name, replay, fixtures_dir):
    fx = load_fixture(name)
    ref = reference_turn(fx)
    sname, url = replay.new_script([Reply.fixture(name)], prefix="run-" + name)
    events: list = []
    agent = make_agent(url, stream=is_stream_fixture(fx))
    res = run_async(lambda: arun(agent, [Message.user("hi")], sink=events.append, max_steps=1))
    sent = replay.requests(sname)[0].body
    assert sent.get("stream", False) == is_stream_fixture(fx)
    msg = res.messages[1]
    assert msg.role == "assistant"
    assert msg.content == (ref.text or None)
    assert msg.reasoning == (ref.reasoning or None)
    assert [(tc.name, json.loads(tc.arguments)) for tc in msg.tool_calls or []] == \
        [(n, json.loads(a)) for _, n, a in ref.tool_calls]
    assert res.steps == 1
    assert res.finish_reason == ("max_steps" if ref.tool_calls else "stop")
    assert res.step_usage == [ref.usage or {}]
    # every tool call got a result (the tools are unknown to this agent: an error result)
    tool_msgs = res.messages[2:]
    assert [m.tool_call_id for m in tool_msgs] == [tc.id for tc in msg.tool_calls or []]
    assert all(m.role == "tool" and m.content.startswith("Error: unknown tool") for m in tool_msgs)
    # events
    assert isinstance(events[0], RunStart) and isinstance(events[1], StepStart)
    assert isinstance(events[-1], RunFinished)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == ref.text
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    done = [e for e in events if isinstance(e, ToolCallComplete)]
    assert [(e.id, e.name) for e in starts] == [(tc.id, tc.name) for tc in msg.tool_calls or []]
    assert [(e.id, e.arguments) for e in done] == \
        [(tc.id, tc.arguments) for tc in msg.tool_calls or []]
    fin = [e for e in events if isinstance(e, StepFinish)]
    assert len(fin) == 1 and fin[0].finish_reason == ref.finish_reason


# -- synthetic shapes (no recording has them, servers may send them) ----------------------

def _feed(*chunks):
    from loomex_cli.wire.assemble import Assembler
    asm = Assembler()
    for c in chunks:
        asm.add(c)
    return asm.result()


def _delta(d, finish=None):
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def test_content_and_tool_calls_in_one_delta():
    r = _feed(_delta({"content": "Let me.", "tool_calls": [
        {"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]}),
        _delta({}, "tool_calls"))
    assert r.content == "Let me." and [(c.id, c.name) for c in r.tool_calls] == [("c1", "f")]


def test_content_and_reasoning_in_one_delta():
    r = _feed(_delta({"content": "4", "reasoning_content": "2+2"}), _delta({}, "stop"))
    assert (r.content, r.reasoning) == ("4", "2+2")


def test_content_parts_and_object_arguments():
    r = _feed(_delta({"content": [{"type": "text", "text": "a"}, {"type": "image"},
                                  {"type": "text", "text": "b"}]}),
              _delta({"tool_calls": [{"index": 0, "id": "c", "function": {
                  "name": "f", "arguments": {"x": 1}}}]}, "tool_calls"))
    assert r.content == "ab" and json.loads(r.tool_calls[0].arguments) == {"x": 1}


@pytest.mark.parametrize("chunk", [[1, 2], "text", 3, None])
def test_json_that_is_not_an_object_is_skipped(chunk):
    """Not a chunk at all (issue 12): skipped like a garbage line, the stream goes on."""
    r = _feed(_delta({"content": "a"}), chunk, _delta({"content": "b"}, "stop"))
    assert r.content == "ab" and r.finish_reason == "stop"


@pytest.mark.parametrize("chunk", [
    {"choices": {"0": {}}}, {"choices": "none"},
    {"choices": [{"index": 0, "delta": "text"}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": {"index": 0}}}]},
])
def test_malformed_chunks_are_stream_errors(chunk):
    from loomex_cli import StreamError
    with pytest.raises(StreamError):
        _feed(_delta({"content": "partial"}), chunk)


def test_odd_but_harmless_chunks_are_tolerated():
    r = _feed({"choices": [None, {"index": 0, "delta": {"content": "ok"}}]},
              {"choices": [{"index": 0, "delta": {"tool_calls": [
                  "junk", {"index": "0", "id": 7, "function": "f"},
                  {"index": 0, "id": "c", "function": {"name": "g", "arguments": "{}"}}]}}]},
              {"usage": [1], "x_groq": "x", "choices": [{"index": 0, "finish_reason": 3}]})
    assert r.content == "ok" and r.finish_reason == "3" and r.usage is None
    assert ("c", "g") in [(c.id, c.name) for c in r.tool_calls]
