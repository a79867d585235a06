"""The hand-written event classes (engine/events.py) keep what dataclasses gave them."""

from __future__ import annotations

import inspect

import pytest

from loomex_cli.engine.events import (ALL_EVENTS, ModelCallFinish, StepFinish, TextDelta,
                                      ToolResult, event_to_dict)


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=lambda c: c.__name__)
def test_fields_are_the_init_parameters_in_order(cls):
    params = list(inspect.signature(cls).parameters)
    assert tuple(params) == cls.__slots__ == cls.__match_args__
    assert cls.type and cls.type not in cls.__slots__
    event = cls(*[f"v{i}" for i in range(len(params))])
    assert [getattr(event, p) for p in params] == [f"v{i}" for i in range(len(params))]
    with pytest.raises(AttributeError):
        event.not_a_field = 1  # slotted


def test_equality_repr_and_match():
    a, b = TextDelta("hi", step=2), TextDelta("hi", step=2)
    assert a == b and a != TextDelta("hi", step=3) and a != ("hi", 2)
    assert repr(a) == "TextDelta(text='hi', step=2)"
    match ToolResult("c1", "bash", "out", True, 1.5):
        case ToolResult(_, name, is_error=True, status=status):
            assert (name, status) == ("bash", "ok")
        case _:
            pytest.fail("no match")
    with pytest.raises(TypeError):
        hash(a)  # compared by value and mutable: unhashable, like the dataclasses were


def test_defaults_are_not_shared_and_dicts_are_copies():
    one, two = ModelCallFinish(1, "m", "stop"), ModelCallFinish(1, "m", "stop")
    one.usage["x"] = 1
    assert two.usage == {}
    usage = {"prompt_tokens": {"cached": 3}}
    event = StepFinish(1, "stop", usage, cost_usd=0.5)
    d = event_to_dict(event)
    assert d == {"type": "step_finish", "step": 1, "finish_reason": "stop", "usage": usage,
                 "tool_calls": 0, "cost_usd": 0.5}
    d["usage"]["prompt_tokens"]["cached"] = 99
    assert usage["prompt_tokens"]["cached"] == 3
