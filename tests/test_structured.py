"""Structured output in the library (engine/structured.py): ``run(..., output_type=...)`` against
the loopback server, both ways of asking (response_format json_schema, a forced tool call), the
repair turn, and the answer as the caller's type; and the effort field the request carries."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Literal, NotRequired, Optional, TypedDict

import pytest

from helpers import make_agent
from replay_server import Reply

from loomex_cli import SchemaMismatch, run
from loomex_cli.wire.registry import ModelInfo


def info(structured: bool | None = None, reasoning: bool = False,
         efforts: tuple[str, ...] | None = None) -> ModelInfo:
    return ModelInfo(provider="test", model="m", name="m", context_window=100_000,
                     max_input=None, max_output=8_000, cost=None, tool_call=True,
                     reasoning=reasoning, temperature=True, status=None,
                     structured_output=structured, efforts=efforts)


class Person(TypedDict):
    name: str
    age: int
    nick: NotRequired[str]


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Ticket:
    title: str
    colour: Colour
    tags: list[str]
    priority: Optional[int] = None


def test_typeddict_through_response_format(replay):
    name, url = replay.new_script([Reply.text('{"name": "Ada", ', '"age": 36}')], prefix="so-rf")
    agent = make_agent(url, model_info=info(structured=True))
    res = run(agent, "Who wrote the first program?", output_type=Person)
    assert res.output == {"name": "Ada", "age": 36} and res.finish_reason == "stop"
    [req] = replay.requests(name)
    assert req.body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "Person", "strict": False,  # nick is not required: not strict-compatible
        "schema": {"type": "object", "additionalProperties": False,
                   "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                  "nick": {"type": "string"}},
                   "required": ["name", "age"]}}}
    assert "tools" not in req.body and "tool_choice" not in req.body
    assert res.to_dict()["output"] == {"name": "Ada", "age": 36}


def test_dataclass_through_a_forced_tool_call(replay):
    answer = {"title": "Fix login", "colour": "red", "tags": ["auth"], "priority": 2}
    name, url = replay.new_script([Reply.tool_calls([("c1", "Ticket", answer)])],
                                  prefix="so-tool")
    agent = make_agent(url, model_info=info(structured=False))
    res = run(agent, "File a ticket", output_type=Ticket)
    assert res.output == Ticket("Fix login", Colour.RED, ["auth"], 2)
    assert isinstance(res.output.colour, Colour)
    assert res.output_json == answer
    [req] = replay.requests(name)
    assert req.body["tool_choice"] == {"type": "function", "function": {"name": "Ticket"}}
    [spec] = req.body["tools"]
    params = spec["function"]["parameters"]
    assert spec["function"]["name"] == "Ticket" and "response_format" not in req.body
    assert params["required"] == ["title", "colour", "tags"]
    assert params["properties"]["colour"] == {"enum": ["red", "blue"], "type": "string"}
    assert params["properties"]["priority"] == {"type": ["integer", "null"], "default": None}
    # the answer call got its result: the conversation can go on
    assert [m.role for m in res.messages] == ["user", "assistant", "tool"]


def test_unknown_support_uses_the_tool_and_keeps_other_tools_usable(replay):
    def lookup(city: str) -> str:
        """Looks up a city."""
        return "Paris: 2.1M"
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "lookup", {"city": "Paris"})]),
        Reply.tool_calls([("c2", "final_answer", {"value": 2100000})]),
    ], prefix="so-tools")
    agent = make_agent(url, tools=[lookup])  # no registry entry: structured_output unknown
    res = run(agent, "How many people live in Paris?", output_type=int)
    assert res.output == 2100000 and res.steps == 2
    first, second = (r.body for r in replay.requests(name))
    assert first["tool_choice"] == "required"  # the model may use lookup first
    assert [t["function"]["name"] for t in first["tools"]] == ["lookup", "final_answer"]
    assert first["tools"][1]["function"]["parameters"] == {
        "type": "object", "properties": {"value": {"type": "integer"}}, "required": ["value"],
        "additionalProperties": False}
    assert second["messages"][-1] == {"role": "tool", "content": "Paris: 2.1M",
                                      "tool_call_id": "c1"}


def test_one_repair_turn_quotes_the_validation_error(replay):
    name, url = replay.new_script([Reply.text('{"name": "Ada", "age": "36"}'),
                                   Reply.text('```json\n{"name": "Ada", "age": 36}\n```')],
                                  prefix="so-repair")
    agent = make_agent(url, model_info=info(structured=True))
    res = run(agent, "Who?", output_type=Person)
    assert res.output == {"name": "Ada", "age": 36} and res.steps == 2
    repair = replay.requests(name)[1].body["messages"][-1]
    assert repair["role"] == "user"
    assert "$.age: expected integer, got string" in repair["content"]


def test_still_invalid_after_the_repair_raises_with_the_result(replay):
    name, url = replay.new_script([Reply.tool_calls([("c1", "final_answer", {"v": 1})]),
                                   Reply.tool_calls([("c2", "final_answer", {"v": 2})])],
                                  prefix="so-fail")
    agent = make_agent(url, model_info=info(structured=False))
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    with pytest.raises(SchemaMismatch, match="missing required property 'n'") as caught:
        run(agent, "Count", output_type=schema)
    result = caught.value.result
    assert result.finish_reason == "error" and result.output is None
    # the repair was a tool result for the answer call, quoting the problem
    repair = replay.requests(name)[1].body["messages"][-1]
    assert repair["role"] == "tool" and repair["tool_call_id"] == "c1"
    assert "missing required property 'n'" in repair["content"]
    assert result.messages[-1].role == "tool"  # every call has its result
    assert len(replay.requests(name)) == 2


def test_a_text_answer_in_tool_mode_is_asked_again(replay):
    name, url = replay.new_script([Reply.text("It is 4."),
                                   Reply.tool_calls([("c1", "final_answer", {"value": 4})])],
                                  prefix="so-text")
    agent = make_agent(url, model_info=info(structured=False))
    res = run(agent, "2+2?", output_type=Literal[4, 5])
    assert res.output == 4
    assert "calling the function final_answer" in \
        replay.requests(name)[1].body["messages"][-1]["content"]


def test_openai_wrapper_form_and_its_strict_flag(replay):
    name, url = replay.new_script([Reply.text('{"ok": true}')], prefix="so-wrap")
    agent = make_agent(url, model_info=info(structured=True))
    schema = {"name": "verdict", "strict": True,
              "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}},
                         "required": ["ok"], "additionalProperties": False}}
    res = run(agent, "ok?", output_type=schema)
    assert res.output == {"ok": True}
    rf = replay.requests(name)[0].body["response_format"]["json_schema"]
    assert rf["name"] == "verdict" and rf["strict"] is True


def test_a_schema_with_unchecked_keywords_is_refused_before_sending(replay):
    name, url = replay.new_script([Reply.text("never")], prefix="so-unchecked")
    agent = make_agent(url)
    with pytest.raises(ValueError, match="does not check.*not, patternProperties"):
        run(agent, "x", output_type={"type": "object", "patternProperties": {},
                                     "properties": {"a": {"not": {"type": "string"}}}})
    assert replay.requests(name) == []


@pytest.mark.parametrize("wanted, efforts, reasons, sent", [
    ("high", ("low", "medium", "high"), True, {"reasoning_effort": "high"}),
    ("low", ("high",), True, {"reasoning_effort": "high"}),  # the nearest it takes
    ("medium", ("low", "high"), True, {"reasoning_effort": "high"}),  # a tie: the higher
    ("xhigh", None, True, {"reasoning_effort": "xhigh"}),  # the registry does not say
    ("high", None, False, {}),  # does not reason: left out
])
def test_effort_field(replay, wanted, efforts, reasons, sent):
    name, url = replay.new_script([Reply.text("ok")], prefix="effort")
    agent = make_agent(url, model_info=info(reasoning=reasons, efforts=efforts),
                       reasoning_effort=wanted)
    run(agent, "think")
    body = replay.requests(name)[0].body
    assert {k: body[k] for k in ("reasoning_effort", "reasoning") if k in body} == sent


def test_effort_written_the_openrouter_way(replay):
    from loomex_cli.wire.providers import Route
    from loomex_cli.wire.resolve import with_route
    name, url = replay.new_script([Reply.text("ok")], prefix="effort-or")
    route = Route(provider="openrouter", model="openai/gpt-5", base_url=url, api_key="k",
                  effort_style="reasoning")
    agent = make_agent(url, reasoning_effort="low")
    run(agent, "think", model=with_route(route, "openrouter/openai/gpt-5", info(reasoning=True)))
    body = replay.requests(name)[0].body
    assert body["reasoning"] == {"effort": "low"} and "reasoning_effort" not in body


def test_a_bad_effort_is_a_config_error(replay):
    from loomex_cli.errors import ConfigError
    name, url = replay.new_script([Reply.text("never")], prefix="effort-bad")
    with pytest.raises(ConfigError, match="'hard' is not one of"):
        run(make_agent(url, reasoning_effort="hard"), "x")
    assert replay.requests(name) == []


def test_result_to_dict_is_json_ready_with_a_dataclass_output(replay):
    answer = {"title": "t", "colour": "blue", "tags": []}
    name, url = replay.new_script([Reply.tool_calls([("c1", "Ticket", answer)])],
                                  prefix="so-json")
    res = run(make_agent(url, model_info=info(structured=False)), "x", output_type=Ticket)
    assert res.output.colour is Colour.BLUE and res.output.priority is None
    assert json.loads(json.dumps(res.to_dict()))["output"] == answer
