"""A history sent with fewer tools than it used (engine/repair.py ``calls_as_text``): a call of a
tool the request does not offer, and its result, go as text, so Anthropic-style providers (which
refuse tool_use/tool_result blocks whose tools are not defined) take the conversation; the
calls of offered tools stay calls. The library end to end: a structured answer given through
``final_answer``, then the conversation continued without ``output_type``."""

from __future__ import annotations

import json

import pytest

from helpers import make_agent, run_async
from replay_server import Reply

from loomex_cli import Message, ProviderError, arun, run, tool
from loomex_cli.engine.messages import ToolCall
from loomex_cli.engine.repair import calls_as_text
from loomex_cli.wire.registry import ModelInfo

ANSWER = '{"name": "Ada", "age": 36}'


def answered() -> list[Message]:
    """What a structured run in tool mode leaves: the answer call and its result."""
    return [Message.system("sys"), Message.user("Who?"),
            Message.assistant(None, [ToolCall("call_1", "final_answer", ANSWER)]),
            Message.tool("call_1", "The answer was accepted.", "final_answer")]


def wire(msgs: list[Message]) -> list[dict]:
    return [m.to_wire() for m in msgs]


def undefined_calls(body: dict) -> list[str]:
    """The tool calls (and results) of a request body that name no tool it defines: what
    Anthropic refuses ("Requests which include tool_use or tool_result blocks must define
    tools")."""
    offered = {t["function"]["name"] for t in body.get("tools") or ()}
    bad = [c["function"]["name"] for m in body["messages"] for c in m.get("tool_calls") or ()
           if c["function"]["name"] not in offered]
    return bad + ["tool result" for m in body["messages"] if m["role"] == "tool" and not offered]


def test_nothing_changes_when_every_call_is_offered():
    msgs = answered()
    assert calls_as_text(msgs, {"final_answer", "bash"}) is msgs
    plain = [Message.user("hi"), Message.assistant("hello")]
    assert calls_as_text(plain, ()) is plain


def test_the_answer_call_becomes_text_and_its_result_opens_the_next_user_message():
    msgs = answered() + [Message.user("And her birth year?")]
    before = wire(msgs)
    sent = wire(calls_as_text(msgs, set()))
    assert sent == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "Who?"},
        {"role": "assistant", "content": f"[tool call call_1: final_answer]\n{ANSWER}"},
        {"role": "user", "content": "[result of tool call call_1: final_answer]\n"
                                    "The answer was accepted.\n\nAnd her birth year?"}]
    assert wire(msgs) == before  # the history itself is not changed


def test_a_result_with_no_user_message_after_it_is_one_of_its_own():
    sent = wire(calls_as_text(answered(), set()))
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[-1]["content"] == ("[result of tool call call_1: final_answer]\n"
                                   "The answer was accepted.")
    later = answered() + [Message.assistant("It was Ada.")]  # an assistant turn after it
    assert [m["role"] for m in wire(calls_as_text(later, set()))] == [
        "system", "user", "assistant", "user", "assistant"]


def test_offered_calls_stay_and_the_others_join_the_text():
    msgs = [Message.user("q"),
            Message.assistant("Checking.", [ToolCall("a", "bash", '{"command": "ls"}'),
                                            ToolCall("b", "final_answer", '{"x": 1}'),
                                            ToolCall("c", "bash", "")]),
            Message.tool("a", "Error: not run", "bash"), Message.tool("b", "ok", "final_answer"),
            Message.tool("c", "empty", "bash"), Message.user("next")]
    sent = wire(calls_as_text(msgs, {"bash"}))
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "user"]
    turn = sent[1]
    assert [c["id"] for c in turn["tool_calls"]] == ["a", "c"]
    assert turn["content"] == 'Checking.\n\n[tool call b: final_answer]\n{"x": 1}'
    assert [m["tool_call_id"] for m in sent[2:4]] == ["a", "c"]
    assert sent[4]["content"] == "[result of tool call b: final_answer]\nok\n\nnext"


def test_a_call_with_no_arguments_and_several_calls_of_one_turn():
    msgs = [Message.user("q"),
            Message.assistant(None, [ToolCall("a", "bash", ""), ToolCall("b", "bash", "{}")]),
            Message.tool("a", "one", "bash"), Message.tool("b", "two", "bash")]
    sent = wire(calls_as_text(msgs, ()))
    assert sent[1] == {"role": "assistant", "content": "[tool call a: bash]\n{}\n\n"
                                                       "[tool call b: bash]\n{}"}
    assert sent[2] == {"role": "user", "content": "[result of tool call a: bash]\none\n\n"
                                                  "[result of tool call b: bash]\ntwo"}


