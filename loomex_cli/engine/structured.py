"""Structured output: a run whose answer is JSON matching a schema (``output_type=`` in the
library, ``--schema`` in the CLI).

    out = structured_output(Person, resolved, tool_names)  # None without an output type
    out.with_answer_tool(specs), out.body_fields()          # what the request gets
    out.judge(assistant_message)                            # a Verdict, or None: not an answer

How it is asked for: ``response_format: {"type": "json_schema", ...}`` when the registry says
the model supports it (``ResolvedModel.structured_output``), otherwise a forced call of one
function whose parameters are the schema (its arguments are the answer; with other tools
offered, ``tool_choice`` is "required" so the model may still use them first). The answer is
parsed and validated (:mod:`.schema_check`); when it fails, the model gets one repair turn
that quotes the validation error, and a second failure is :class:`SchemaMismatch`. A schema
that is not an object is asked for as ``{"value": ...}`` and unwrapped. The answer call and
its result stay in the conversation; a request that no longer offers the function (the
conversation continued without ``output_type``) sends them as text (:func:`.repair.calls_as_text`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from ..errors import SchemaMismatch
from ..wire.json_text import no_lone_surrogates
from .messages import Message
from .schema import type_to_schema, unwrap
from .schema_check import unchecked_keywords, validate

#: the name of the answer (the json_schema's name, the answer function's name) by default
DEFAULT_NAME = "final_answer"
#: validation problems quoted to the model and in the error, at most
MAX_PROBLEMS = 6
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """What the answer must be. ``schema`` is always an object schema: the answer's own, or
    ``{"value": answer}`` when ``wrapped``."""
    name: str
    schema: dict[str, Any]
    strict: bool
    wrapped: bool = False
    #: the Python type the parsed answer is turned into (None: the JSON as it is)
    python_type: Any = None

    def unwrap(self, obj: Any) -> Any:
        return obj["value"] if self.wrapped and isinstance(obj, dict) else obj


def output_spec(output_type: Any) -> OutputSpec:
    """An :class:`OutputSpec` from a JSON schema (a dict; also OpenAI's ``{"name", "schema",
    "strict"}`` form) or a type (TypedDict, dataclass, ``list[str]``, ...). ValueError for a
    schema whose answers could not be checked, TypeError for a type with no JSON schema."""
    if isinstance(output_type, OutputSpec):
        return output_type
    if isinstance(output_type, dict):
        return _from_schema(output_type)
    schema = type_to_schema(output_type)
    base = unwrap(output_type)[0]
    named = isinstance(base, type) and (dataclasses.is_dataclass(base) or
                                        typing.is_typeddict(base))
    name = base.__name__ if named else ""
    return _spec(schema, name if _NAME.fullmatch(name or "") else DEFAULT_NAME, None,
                 output_type)


def _from_schema(d: dict[str, Any]) -> OutputSpec:
    name, strict, schema = DEFAULT_NAME, None, d
    if isinstance(d.get("schema"), dict) and "type" not in d and "properties" not in d:
        schema = d["schema"]  # OpenAI's json_schema object: {"name", "schema", "strict"}
        name = d.get("name") or DEFAULT_NAME
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"the schema's name {name!r} must be 1-64 letters, digits, '_' or '-'")
        strict = d.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise ValueError("the schema's strict must be true or false")
    t = schema.get("type")
    if t is not None and not (isinstance(t, str) or isinstance(t, list) and
                              all(isinstance(x, str) for x in t)):
        raise ValueError(f"the schema's type must be a string or a list of strings, got {t!r}")
    if t is None and isinstance(schema.get("properties"), dict):
        schema = {"type": "object", **schema}  # an object, whatever it forgot to say
    unchecked = unchecked_keywords(schema)
    if unchecked:
        raise ValueError("the schema uses keywords loomex does not check, so an answer could "
                         f"not be validated: {', '.join(unchecked)}")
    return _spec(schema, name, strict, None)


def _spec(schema: dict[str, Any], name: str, strict: bool | None, python_type: Any) -> OutputSpec:
    wrapped = schema.get("type") != "object"
    if wrapped:
        defs = {k: schema[k] for k in ("$defs", "definitions") if k in schema}
        inner = {k: v for k, v in schema.items() if k not in defs}
        schema = {"type": "object", "properties": {"value": inner}, "required": ["value"],
                  "additionalProperties": False, **defs}
    return OutputSpec(name, schema, _closed(schema) if strict is None else strict, wrapped,
                      python_type)


def _closed(s: Any) -> bool:
    """Whether every object in ``s`` lists all its properties as required and allows no
    others: what OpenAI's ``strict: true`` demands (otherwise strict is false)."""
    if isinstance(s, list):
        return all(_closed(x) for x in s)
    if not isinstance(s, dict):
        return True
    if s.get("type") == "object" or "properties" in s:
        props = s.get("properties") or {}
        if s.get("additionalProperties") is not False or set(s.get("required") or ()) != set(props):
            return False
    subs = [v for k, v in s.items() if k in ("items", "anyOf", "oneOf", "allOf", "prefixItems")]
    subs += list((s.get("properties") or {}).values()) + list((s.get("$defs") or {}).values())
    return all(_closed(x) for x in subs)


