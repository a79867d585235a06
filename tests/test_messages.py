"""Messages: lossless JSON round trip (tool calls, ids, reasoning, extras) and the wire form."""

from __future__ import annotations

import json

from loomex_cli import Message, RunResult, ToolCall
from loomex_cli.engine.messages import messages_from_json, messages_to_json


def _conversation() -> list[Message]:
    return [
        Message.system("Be brief."),
        Message.user([{"type": "text", "text": "What is "}, {"type": "text", "text": "2+3?"}]),
        Message("assistant", "Let me add.", [ToolCall("call_1", "add", '{"a": 2, "b": 3}'),
                                             ToolCall("functions.mul:1", "mul", "")],
                reasoning="The user wants a sum.",
                extra={"reasoning_details": [{"type": "reasoning.text", "text": "x"}]}),
        Message.tool("call_1", "5", "add"),
        Message.tool("functions.mul:1", "Error: ValueError: no", "mul"),
        Message("assistant", "It is 5 — ✓ ünïcode", reasoning="",
                extra={"interrupted": "cancelled"}),
    ]


def test_json_round_trip_is_lossless():
    msgs = _conversation()
    text = messages_to_json(msgs)
    back = messages_from_json(text)
    assert back == msgs
    assert messages_to_json(back) == text
    assert "ünïcode" in text  # not escaped
    assert back[2].tool_calls[0].parsed_arguments() == {"a": 2, "b": 3}
    assert back[2].tool_calls[1].parsed_arguments() == {}
    assert back[1].text == "What is 2+3?"


def test_from_openai_dicts():
    m = Message.from_dict({"role": "assistant", "content": None, "reasoning_content": "think",
                           "tool_calls": [{"id": "c", "type": "function",
                                           "function": {"name": "f", "arguments": {"x": 1}}}]})
    assert m.reasoning == "think"
    assert m.tool_calls == [ToolCall("c", "f", '{"x": 1}')]


def test_wire_form():
    msgs = _conversation()
    wire = [m.to_wire() for m in msgs]
    assert wire[2]["reasoning_content"] == "The user wants a sum."
    assert "extra" not in wire[2] and "reasoning" not in wire[2]
    assert "reasoning_content" not in msgs[2].to_wire(echo_reasoning=False)
    assert wire[3] == {"role": "tool", "content": "5", "tool_call_id": "call_1"}
    assert "reasoning_content" not in wire[5]  # no tool calls: reasoning is not sent back
    json.dumps(wire)


def test_run_result_to_dict():
    r = RunResult(_conversation(), steps=2, usage={"total_tokens": 9})
    d = r.to_dict()
    assert d["text"] == "It is 5 — ✓ ünïcode"
    assert [Message.from_dict(m) for m in d["messages"]] == r.messages
    json.dumps(d)