def test_content_parts_are_kept_and_the_result_goes_first():
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    msgs = answered() + [Message.user([{"type": "text", "text": "this one?"}, image])]
    sent = wire(calls_as_text(msgs, ()))
    assert sent[-1]["content"] == [
        {"type": "text", "text": "[result of tool call call_1: final_answer]\n"
                                 "The answer was accepted."},
        {"type": "text", "text": "this one?"}, image]
    listed = [Message.user("q"), Message("assistant", [{"type": "text", "text": "Hm."}],
                                         [ToolCall("a", "f", "{}")]),
              Message.tool("a", "r", "f")]
    assert wire(calls_as_text(listed, ()))[1]["content"] == [
        {"type": "text", "text": "Hm."}, {"type": "text", "text": "[tool call a: f]\n{}"}]


def test_a_reused_call_id_of_an_offered_tool_keeps_its_result():
    msgs = [Message.user("q"), Message.assistant(None, [ToolCall("call_0", "gone", "{}")]),
            Message.tool("call_0", "first", "gone"), Message.user("again"),
            Message.assistant(None, [ToolCall("call_0", "bash", "{}")]),
            Message.tool("call_0", "second", "bash")]
    sent = wire(calls_as_text(msgs, {"bash"}))
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "tool"]
    assert sent[-1] == {"role": "tool", "content": "second", "tool_call_id": "call_0"}
    assert sent[2]["content"] == "[result of tool call call_0: gone]\nfirst\n\nagain"


# -- the library, end to end --------------------------------------------------------------

def no_json_schema(**kw: object) -> ModelInfo:
    return ModelInfo(provider="test", model="m", name="m", context_window=100_000,
                     max_input=None, max_output=8_000, cost=None, tool_call=True,
                     reasoning=False, temperature=True, status=None, structured_output=False,
                     **kw)


@tool
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


def test_a_structured_answer_continued_without_output_type(replay):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "final_answer", {"name": "Ada"})]),  # the repair turn's cause
        Reply.tool_calls([("c2", "final_answer", json.loads(ANSWER))]),
        Reply.text("1815.")], prefix="cat-lib")
    agent = make_agent(url, model_info=no_json_schema())
    schema = {"type": "object", "properties": {"name": {"type": "string"},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"]}
    first = run(agent, "Who?", output_type=schema)
    assert first.output == json.loads(ANSWER)
    assert [c.name for m in first.messages for c in m.tool_calls or ()] == ["final_answer"] * 2
    again = run(agent, [*first.messages, Message.user("Her birth year?")])
    assert again.text == "1815."
    body = replay.requests(name)[2].body
    assert "tools" not in body and undefined_calls(body) == []
    sent = body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert sent[3]["content"] == f"[tool call c2: final_answer]\n{json.dumps(json.loads(ANSWER))}"
    assert "missing required property 'age'" in sent[2]["content"]  # the repair's error
    assert sent[4]["content"].endswith("The answer was accepted.\n\nHer birth year?")
    # what the run returns is what happened: the calls stay calls
    assert [c.id for m in again.messages for c in m.tool_calls or ()] == ["c1", "c2"]


def test_a_tool_still_offered_keeps_its_calls(replay):
    name, url = replay.new_script([Reply.text("Five, as before.")], prefix="cat-keep")
    history = [Message.user("2+3, as a verdict"),
               Message.assistant(None, [ToolCall("t1", "add", '{"a": 2, "b": 3}')]),
               Message.tool("t1", "5", "add"),
               Message.assistant(None, [ToolCall("t2", "final_answer", '{"value": 5}')]),
               Message.tool("t2", "The answer was accepted.", "final_answer"),
               Message.user("Sure?")]
    res = run(make_agent(url, tools=[add]), history)
    assert res.text == "Five, as before."
    body = replay.requests(name)[0].body
    assert undefined_calls(body) == []
    sent = body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "add"
    assert sent[3]["content"] == '[tool call t2: final_answer]\n{"value": 5}'


def test_an_answer_cut_off_is_kept_when_a_text_only_model_leaves_images_out(replay):
    """The images message left out of the request is left out of the request only: what was
    streamed of an answer cut off still joins the run's messages."""
    name, url = replay.new_script([Reply.text("partial", " answer", " never",
                                              close_after_pieces=3)], prefix="cat-img")
    info = no_json_schema(inputs=("text",))
    history = [Message.user("look"),
               Message.assistant(None, [ToolCall("s1", "shot", "{}")]),
               Message.tool("s1", "[image 1: image/png, 3 bytes, attached below]", "shot"),
               Message("user", [{"type": "text", "text": "The images"}],
                       extra={"tool_images": 1}),
               Message.assistant("A dot."), Message.user("Again?")]
    with pytest.raises(ProviderError) as ei:
        run_async(lambda: arun(make_agent(url, model_info=info), history))
    last = ei.value.result.messages[-1]  # type: ignore[attr-defined]
    assert last.role == "assistant" and last.text == "partial answer"
    assert last.extra.get("interrupted")
    sent = replay.requests(name)[0].body["messages"]
    assert "The images" not in json.dumps(sent)