# -- one run -------------------------------------------------------------------------

def structured_output(output_type: Any, resolved: Any, tool_names: list[str]) -> "Structured | None":
    """The run's :class:`Structured` for ``output_type`` on ``resolved`` (a ResolvedModel);
    None without one. TypeError/ValueError for a type or schema that cannot be asked for."""
    if output_type is None:
        return None
    return Structured(output_spec(output_type), resolved.structured_output, tool_names)


@dataclass(slots=True)
class Verdict:
    """What the loop does with an answer: append ``messages``; then ``done`` (the run ends
    with ``value``), ``error`` (raised), or neither (a repair turn: call the model again)."""
    messages: list[Message] = field(default_factory=list)
    done: bool = False
    value: Any = None
    json_value: Any = None
    error: SchemaMismatch | None = None


class Structured:
    """One run's structured output: the request fields, and the judging of each answer."""

    def __init__(self, spec: OutputSpec, supported: bool | None, tool_names: list[str],
                 repairs: int = 1) -> None:
        self.spec = spec
        #: "response_format" when the registry says the model takes it, else "tool"
        self.mode = "response_format" if supported else "tool"
        if self.mode == "tool" and spec.name in tool_names:
            raise ValueError(f"the answer's name {spec.name!r} is also a tool's name")
        self.other_tools = bool(tool_names)
        self.repairs_left = repairs

    def with_answer_tool(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The tools offered: in tool mode the answer function joins the others."""
        if self.mode != "tool":
            return specs
        return [*specs, {"type": "function", "function": {
            "name": self.spec.name, "parameters": self.spec.schema,
            "description": "Give the final answer: its arguments are the answer. Call it "
                           "exactly once, when you have the answer."}}]

    def body_fields(self) -> dict[str, Any]:
        """What the request body gets: ``response_format``, or ``tool_choice``."""
        s = self.spec
        if self.mode == "response_format":
            return {"response_format": {"type": "json_schema", "json_schema": {
                "name": s.name, "schema": s.schema, "strict": s.strict}}}
        if self.other_tools:
            return {"tool_choice": "required"}
        return {"tool_choice": {"type": "function", "function": {"name": s.name}}}

    def judge(self, assistant: Message) -> Verdict | None:
        """None when this turn is not an answer (the model used its other tools)."""
        calls = assistant.tool_calls or []
        if self.mode == "response_format":
            return None if calls else self._check(assistant.text, [])
        mine = [c for c in calls if c.name == self.spec.name]
        if calls and not mine:
            return None
        if not mine:  # a text answer: ask again, through the function
            return self._retry([Message.user(
                f"Give your answer by calling the function {self.spec.name}: its arguments "
                "are the answer.")], f"the model answered in text instead of calling "
                f"{self.spec.name}")
        return self._check(mine[0].arguments, calls, mine[0])

    # -- judging ----------------------------------------------------------------------
    def _check(self, text: str, calls: list[Any], answer: Any = None) -> Verdict:
        """``answer``: the answer function's call (tool mode); every call of the turn gets a
        result, in order (the others did not run)."""
        problems = _problems(text, self.spec)
        bad = isinstance(problems, list)
        if answer is None:
            msgs = [Message.user("Your answer does not match the required JSON schema: "
                                 + "; ".join(problems) + ". Reply again with only the "
                                 "corrected JSON.")] if bad else []
        else:
            said = ("Error: " + "; ".join(problems) + f". Call {self.spec.name} again with a "
                    "corrected answer.") if bad else "The answer was accepted."
            msgs = [Message.tool(c.id, said if c is answer else "Error: not run: the final "
                                 "answer was given in the same turn.", c.name) for c in calls]
        if bad:
            return self._retry(msgs, "; ".join(problems))
        value = self.spec.unwrap(problems.parsed)
        return Verdict(msgs, done=True, value=convert(value, self.spec.python_type),
                       json_value=value)

    def _retry(self, msgs: list[Message], why: str) -> Verdict:
        if self.repairs_left > 0:
            self.repairs_left -= 1
            return Verdict(msgs)
        return Verdict(msgs, error=SchemaMismatch(
            f"the answer does not match the schema after a repair turn: {why}"))


class _Parsed:
    __slots__ = ("parsed",)

    def __init__(self, parsed: Any) -> None:
        self.parsed = parsed


def _problems(text: str, spec: OutputSpec) -> list[str] | _Parsed:
    """The parsed answer, or what is wrong with it (quoted to the model)."""
    body = _strip_fence(text or "")
    if not body.strip():
        return ["the answer is empty"]
    try:
        obj = no_lone_surrogates(json.loads(body))  # "\\ud800" cannot be printed or saved
    except (ValueError, RecursionError) as e:
        return [f"the answer is not valid JSON ({e})"]
    problems = validate(obj, spec.schema, "$")
    if problems:
        if spec.wrapped:
            problems = [p.replace("$.value", "$", 1) for p in problems]
        more = len(problems) - MAX_PROBLEMS
        return problems[:MAX_PROBLEMS] + ([f"and {more} more"] if more > 0 else [])
    return _Parsed(obj)


_FENCE = re.compile(r"\s*```[A-Za-z0-9_-]*[ \t]*\n(.*)\n[ \t]*```\s*", re.S)


def _strip_fence(text: str) -> str:
    """The JSON inside one Markdown code fence, when the whole answer is one."""
    m = _FENCE.fullmatch(text)
    return m.group(1) if m else text


# -- JSON -> the Python type ---------------------------------------------------------

def convert(value: Any, tp: Any) -> Any:
    """The validated JSON ``value`` as ``tp``: dataclasses built, Enums looked up, tuples and
    sets made, recursively; anything else as it is."""
    if tp is None or value is None:
        return value
    tp = unwrap(tp)[0]
    origin, args = get_origin(tp), get_args(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, dict):
        hints = typing.get_type_hints(tp, include_extras=True)
        return tp(**{k: convert(v, hints.get(k)) for k, v in value.items()})
    if isinstance(tp, type) and typing.is_typeddict(tp) and isinstance(value, dict):
        hints = typing.get_type_hints(tp, include_extras=True)
        return {k: convert(v, hints.get(k)) for k, v in value.items()}
    if origin in (Union, types.UnionType):
        return _convert_union(value, args)
    if origin is Literal:
        return value
    if isinstance(value, list):
        base = origin or tp
        items = [convert(v, args[0] if args else None) for v in value]
        if base is tuple:
            return tuple(items)
        if base in (set, frozenset):
            return base(items)
        return items
    if isinstance(value, dict) and len(args) == 2:
        return {k: convert(v, args[1]) for k, v in value.items()}
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _convert_union(value: Any, args: tuple[Any, ...]) -> Any:
    """The first arm whose schema the value matches decides."""
    for arm in args:
        if arm is type(None):
            continue
        try:
            if not validate(value, type_to_schema(arm)):
                return convert(value, arm)
        except TypeError:
            continue
    return value
