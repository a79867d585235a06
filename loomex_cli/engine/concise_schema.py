"""llm's concise schema syntax, read into a JSON schema (``loomex --schema 'name, age int'``).

    name str, age int, tags list[str]
    name: the person's full name          (one field a line: descriptions may hold commas)
    age int: in years

Fields are separated by commas, or by newlines when there is one. Each is a name, an
optional type, and an optional description after ``:``. Types: ``str`` (the default),
``int``, ``float``, ``bool``, and ``list[T]`` of those (an extension of llm's syntax). Every
field is required; no other property is allowed. Unlike llm, an unknown type or a field without
a name is an error (ValueError), not silently a string.
"""

from __future__ import annotations

import re
from typing import Any

TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_LIST = re.compile(r"list\[\s*(\w+)\s*\]$")


def parse_concise(text: str) -> dict[str, Any]:
    """The JSON schema of an object with the fields ``text`` lists; ValueError when a field
    cannot be read."""
    sep = "\n" if "\n" in text else ","
    props: dict[str, Any] = {}
    for raw in text.split(sep):
        field = raw.strip()
        if not field:
            continue
        head, colon, description = field.partition(":")
        parts = head.split()
        if not parts:
            raise ValueError(f"the field {field!r} has no name")
        if len(parts) > 2:
            raise ValueError(f"the field {field!r} should be NAME [TYPE][: description]")
        name = parts[0]
        if name in props:
            raise ValueError(f"the field {name!r} is given twice")
        prop = _type(parts[1] if len(parts) > 1 else "str", name)
        if colon and description.strip():
            prop["description"] = description.strip()
        props[name] = prop
    if not props:
        raise ValueError("no fields: give them as 'name, age int, tags list[str]'")
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


def _type(word: str, name: str) -> dict[str, Any]:
    if word in TYPES:
        return {"type": TYPES[word]}
    m = _LIST.match(word)
    if m and m.group(1) in TYPES:
        return {"type": "array", "items": {"type": TYPES[m.group(1)]}}
    raise ValueError(f"the field {name!r} has the unknown type {word!r} (use str, int, float, "
                     "bool, or list[...] of one of those)")


def looks_concise(text: str) -> bool:
    """Whether ``text`` is meant as the concise form rather than JSON (which starts with
    ``{``) or a file name."""
    return not text.lstrip().startswith(("{", "["))
