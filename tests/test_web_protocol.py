"""The web face's pure parts: engine events -> UI message stream chunks, UIMessages -> engine
messages. ``check_stream`` (the protocol's ordering and field rules, from
shared/docs/aisdk-protocol.md) is used by the other web tests as well."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loomex_cli.engine.events import (ReasoningDelta, Retrying, RunError, RunFinished,
                                      StepFinish, StepStart, TextDelta, ToolCallComplete,
                                      ToolCallDelta, ToolCallStart, ToolResult)
from loomex_cli.engine.messages import Message, ToolCall
from loomex_cli.engine.result import RunResult
from loomex_cli.web import BadRequest, UIMessageStream, sse, ui_to_messages
from loomex_cli.web.protocol import INTERNAL_ERROR, INTERRUPTED, tool_output

# -- the rules every stream must follow ---------------------------------------------------

#: the fields ai 5.0.0 accepts per chunk type (+ finish.finishReason, accepted from 5.0.92):
#: what strict (pre-#17010) clients allow
ALLOWED: dict[str, tuple[set[str], set[str]]] = {  # type -> (required, optional)
    "start": (set(), {"messageId", "messageMetadata"}),
    "start-step": (set(), set()),
    "finish-step": (set(), set()),
    "text-start": ({"id"}, {"providerMetadata"}),
    "text-delta": ({"id", "delta"}, {"providerMetadata"}),
    "text-end": ({"id"}, {"providerMetadata"}),
    "reasoning-start": ({"id"}, {"providerMetadata"}),
    "reasoning-delta": ({"id", "delta"}, {"providerMetadata"}),
    "reasoning-end": ({"id"}, {"providerMetadata"}),
    "tool-input-start": ({"toolCallId", "toolName"}, {"providerExecuted", "dynamic"}),
    "tool-input-delta": ({"toolCallId", "inputTextDelta"}, set()),
    "tool-input-available": ({"toolCallId", "toolName", "input"},
                             {"providerExecuted", "providerMetadata", "dynamic"}),
    "tool-output-available": ({"toolCallId", "output"},
                              {"providerExecuted", "dynamic", "preliminary"}),
    "tool-output-error": ({"toolCallId", "errorText"}, {"providerExecuted", "dynamic"}),
    "error": ({"errorText"}, set()),
    # data-<name> parts ({id?, data, transient?} in ai 5.0's uiMessageChunkSchema)
    "data-tool-progress": ({"id", "data", "transient"}, set()),
    "finish": (set(), {"finishReason", "messageMetadata"}),
}
FINISH_REASONS = {"stop", "length", "content-filter", "tool-calls", "error", "other"}


def check_stream(chunks: list[dict[str, Any]]) -> None:
    """Asserts the UI message stream rules: known chunk types with their 5.0 fields and no
    null; start first, finish last; steps not nested; deltas and ends inside an open part;
    every part ended before its step ends; tool outputs after their input and inside a step,
    one per call; an error is followed by finish with finishReason "error"."""
    assert chunks, "no chunks"
    assert chunks[0]["type"] == "start", chunks[0]
    assert chunks[-1]["type"] == "finish", chunks[-1]
    in_step = False
    open_parts: dict[str, str] = {}
    tools: dict[str, str] = {}  # toolCallId -> "input" | "available" | "output"
    errored = False
    for i, c in enumerate(chunks):
        t = c["type"]
        assert t in ALLOWED, f"chunk {i}: unknown type {t!r}"
        req, opt = ALLOWED[t]
        keys = set(c) - {"type"}
        assert req <= keys, f"chunk {i}: {t} lacks {req - keys}"
        assert keys <= req | opt, f"chunk {i}: {t} has extra fields {keys - req - opt}"
        for k in keys - {"input", "output"}:
            assert c[k] is not None, f"chunk {i}: {t}.{k} is null"
        if t == "start":
            assert i == 0
            if "messageId" in c:
                assert isinstance(c["messageId"], str) and c["messageId"]
        elif t == "start-step":
            assert not in_step, f"chunk {i}: start-step inside a step"
            in_step = True
        elif t == "finish-step":
            assert in_step, f"chunk {i}: finish-step outside a step"
            assert not open_parts, f"chunk {i}: parts still open at finish-step: {open_parts}"
            in_step = False
        elif t in ("text-start", "reasoning-start"):
            assert in_step, f"chunk {i}: {t} outside a step"
            assert c["id"] not in open_parts, f"chunk {i}: part {c['id']} opened twice"
            open_parts[c["id"]] = t.split("-")[0]
        elif t in ("text-delta", "reasoning-delta", "text-end", "reasoning-end"):
            kind = t.split("-")[0]
            assert open_parts.get(c["id"]) == kind, f"chunk {i}: {t} for a part not open"
            assert isinstance(c.get("delta", ""), str)
            if t.endswith("-end"):
                del open_parts[c["id"]]
        elif t == "tool-input-start":
            assert in_step, f"chunk {i}: {t} outside a step"
            assert c["toolCallId"] not in tools, f"chunk {i}: tool call id reused"
            tools[c["toolCallId"]] = "input"
        elif t == "tool-input-delta":
            assert tools.get(c["toolCallId"]) == "input", f"chunk {i}: delta without start"
        elif t == "tool-input-available":
            assert in_step
            assert tools.get(c["toolCallId"], "input") == "input", f"chunk {i}: {c}"
            tools[c["toolCallId"]] = "available"
        elif t in ("tool-output-available", "tool-output-error"):
            assert in_step, f"chunk {i}: tool output outside a step"
            assert c["toolCallId"] in tools, f"chunk {i}: output for an unknown call"
            assert tools[c["toolCallId"]] != "output", f"chunk {i}: a second output"
            tools[c["toolCallId"]] = "output"
        elif t == "data-tool-progress":  # only while its call runs; never kept
            assert tools.get(c["id"]) == "available", f"chunk {i}: progress of no running call"
            assert c["transient"] is True and c["data"]["toolCallId"] == c["id"]
        elif t == "error":
            errored = True
            assert isinstance(c["errorText"], str) and c["errorText"]
        elif t == "finish":
            assert i == len(chunks) - 1, "finish is not last"
            assert not in_step and not open_parts
            assert c.get("finishReason", "stop") in FINISH_REASONS
            if errored:
                assert c.get("finishReason") == "error"
    assert all(v == "output" for v in tools.values()), f"tool calls without output: {tools}"


def events_to_chunks(events: list[Any], **kw: Any) -> list[dict[str, Any]]:
    enc = UIMessageStream(message_id="msg_test", **kw)
    out = enc.start()
    for ev in events:
        out += enc.event(ev)
    return out


def finished(reason: str = "stop") -> RunFinished:
    r = RunResult([])
    r.finish_reason = reason
    return RunFinished(r)


def types(chunks: list[dict[str, Any]]) -> list[str]:
    return [c["type"] for c in chunks]


# -- encoder ---------------------------------------------------------------------------------

def test_two_steps_match_the_reference_stream_of_the_doc():
    """The byte-exact example of aisdk-protocol.md section 6 (ids aside)."""
    out = {"city": "Paris", "tempC": 18, "sky": "cloudy"}
    events = [
        StepStart(1, "m", 1), TextDelta("Let me check ", 1), TextDelta("the weather.", 1),
        ToolCallStart("call_1", "get_weather", 0, 1),
        ToolCallDelta("call_1", 0, '{"city":', 1), ToolCallDelta("call_1", 0, '"Paris"}', 1),
        ToolCallComplete("call_1", "get_weather", '{"city":"Paris"}', 0, 1),
        ToolResult("call_1", "get_weather", json.dumps(out), False, 1.0, 1),
        StepFinish(1, "tool_calls", {}, 1),
        StepStart(2, "m", 3), TextDelta("It is 18°C and cloudy in Paris.", 2),
        StepFinish(2, "stop", {}, 0), finished(),
    ]
    chunks = events_to_chunks(events)
    check_stream(chunks)
    body = b"".join(sse(c) for c in chunks).decode()
    expected = (
        'data: {"type":"start","messageId":"msg_test"}\n\n'
        'data: {"type":"start-step"}\n\n'
        'data: {"type":"text-start","id":"txt_1"}\n\n'
        'data: {"type":"text-delta","id":"txt_1","delta":"Let me check "}\n\n'
        'data: {"type":"text-delta","id":"txt_1","delta":"the weather."}\n\n'
        'data: {"type":"text-end","id":"txt_1"}\n\n'
        'data: {"type":"tool-input-start","toolCallId":"call_1","toolName":"get_weather"}\n\n'
        'data: {"type":"tool-input-delta","toolCallId":"call_1","inputTextDelta":"{\\"city\\":"}\n\n'
        'data: {"type":"tool-input-delta","toolCallId":"call_1","inputTextDelta":"\\"Paris\\"}"}\n\n'
        'data: {"type":"tool-input-available","toolCallId":"call_1","toolName":"get_weather","input":{"city":"Paris"}}\n\n'
        'data: {"type":"tool-output-available","toolCallId":"call_1","output":{"city":"Paris","tempC":18,"sky":"cloudy"}}\n\n'
        'data: {"type":"finish-step"}\n\n'
        'data: {"type":"start-step"}\n\n'
        'data: {"type":"text-start","id":"txt_2"}\n\n'
        'data: {"type":"text-delta","id":"txt_2","delta":"It is 18°C and cloudy in Paris."}\n\n'
        'data: {"type":"text-end","id":"txt_2"}\n\n'
        'data: {"type":"finish-step"}\n\n'
        'data: {"type":"finish","finishReason":"stop"}\n\n'
    )
    assert body == expected


def test_reasoning_then_text_are_separate_parts_each_ended():
    events = [StepStart(1, "m", 1), ReasoningDelta("think", 1), ReasoningDelta("ing", 1),
              TextDelta("answer", 1), StepFinish(1, "stop"), finished()]
    chunks = events_to_chunks(events)
    check_stream(chunks)
    assert types(chunks) == ["start", "start-step", "reasoning-start", "reasoning-delta",
                             "reasoning-delta", "reasoning-end", "text-start", "text-delta",
                             "text-end", "finish-step", "finish"]
    assert chunks[2]["id"] != chunks[6]["id"]


def test_empty_deltas_and_retries_send_nothing():
    events = [StepStart(1, "m", 1), Retrying(1, 1, 0.1, "503"), TextDelta("", 1),
              TextDelta("x", 1), StepFinish(1, "stop"), finished()]
    assert types(events_to_chunks(events)) == [
        "start", "start-step", "text-start", "text-delta", "text-end", "finish-step", "finish"]


def test_arguments_before_the_name_are_held_until_the_call_starts():
    events = [StepStart(1, "m", 1), ToolCallDelta("", 0, '{"a":', 1),
              ToolCallStart("c1", "t", 0, 1), ToolCallDelta("c1", 0, "1}", 1),
              ToolCallComplete("c1", "t", '{"a":1}', 0, 1),
              ToolResult("c1", "t", "ok", False, 1.0, 1), StepFinish(1, "tool_calls", {}, 1),
              finished("max_steps")]
    chunks = events_to_chunks(events)
    check_stream(chunks)
    deltas = [c["inputTextDelta"] for c in chunks if c["type"] == "tool-input-delta"]
    assert deltas == ['{"a":', "1}"]
    assert chunks[-1] == {"type": "finish", "finishReason": "tool-calls"}


def test_a_call_id_reused_in_a_later_step_gets_a_distinct_ui_id():
    def step(n: int) -> list[Any]:
        return [StepStart(n, "m", 1), ToolCallStart("call_0", "t", 0, n),
                ToolCallComplete("call_0", "t", "{}", 0, n),
                ToolResult("call_0", "t", f"r{n}", False, 1.0, n),
                StepFinish(n, "tool_calls", {}, 1)]
    chunks = events_to_chunks(step(1) + step(2) + [finished("max_steps")])
    check_stream(chunks)
    ids = [c["toolCallId"] for c in chunks if c["type"] == "tool-output-available"]
    assert ids == ["call_0", "call_0_2"]


def test_non_streamed_calls_and_unannounced_results_still_get_a_tool_part():
    events = [StepStart(1, "m", 1), ToolCallComplete("c1", "t", "not json", 0, 1),
              ToolResult("c1", "t", "Error: bad arguments", True, 0.1, 1, "invalid_arguments"),
              ToolResult("c9", "ghost", "x", False, 0.1, 1), StepFinish(1, "tool_calls", {}, 2),
              finished("max_steps")]
    chunks = events_to_chunks(events)
    check_stream(chunks)
    avail = [c for c in chunks if c["type"] == "tool-input-available"]
    assert avail[0]["input"] == "not json"  # the raw text when it is not JSON
    assert avail[1] == {"type": "tool-input-available", "toolCallId": "c9",
                        "toolName": "ghost", "input": {}}
    assert {"type": "tool-output-error", "toolCallId": "c1",
            "errorText": "Error: bad arguments"} in chunks


def test_error_mid_call_interrupts_the_open_tool_part_and_finishes_with_error():
    events = [StepStart(1, "m", 1), TextDelta("Let me", 1), ToolCallStart("c1", "t", 0, 1),
              ToolCallDelta("c1", 0, '{"a"', 1),
              RunError("prov: the stream broke", "stream"), finished("error")]
    chunks = events_to_chunks(events)
    check_stream(chunks)
    assert types(chunks)[-6:] == ["tool-input-start", "tool-input-delta", "tool-output-error",
                                  "error", "finish-step", "finish"]
    assert chunks[-4]["errorText"] == INTERRUPTED
    assert chunks[-3] == {"type": "error", "errorText": "prov: the stream broke"}
    assert chunks[-1] == {"type": "finish", "finishReason": "error"}


def test_errors_that_are_not_loomex_errors_are_not_described_to_the_client():
    chunks = events_to_chunks([StepStart(1, "m", 1),
                               RunError("secret path /home/x/.key", "KeyError"),
                               finished("error")])
    assert {"type": "error", "errorText": INTERNAL_ERROR} in chunks
    custom = events_to_chunks([RunError("x", "auth"), finished("error")],
                              error_text=lambda e: "custom")
    assert {"type": "error", "errorText": "custom"} in custom
    check_stream(custom)


@pytest.mark.parametrize("step_reason,run_reason,expected", [
    ("stop", "stop", "stop"), ("length", "stop", "length"),
    ("content_filter", "stop", "content-filter"), (None, "stop", "stop"),
    ("tool_calls", "max_steps", "tool-calls"), ("weird", "stop", "other"),
    ("stop", "cancelled", "other"),
    ("stop", "max_cost", "other"),
])
def test_finish_reason(step_reason, run_reason, expected):
    chunks = events_to_chunks([StepStart(1, "m", 1), TextDelta("x", 1),
                               StepFinish(1, step_reason), finished(run_reason)])
    assert chunks[-1] == {"type": "finish", "finishReason": expected}


def test_nothing_after_finish_and_finish_is_idempotent():
    enc = UIMessageStream()
    assert enc.start()[0]["messageId"].startswith("msg_")
    assert enc.start() == []
    end = enc.finish()
    assert end == [{"type": "finish", "finishReason": "stop"}]
    assert enc.finish() == [] and enc.event(TextDelta("late")) == []
    assert UIMessageStream().message_id != UIMessageStream().message_id
    assert UIMessageStream(message_id="").start() == [{"type": "start"}]


def test_tool_output_is_structured_only_when_it_round_trips():
    assert tool_output('{"a": 1, "b": [1, 2]}') == {"a": 1, "b": [1, 2]}
    assert tool_output("[1, 2]") == [1, 2]
    assert tool_output('{"a":1}') == '{"a":1}'  # not how the engine writes JSON: kept as text
    assert tool_output("42") == "42"
    assert tool_output("{not json}") == "{not json}"
    assert tool_output("") == ""


def test_sse_framing_is_compact_utf8():
    assert sse({"type": "text-delta", "id": "t", "delta": "é\n"}) == \
        'data: {"type":"text-delta","id":"t","delta":"é\\n"}\n\n'.encode()


# -- UIMessages -> engine messages -------------------------------------------------------------

DOC_ASSISTANT = {  # aisdk-protocol.md section 2: what useChat sends back on the second turn
    "id": "msg_ref_1", "role": "assistant", "parts": [
        {"type": "step-start"},
        {"type": "text", "text": "Let me check the weather.", "state": "done"},
        {"type": "tool-get_weather", "toolCallId": "call_1", "state": "output-available",
         "input": {"city": "Paris"}, "output": {"city": "Paris", "tempC": 18, "sky": "cloudy"}},
        {"type": "step-start"},
        {"type": "text", "text": "It is 18°C and cloudy in Paris.", "state": "done"},
    ]}


def user(text: str, mid: str = "u") -> dict[str, Any]:
    return {"id": mid, "role": "user", "parts": [{"type": "text", "text": text}]}


def test_the_doc_second_turn_keeps_the_tool_history_in_order():
    msgs = ui_to_messages({"id": "chat", "trigger": "submit-message", "messages": [
        user("What is the weather in Paris?"), DOC_ASSISTANT, user("And tomorrow?")]})
    assert [m.to_dict() for m in msgs] == [
        Message.user("What is the weather in Paris?").to_dict(),
        Message.assistant("Let me check the weather.",
                          [ToolCall("call_1", "get_weather", '{"city": "Paris"}')]).to_dict(),
        Message.tool("call_1", '{"city": "Paris", "tempC": 18, "sky": "cloudy"}',
                     "get_weather").to_dict(),
        Message.assistant("It is 18°C and cloudy in Paris.").to_dict(),
        Message.user("And tomorrow?").to_dict(),
    ]


def test_what_the_encoder_sends_converts_back_to_what_the_engine_had():
    """The engine's tool message text survives the trip through the client unchanged."""
    content = json.dumps({"rows": [1, 2], "note": "é"}, ensure_ascii=False)
    ui_part = {"type": "tool-q", "toolCallId": "c1", "state": "output-available",
               "input": {"sql": "select 1"}, "output": tool_output(content)}
    msgs = ui_to_messages([user("q"), {"id": "a", "role": "assistant", "parts": [
        {"type": "step-start"}, ui_part,
        {"type": "tool-q", "toolCallId": "c2", "state": "output-available", "input": {},
         "output": "plain text"}]}])
    assert msgs[2].content == content and msgs[3].content == "plain text"
    assert [m.tool_call_id for m in msgs[2:]] == ["c1", "c2"]
    assert [c.id for c in msgs[1].tool_calls] == ["c1", "c2"]


