"""JSON Schema from Python types: :func:`type_to_schema`, for tool parameters and structured
output (checking values against a schema is :mod:`.schema_check`).

It covers str/int/float/bool/None, Any, Enum, Literal, Optional and other unions,
list/set/frozenset/Sequence, tuple (``tuple[X, ...]`` and tuples of one type), ``dict[str, X]``,
TypedDict (``total=False``, ``Required``/``NotRequired``), dataclasses, NewType, nesting, and
``Annotated[X, "description"]``. Anything else (bytes, datetime, a plain class, a recursive
type, ``dict[int, X]``, ``tuple[int, str]``) is a TypeError naming the type.
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import enum
import json
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

_PRIMS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
#: what becomes an array, and whether its items are unique
_ARRAYS = {list: False, set: True, frozenset: True, abc.Sequence: False,
           abc.MutableSequence: False, abc.Set: True, abc.MutableSet: True}
_MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)


def type_to_schema(ann: Any) -> dict[str, Any]:
    """A JSON schema for a Python annotation; TypeError naming what cannot be expressed."""
    return _schema(ann, ())


def type_name(tp: Any) -> str:
    return getattr(tp, "__qualname__", None) or getattr(tp, "__name__", None) or repr(tp)


def unwrap(ann: Any) -> tuple[Any, str | None]:
    """The type under ``Annotated``/``Required``/``NotRequired``, and the description the
    first string of ``Annotated`` gives (None when none)."""
    description = None
    while True:
        origin = get_origin(ann)
        if origin is typing.Annotated:
            args = get_args(ann)
            description = description or next((a for a in args[1:] if isinstance(a, str)), None)
            ann = args[0]
        elif origin in (typing.Required, typing.NotRequired):
            ann = get_args(ann)[0]
        else:
            return ann, description


def _schema(ann: Any, seen: tuple[Any, ...]) -> dict[str, Any]:
    ann, description = unwrap(ann)
    s = _bare(ann, seen)
    if description:
        s["description"] = description
    return s


def _bare(ann: Any, seen: tuple[Any, ...]) -> dict[str, Any]:
    if ann is Any or ann is object:
        return {}
    if ann is None:
        ann = type(None)
    if ann in _PRIMS:
        return {"type": _PRIMS[ann]}
    origin, args = get_origin(ann), get_args(ann)
    if origin is Literal:
        return _enum(list(args), ann)
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        return _enum([m.value for m in ann], ann)
    if origin in (Union, types.UnionType):
        return _union(args, seen)
    base = origin or ann
    if base in _ARRAYS:
        s: dict[str, Any] = {"type": "array"}
        if args:
            s["items"] = _schema(args[0], seen)
        if _ARRAYS[base]:
            s["uniqueItems"] = True
        return s
    if base is tuple:
        return _tuple(ann, args, seen)
    if base in _MAPPINGS:
        return _mapping(ann, args, seen)
    if isinstance(ann, type) and typing.is_typeddict(ann):
        return _typeddict(ann, seen)
    if isinstance(ann, type) and dataclasses.is_dataclass(ann):
        return _dataclass(ann, seen)
    if callable(ann) and hasattr(ann, "__supertype__"):  # typing.NewType
        return _bare(ann.__supertype__, seen)
    if isinstance(ann, typing.TypeVar) or isinstance(ann, (str, typing.ForwardRef)):
        raise TypeError(f"cannot express {ann!r} as JSON schema (an unresolved type)")
    raise TypeError(f"cannot express {type_name(ann)} as JSON schema (use str, int, float, "
                    "bool, a list, dict[str, ...], a Literal, an Enum, a TypedDict or a "
                    "dataclass)")


def _enum(values: list[Any], ann: Any) -> dict[str, Any]:
    for v in values:
        if not (v is None or isinstance(v, (str, int, float, bool))):
            raise TypeError(f"cannot express {type_name(ann)} as JSON schema: the value "
                            f"{v!r} is not a JSON string, number, boolean or null")
    s: dict[str, Any] = {"enum": values}
    kinds = {_PRIMS.get(type(v)) for v in values}
    if len(kinds) == 1 and "null" not in kinds:
        s["type"] = kinds.pop()
    return s


def _union(args: tuple[Any, ...], seen: tuple[Any, ...]) -> dict[str, Any]:
    nullable = type(None) in args
    rest = [a for a in args if a is not type(None)]
    if len(rest) == 1:
        inner = _schema(rest[0], seen)
        if not nullable:
            return inner
        t = inner.get("type")
        if isinstance(t, str) and set(inner) <= {"type", "description", "items",
                                                  "properties", "required",
                                                  "additionalProperties", "uniqueItems"}:
            return {**inner, "type": [t, "null"]}  # ["integer", "null"]: what models read best
        return {"anyOf": [inner, {"type": "null"}]}
    arms = [_schema(a, seen) for a in rest]
    if nullable:
        arms.append({"type": "null"})
    return {"anyOf": arms}


def _tuple(ann: Any, args: tuple[Any, ...], seen: tuple[Any, ...]) -> dict[str, Any]:
    if not args:
        return {"type": "array"}
    if len(args) == 2 and args[1] is Ellipsis:
        return {"type": "array", "items": _schema(args[0], seen)}
    if any(a != args[0] for a in args):
        raise TypeError(f"cannot express {ann!r} as JSON schema: a tuple of mixed types "
                        "(use a TypedDict or a dataclass)")
    return {"type": "array", "items": _schema(args[0], seen), "minItems": len(args),
            "maxItems": len(args)}


def _mapping(ann: Any, args: tuple[Any, ...], seen: tuple[Any, ...]) -> dict[str, Any]:
    if not args:
        return {"type": "object"}
    key, value = args
    if unwrap(key)[0] is not str:
        raise TypeError(f"cannot express {ann!r} as JSON schema: JSON object keys are "
                        "strings (use dict[str, ...])")
    return {"type": "object", "additionalProperties": _schema(value, seen)}


def _object(tp: Any, seen: tuple[Any, ...], fields: list[tuple[str, Any, bool, Any]]
            ) -> dict[str, Any]:
    if tp in seen:
        raise TypeError(f"cannot express {type_name(tp)} as JSON schema: it contains itself")
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, hint, needed, default in fields:
        s = _schema(hint, (*seen, tp))
        if default is not dataclasses.MISSING and _json_safe(default):
            s["default"] = default.value if isinstance(default, enum.Enum) else default
        props[name] = s
        if needed:
            required.append(name)
    s = {"type": "object", "properties": props, "required": required,
         "additionalProperties": False}
    doc = (tp.__doc__ or "").strip()
    if doc and not doc.startswith(tp.__name__ + "("):  # not the dataclass's generated doc
        s["description"] = " ".join(doc.split("\n\n", 1)[0].split())
    return s


def _typeddict(tp: Any, seen: tuple[Any, ...]) -> dict[str, Any]:
    hints = typing.get_type_hints(tp, include_extras=True)
    required = getattr(tp, "__required_keys__", frozenset(hints))
    return _object(tp, seen, [(k, h, _required(h, k in required), dataclasses.MISSING)
                              for k, h in hints.items()])


def _required(hint: Any, listed: bool) -> bool:
    """``Required``/``NotRequired`` on the hint decide; else the class's own list (under
    ``from __future__ import annotations`` Python 3.11 cannot see them when the class is
    made)."""
    origin = get_origin(hint)
    if origin is typing.Annotated:
        origin = get_origin(get_args(hint)[0])
    return True if origin is typing.Required else False if origin is typing.NotRequired \
        else listed


def _dataclass(tp: Any, seen: tuple[Any, ...]) -> dict[str, Any]:
    hints = typing.get_type_hints(tp, include_extras=True)
    fields = []
    for f in dataclasses.fields(tp):
        if not f.init:
            continue
        has_default = f.default is not dataclasses.MISSING or \
            f.default_factory is not dataclasses.MISSING
        fields.append((f.name, hints.get(f.name, Any), not has_default, f.default))
    return _object(tp, seen, fields)


def _json_safe(v: Any) -> bool:
    if isinstance(v, enum.Enum):
        v = v.value
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False
