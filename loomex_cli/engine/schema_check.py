"""Checking a value against a JSON schema: :func:`validate` (tool arguments, structured
answers), and :func:`unchecked_keywords`, what a schema uses that is not checked.

Checked: type, enum, const, properties, required, additionalProperties (false or a schema),
items, prefixItems, minItems/maxItems, uniqueItems, minLength/maxLength, pattern (Python's
``re``), minimum/maximum and their exclusive forms, multipleOf, minProperties/maxProperties,
anyOf, oneOf, allOf, and ``$ref`` to ``#/$defs/...`` or ``#/definitions/...``. Annotations
(title, description, default, examples, format, ...) never make a value invalid.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}

#: keywords that only annotate (never make a value invalid)
ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "example", "$schema", "$id", "$comment",
    "deprecated", "readOnly", "writeOnly", "format", "contentMediaType", "contentEncoding",
    "$defs", "definitions", "strict", "nullable"})
#: keywords :func:`validate` checks
CHECKED = frozenset({
    "type", "enum", "const", "properties", "required", "additionalProperties", "items",
    "prefixItems", "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minProperties", "maxProperties", "anyOf", "oneOf", "allOf", "$ref"})
#: keywords whose value is a schema, a list of schemas, or a table of schemas
_SUB_ONE = ("additionalProperties", "items")
_SUB_LIST = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUB_TABLE = ("properties", "$defs", "definitions")


def unchecked_keywords(schema: Any) -> list[str]:
    """The validation keywords ``schema`` uses that :func:`validate` does not check (a
    ``$ref`` that is not local counts as one), sorted; [] when every one is checked."""
    found: set[str] = set()
    _scan(schema, found, 0)
    return sorted(found)


def _scan(s: Any, found: set[str], depth: int) -> None:
    if not isinstance(s, dict) or depth > 64:
        return
    for k, v in s.items():
        if k == "$ref":
            if not (isinstance(v, str) and _ref(v)):
                found.add(f"$ref {v!r}")
        elif k not in CHECKED and k not in ANNOTATIONS:
            found.add(k)
        if k in _SUB_ONE:
            _scan(v, found, depth + 1)
        elif k in _SUB_LIST and isinstance(v, list):
            for x in v:
                _scan(x, found, depth + 1)
        elif k in _SUB_TABLE and isinstance(v, dict):
            for x in v.values():
                _scan(x, found, depth + 1)


_REF_RE = r"#/(\$defs|definitions)/([^/]+)"


def _ref(ref: str) -> re.Match[str] | None:
    """A local ``$ref`` ("#/$defs/NAME"): its table and name (re caches the pattern; nothing
    is compiled at import, which every run pays)."""
    return re.fullmatch(_REF_RE, ref)


def validate(value: Any, schema: dict[str, Any], path: str = "arguments",
             root: dict[str, Any] | None = None) -> list[str]:
    """Checks ``value`` against ``schema`` (the keywords in :data:`CHECKED`; others are
    ignored here: :func:`unchecked_keywords` finds them); returns what is wrong."""
    return _check(value, schema, path, schema if root is None else root, 0)


def _check(value: Any, schema: Any, path: str, root: Any, depth: int) -> list[str]:
    if schema is False:
        return [f"{path}: no value is allowed here"]
    if not isinstance(schema, dict) or not schema or depth > 64:
        return []
    if "$ref" in schema:
        target = _resolve(schema["$ref"], root)
        if target is not None:
            errors = _check(value, target, path, root, depth + 1)
            if errors:
                return errors
    t = schema.get("type")
    if t is not None:
        kinds = t if isinstance(t, list) else [t]
        if not any(_TYPE_CHECKS.get(k, lambda v: True)(value) for k in kinds):
            return [f"{path}: expected {' or '.join(map(str, kinds))}, got {_json_type(value)}"]
    errors: list[str] = []
    if "enum" in schema and isinstance(schema["enum"], list) and \
            not any(_same(value, e) for e in schema["enum"]):
        errors.append(f"{path}: must be one of {_show(schema['enum'])}, got {_show(value)}")
    if "const" in schema and not _same(value, schema["const"]):
        errors.append(f"{path}: must be {_show(schema['const'])}, got {_show(value)}")
    errors += _combinators(value, schema, path, root, depth)
    if isinstance(value, dict):
        errors += _object_errors(value, schema, path, root, depth)
    elif isinstance(value, list):
        errors += _array_errors(value, schema, path, root, depth)
    elif isinstance(value, str):
        errors += _string_errors(value, schema, path)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        errors += _number_errors(value, schema, path)
    return errors


def _resolve(ref: Any, root: Any) -> Any:
    m = _ref(ref) if isinstance(ref, str) else None
    if not m or not isinstance(root, dict):
        return None
    table = root.get(m.group(1))
    name = m.group(2).replace("~1", "/").replace("~0", "~")
    return table.get(name) if isinstance(table, dict) else None


def _combinators(value: Any, schema: dict[str, Any], path: str, root: Any,
                 depth: int) -> list[str]:
    errors: list[str] = []
    if isinstance(schema.get("anyOf"), list) and \
            not any(not _check(value, s, path, root, depth + 1) for s in schema["anyOf"]):
        errors.append(f"{path}: matches none of the allowed shapes"
                      + _first_reason(value, schema["anyOf"], path, root, depth))
    if isinstance(schema.get("oneOf"), list):
        n = sum(1 for s in schema["oneOf"] if not _check(value, s, path, root, depth + 1))
        if n != 1:
            errors.append(f"{path}: matches {n} of the allowed shapes, not exactly one"
                          + (_first_reason(value, schema["oneOf"], path, root, depth)
                             if n == 0 else ""))
    for s in schema.get("allOf") or () if isinstance(schema.get("allOf"), list) else ():
        errors += _check(value, s, path, root, depth + 1)
    return errors


def _first_reason(value: Any, arms: list[Any], path: str, root: Any, depth: int) -> str:
    """Why the closest arm failed (the one with the fewest problems), for the model to read."""
    best = min((_check(value, s, path, root, depth + 1) for s in arms), key=len, default=[])
    return f" ({best[0]})" if best else ""


def _object_errors(value: dict[str, Any], schema: dict[str, Any], path: str, root: Any,
                   depth: int) -> list[str]:
    errors: list[str] = []
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for req in schema.get("required") or []:
        if req not in value:
            errors.append(f"{path}: missing required property '{req}'")
    extra = schema.get("additionalProperties", True)
    for k, v in value.items():
        if k in props:
            errors += _check(v, props[k], f"{path}.{k}", root, depth + 1)
        elif extra is False:
            errors.append(f"{path}: unexpected property '{k}'")
        elif isinstance(extra, dict):
            errors += _check(v, extra, f"{path}.{k}", root, depth + 1)
    n = len(value)
    if _int(schema.get("minProperties")) and n < schema["minProperties"]:
        errors.append(f"{path}: needs at least {schema['minProperties']} properties")
    if _int(schema.get("maxProperties")) and n > schema["maxProperties"]:
        errors.append(f"{path}: allows at most {schema['maxProperties']} properties")
    return errors


def _array_errors(value: list[Any], schema: dict[str, Any], path: str, root: Any,
                  depth: int) -> list[str]:
    errors: list[str] = []
    prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
    for i, (item, s) in enumerate(zip(value, prefix)):
        errors += _check(item, s, f"{path}[{i}]", root, depth + 1)
    items = schema.get("items")
    if isinstance(items, (dict, bool)):
        for i in range(len(prefix), len(value)):
            errors += _check(value[i], items, f"{path}[{i}]", root, depth + 1)
    n = len(value)
    if _int(schema.get("minItems")) and n < schema["minItems"]:
        errors.append(f"{path}: needs at least {schema['minItems']} items, got {n}")
    if _int(schema.get("maxItems")) and n > schema["maxItems"]:
        errors.append(f"{path}: allows at most {schema['maxItems']} items, got {n}")
    if schema.get("uniqueItems") is True:
        keys = [json.dumps(v, sort_keys=True) for v in value]
        if len(set(keys)) != len(keys):
            errors.append(f"{path}: items must be unique")
    return errors


def _string_errors(value: str, schema: dict[str, Any], path: str) -> list[str]:
    errors: list[str] = []
    if _int(schema.get("minLength")) and len(value) < schema["minLength"]:
        errors.append(f"{path}: needs at least {schema['minLength']} characters")
    if _int(schema.get("maxLength")) and len(value) > schema["maxLength"]:
        errors.append(f"{path}: allows at most {schema['maxLength']} characters")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            ok = re.search(pattern, value) is not None
        except re.error:
            ok = True  # a pattern Python cannot read is not the answer's fault
        if not ok:
            errors.append(f"{path}: does not match the pattern {pattern!r}")
    return errors


def _number_errors(value: float, schema: dict[str, Any], path: str) -> list[str]:
    errors: list[str] = []
    for key, bad, words in (("minimum", lambda lim: value < lim, "at least"),
                            ("maximum", lambda lim: value > lim, "at most"),
                            ("exclusiveMinimum", lambda lim: value <= lim, "more than"),
                            ("exclusiveMaximum", lambda lim: value >= lim, "less than")):
        lim = schema.get(key)
        if _num(lim) and bad(lim):
            errors.append(f"{path}: must be {words} {lim}, got {_show(value)}")
    step = schema.get("multipleOf")
    if _num(step) and step > 0 and abs(value / step - round(value / step)) > 1e-9:
        errors.append(f"{path}: must be a multiple of {step}")
    return errors


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b and (_num(a) == _num(b))


def _show(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__