def test_parallel_calls_errors_denials_and_dynamic_tools():
    parts = [
        {"type": "step-start"},
        {"type": "reasoning", "text": "hmm", "state": "done"},
        {"type": "tool-a", "toolCallId": "c1", "state": "output-error", "input": {"x": 1},
         "errorText": "Error: boom"},
        {"type": "dynamic-tool", "toolName": "b", "toolCallId": "c2",
         "state": "output-available", "input": "raw{", "output": None},
        {"type": "tool-c", "toolCallId": "c3", "state": "output-denied", "input": {}},
        {"type": "tool-d", "toolCallId": "c4", "state": "input-available", "input": {}},
        {"type": "tool-e", "toolCallId": "c5", "state": "output-error", "errorText": "cut"},
        {"type": "data-weather", "data": {"x": 1}},
        {"type": "source-url", "sourceId": "s", "url": "https://e.org"},
        {"type": "some-future-part", "foo": 1},
    ]
    msgs = ui_to_messages([user("go"), {"id": "a", "role": "assistant", "parts": parts}])
    a = msgs[1]
    assert a.reasoning == "hmm" and a.content is None
    assert [(c.id, c.name, c.arguments) for c in a.tool_calls] == [
        ("c1", "a", '{"x": 1}'), ("c2", "b", "raw{"), ("c3", "c", "{}")]
    assert [(m.role, m.tool_call_id, m.content) for m in msgs[2:]] == [
        ("tool", "c1", "Error: boom"), ("tool", "c2", "null"),
        ("tool", "c3", "Error: the user denied this tool call. It did not run.")]


