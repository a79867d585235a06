"""JSON Schema both ways: the generator from type hints (engine/schema.py), the validator
(engine/schema_check.py), llm's concise form (engine/concise_schema.py), and turning a validated
answer back into the caller's type (engine/structured.py)."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
import typing
from typing import (Annotated, Any, Literal, NewType, NotRequired, Optional, Required, Sequence,
                    TypedDict, Union)

import pytest

from loomex_cli import tool
from loomex_cli.engine.concise_schema import parse_concise
from loomex_cli.engine.schema import type_to_schema as ts
from loomex_cli.engine.schema_check import unchecked_keywords, validate
from loomex_cli.engine.structured import convert, output_spec


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(TypedDict):
    street: str
    city: Annotated[str, "the city's name"]


class Partial(TypedDict, total=False):
    a: int
    b: Required[str]


class Mixed(TypedDict):
    a: int
    b: NotRequired[list[str]]


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


@dataclasses.dataclass
class Shape:
    """A shape on the plane.

    Longer text that is not the description."""
    name: str
    points: list[Point]
    colour: Colour
    home: Optional[Address] = None
    tags: set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class Node:
    value: int
    children: list["Node"]


UserId = NewType("UserId", int)


@pytest.mark.parametrize("ann, schema", [
    (str, {"type": "string"}), (int, {"type": "integer"}), (float, {"type": "number"}),
    (bool, {"type": "boolean"}), (None, {"type": "null"}), (Any, {}),
    (UserId, {"type": "integer"}),
    (Literal["a", "b"], {"enum": ["a", "b"], "type": "string"}),
    (Literal[1, "x"], {"enum": [1, "x"]}),
    (Colour, {"enum": ["red", "green"], "type": "string"}),
    (Level, {"enum": [1, 2], "type": "integer"}),
    (Optional[int], {"type": ["integer", "null"]}),
    (int | None, {"type": ["integer", "null"]}),
    (Optional[Colour], {"anyOf": [{"enum": ["red", "green"], "type": "string"}, {"type": "null"}]}),
    (Union[int, str], {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
    (list[int], {"type": "array", "items": {"type": "integer"}}),
    (list, {"type": "array"}),
    (Sequence[str], {"type": "array", "items": {"type": "string"}}),
    (set[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
    (frozenset[int], {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}),
    (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
    (tuple[float, float], {"type": "array", "items": {"type": "number"}, "minItems": 2,
                           "maxItems": 2}),
    (dict, {"type": "object"}),
    (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
    (typing.Mapping[str, list[str]], {"type": "object", "additionalProperties":
                                      {"type": "array", "items": {"type": "string"}}}),
    (Annotated[int, "how many"], {"type": "integer", "description": "how many"}),
    (Annotated[Optional[str], "maybe"], {"type": ["string", "null"], "description": "maybe"}),
])
def test_each_type_form(ann, schema):
    assert ts(ann) == schema


def test_typeddicts_total_required_and_not_required():
    assert ts(Address) == {
        "type": "object", "additionalProperties": False, "required": ["street", "city"],
        "properties": {"street": {"type": "string"},
                       "city": {"type": "string", "description": "the city's name"}}}
    assert ts(Partial)["required"] == ["b"]
    # NotRequired is seen even under `from __future__ import annotations` (this module)
    assert ts(Mixed)["required"] == ["a"]


def test_nested_dataclass_with_defaults_and_description():
    s = ts(Shape)
    assert s["description"] == "A shape on the plane."
    assert s["required"] == ["name", "points", "colour"]
    assert s["properties"]["points"]["items"] == {
        "type": "object", "additionalProperties": False, "required": ["x"],
        "properties": {"x": {"type": "number"}, "y": {"type": "number", "default": 0.0}}}
    assert s["properties"]["home"]["type"] == ["object", "null"]
    assert s["properties"]["home"]["default"] is None
    assert s["properties"]["tags"] == {"type": "array", "items": {"type": "string"},
                                       "uniqueItems": True}  # a factory: no default shown


@pytest.mark.parametrize("ann, words", [
    (bytes, "cannot express bytes"),
    (datetime.datetime, "cannot express datetime"),
    (dict[int, str], "JSON object keys are strings"),
    (tuple[int, str], "a tuple of mixed types"),
    (Node, "cannot express Node as JSON schema: it contains itself"),
    (list[object.__class__], "cannot express type"),
])
def test_what_cannot_be_expressed_is_named(ann, words):
    with pytest.raises(TypeError, match=words):
        ts(ann)


def test_a_tool_with_an_inexpressible_parameter_names_it():
    def f(when: datetime.date) -> str:
        return ""
    with pytest.raises(TypeError, match="tool f: parameter when: cannot express date"):
        tool(f)


def test_tool_parameters_keep_their_shape():
    @tool
    def find(pattern: str, limit: int | None = None, kinds: list[Literal["f", "d"]] = ["f"]):
        """Finds things."""
    assert find.parameters == {
        "type": "object", "required": ["pattern"],
        "properties": {"pattern": {"type": "string"},
                       "limit": {"type": ["integer", "null"]},
                       "kinds": {"type": "array", "items": {"enum": ["f", "d"], "type": "string"},
                                 "default": ["f"]}}}


# -- the validator -------------------------------------------------------------------

@pytest.mark.parametrize("value, schema, problem", [
    ("x", {"type": "integer"}, "$: expected integer, got string"),
    (True, {"type": "integer"}, "$: expected integer, got boolean"),
    (None, {"type": ["string", "null"]}, None),
    (2.0, {"type": "integer"}, None),
    ("blue", {"enum": ["red", "green"]}, '$: must be one of ["red", "green"], got "blue"'),
    (1, {"enum": [True]}, "$: must be one of [true], got 1"),
    ("v2", {"const": "v1"}, '$: must be "v1", got "v2"'),
    ({"a": 1, "b": 2}, {"type": "object", "properties": {"a": {}}, "additionalProperties": False},
     "$: unexpected property 'b'"),
    ({"a": "x"}, {"type": "object", "additionalProperties": {"type": "integer"}},
     "$.a: expected integer, got string"),
    ({}, {"type": "object", "required": ["a"]}, "$: missing required property 'a'"),
    ([1, "2"], {"type": "array", "items": {"type": "integer"}}, "$[1]: expected integer, got string"),
    ([1, 1], {"type": "array", "uniqueItems": True}, "$: items must be unique"),
    ([1], {"type": "array", "minItems": 2}, "$: needs at least 2 items, got 1"),
    ([1, "a"], {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}]},
     "$[1]: expected integer, got string"),
    ("ab", {"type": "string", "maxLength": 1}, "$: allows at most 1 characters"),
    ("ab", {"type": "string", "pattern": "^[0-9]+$"}, "$: does not match the pattern '^[0-9]+$'"),
    (5, {"type": "integer", "maximum": 4}, "$: must be at most 4, got 5"),
    (4, {"type": "integer", "exclusiveMaximum": 4}, "$: must be less than 4, got 4"),
    (0.3, {"type": "number", "multipleOf": 0.1}, None),
    (7, {"type": "integer", "multipleOf": 2}, "$: must be a multiple of 2"),
    ("x", {"anyOf": [{"type": "integer"}, {"type": "null"}]},
     "$: matches none of the allowed shapes ($: expected integer, got string)"),
    (1, {"oneOf": [{"type": "integer"}, {"type": "number"}]},
     "$: matches 2 of the allowed shapes, not exactly one"),
    (1.5, {"oneOf": [{"type": "integer"}, {"type": "number"}]}, None),
    ("x", {"allOf": [{"type": "string"}, {"minLength": 2}]}, "$: needs at least 2 characters"),
    ({"p": {"x": "1"}}, {"type": "object", "properties": {"p": {"$ref": "#/$defs/P"}},
                         "$defs": {"P": {"type": "object",
                                         "properties": {"x": {"type": "number"}}}}},
     "$.p.x: expected number, got string"),
])
def test_validator(value, schema, problem):
    problems = validate(value, schema, "$")
    assert problems == ([problem] if problem else [])


def test_unchecked_keywords_are_named():
    assert unchecked_keywords(ts(Shape)) == []
    assert unchecked_keywords({"type": "object", "title": "t", "format": "x",
                               "properties": {"a": {"if": {}, "then": {}},
                                              "b": {"$ref": "other.json#/x"}},
                               "patternProperties": {}}) == \
        ["$ref 'other.json#/x'", "if", "patternProperties", "then"]


# -- the concise form ------------------------------------------------------------------

def test_concise_form_comma_and_newline():
    assert parse_concise("name, age int, score float, ok bool, tags list[str]") == {
        "type": "object", "additionalProperties": False,
        "required": ["name", "age", "score", "ok", "tags"],
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                       "score": {"type": "number"}, "ok": {"type": "boolean"},
                       "tags": {"type": "array", "items": {"type": "string"}}}}
    s = parse_concise("name: the full name, as written\nage int: in years\n\n")
    assert s["properties"] == {"name": {"type": "string",
                                        "description": "the full name, as written"},
                               "age": {"type": "integer", "description": "in years"}}


@pytest.mark.parametrize("text, words", [
    ("name, age number", "unknown type 'number'"),
    ("tags list[dict]", "unknown type 'list[dict]'"),
    ("a, a int", "given twice"),
    (": no name", "has no name"),
    ("a b c", "should be NAME [TYPE]"),
    (" , ", "no fields"),
])
def test_concise_form_errors(text, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_concise(text)


# -- back to the caller's type -------------------------------------------------------

def test_convert_builds_dataclasses_enums_sets_and_tuples():
    value = {"name": "tri", "colour": "green", "tags": ["a", "b"],
             "points": [{"x": 0, "y": 1.5}, {"x": 2.0}],
             "home": {"street": "Main", "city": "Oslo"}}
    assert not validate(value, ts(Shape), "$")
    shape = convert(value, Shape)
    assert shape == Shape("tri", [Point(0.0, 1.5), Point(2.0)], Colour.GREEN,
                          {"street": "Main", "city": "Oslo"}, {"a", "b"})
    assert isinstance(shape.points[0].x, float)
    assert convert([1, 2], tuple[int, int]) == (1, 2)
    assert convert({"a": "red"}, dict[str, Colour]) == {"a": Colour.RED}
    assert convert(None, Optional[Point]) is None
    assert convert({"x": 1}, Union[int, Point]) == Point(1.0)


def test_output_spec_names_and_wrapping():
    assert output_spec(Shape).name == "Shape" and not output_spec(Shape).wrapped
    assert output_spec(Shape).strict is False  # fields with defaults are optional
    assert output_spec(Address).strict is True
    spec = output_spec(list[int])
    assert spec.name == "final_answer" and spec.wrapped
    assert spec.schema["properties"]["value"] == {"type": "array", "items": {"type": "integer"}}
    with pytest.raises(ValueError, match="name 'has space'"):
        output_spec({"name": "has space", "schema": {"type": "object"}})