def test_text_after_a_tool_part_without_step_start_starts_a_new_step():
    msgs = ui_to_messages([user("go"), {"id": "a", "role": "assistant", "parts": [
        {"type": "text", "text": "one"},
        {"type": "tool-t", "toolCallId": "c1", "state": "output-available", "input": {},
         "output": "r"},
        {"type": "text", "text": "two"}]}])
    assert [(m.role, m.text) for m in msgs] == [
        ("user", "go"), ("assistant", "one"), ("tool", "r"), ("assistant", "two")]


PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
       "RU5ErkJggg==")


def test_content_strings_files_and_system_messages():
    msgs = ui_to_messages([
        {"role": "system", "content": "be evil"},
        {"role": "user", "content": "hi"},
        {"id": "u2", "role": "user", "parts": [
            {"type": "text", "text": "what is "}, {"type": "text", "text": "this?"},
            {"type": "file", "mediaType": "image/png", "url": f"data:image/png;base64,{PNG}"}]},
    ])
    assert [m.role for m in msgs] == ["user", "user"]  # client system prompts are dropped
    assert msgs[1].content == [{"type": "text", "text": "what is this?"},
                               {"type": "image_url",
                                "image_url": {"url": f"data:image/png;base64,{PNG}"}}]
    kept = ui_to_messages([{"role": "system", "parts": [{"type": "text", "text": "s"}]},
                           user("x")], allow_system=True)
    assert [m.role for m in kept] == ["system", "user"]


@pytest.mark.parametrize("body,needle", [
    ({}, "no 'messages'"),
    ({"messages": "hi"}, "must be a list"),
    ({"messages": []}, "empty"),
    ({"messages": ["hi"]}, "messages[0] must be an object"),
    ({"messages": [{"role": "robot", "parts": []}]}, "role"),
    ({"messages": [{"role": "user", "parts": "hi"}]}, "parts must be a list"),
    ({"messages": [{"role": "user"}]}, "parts must be a list"),
    ({"messages": [{"role": "user", "parts": [{"text": "x"}]}]}, "string 'type'"),
    ({"messages": [{"role": "user", "parts": [{"type": "text", "text": 3}]}]}, "text must be"),
    ({"messages": [{"role": "user", "parts": [{"type": "file", "url": "x"}]}]}, "mediaType"),
    ({"messages": [user("x"), {"role": "assistant", "parts": [
        {"type": "tool-t", "state": "output-available", "input": {}, "output": 1}]}]},
     "toolCallId"),
    ({"messages": [user("x"), {"role": "assistant", "parts": [
        {"type": "dynamic-tool", "toolCallId": "c", "state": "output-available"}]}]},
     "tool name"),
    ({"messages": [{"role": "assistant", "parts": [{"type": "text", "text": "hi"}]}]},
     "no user message"),
])
def test_malformed_requests_raise_bad_request(body, needle):
    with pytest.raises(BadRequest) as e:
        ui_to_messages(body)
    assert needle in str(e.value)
    assert isinstance(e.value, ValueError)


def test_the_web_face_is_not_imported_by_the_package_or_the_cli():
    import subprocess
    import sys
    code = ("import sys, loomex_cli, loomex_cli.cli.app\n"
            "from loomex_cli import Agent, run\n"
            "print(sorted(m for m in sys.modules if m.startswith(('loomex_cli.web', 'uvicorn'))"
            " or m == 'loomex_cli.cli.serve'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == "[]"
