"""The schema of config.toml, in one place, and the check made each time it is loaded.

Every key loomex reads has a declared type. A value of the wrong type is a ConfigError (exit
3) naming the file, the line, the dotted key and the type expected, so that nothing of the
wrong type ever reaches a provider. A key that is not in the schema is ignored with a warning
naming the file, the line and the nearest known key ("did you mean"). Tables whose keys are
names the user chooses (``[providers.NAME]``, ``[tools.NAME]``, ``[roles.NAME]``,
``[aliases]``, ``headers``, ``extra_body``) are checked one level down.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from .effort import EFFORTS, STYLES
from .errors import ConfigError


class Type:
    """A value type: what it is called in a message, and the test."""

    __slots__ = ("name", "test")

    def __init__(self, name: str, test: Callable[[Any], bool]) -> None:
        self.name = name
        self.test = test


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


STRING = Type("a string", lambda v: isinstance(v, str))
BOOL = Type("true or false", lambda v: isinstance(v, bool))
NUMBER = Type("a number >= 0", lambda v: _num(v) and v >= 0)
SECONDS = Type("a number of seconds > 0", lambda v: _num(v) and v > 0)
COUNT = Type("an integer >= 1", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1)
STRINGS = Type("a list of strings", _strs)
STRING_OR_STRINGS = Type("a string or a list of strings",
                         lambda v: isinstance(v, str) or _strs(v))
STRING_TABLE = Type("a table of strings",
                    lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))
TABLE = Type("a table", lambda v: isinstance(v, dict))
EFFORT = Type("one of " + ", ".join(EFFORTS), lambda v: v in EFFORTS)
EFFORT_STYLE = Type("one of " + ", ".join(STYLES), lambda v: v in STYLES)


class Each:
    """A table whose keys are the user's names, each a table of ``schema``."""

    __slots__ = ("schema",)

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema


PROVIDER: dict[str, Any] = {
    "base_url": STRING,
    "api_key": STRING,
    "api_key_env": STRING,
    "api_key_cmd": STRING_OR_STRINGS,
    "headers": STRING_TABLE,
    "extra_body": TABLE,
    "include_usage": BOOL,
    "echo_reasoning": BOOL,
    "models": STRINGS,
    "idle_timeout": SECONDS,
    "connect_timeout": SECONDS,
    #: the reasoning effort sent by default, and how (wire/effort.py)
    "effort": EFFORT,
    "effort_style": EFFORT_STYLE,
}

#: ``[models."provider/model"]``: one model's own defaults
MODEL: dict[str, Any] = {"effort": EFFORT}

RETRY: dict[str, Any] = {
    "max_attempts": COUNT,
    "base_delay": NUMBER,
    "max_delay": NUMBER,
    "max_retry_after": NUMBER,
}

TOOL_RULES: dict[str, Any] = {"allow": STRING_OR_STRINGS, "deny": STRING_OR_STRINGS}

#: ``[roles.NAME]``: used with --role NAME and /role NAME
ROLE: dict[str, Any] = {
    "system": STRING,
    "model": STRING,
    "tools": STRING_OR_STRINGS,
    "temperature": NUMBER,
}

#: config.toml: every key loomex reads, and its type
SCHEMA: dict[str, Any] = {
    "default_model": STRING,
    "temperature": NUMBER,
    "max_steps": COUNT,
    "max_cost": NUMBER,
    "tools_default": STRING_OR_STRINGS,
    "system_prompt": STRING,
    #: AGENTS.md files added to the system prompt (false: never; --no-context-files)
    "context_files": BOOL,
    "save": BOOL,
    "idle_timeout": SECONDS,
    "connect_timeout": SECONDS,
    "providers": Each(PROVIDER),
    "models": Each(MODEL),
    "retry": RETRY,
    "tools": Each(TOOL_RULES),
    #: ``fast = "groq/llama-3.3-70b-versatile"``: names for -m, /model, serve, the library
    "aliases": STRING_TABLE,
    "roles": Each(ROLE),
    #: MCP servers: checked key by key where they are read (loomex_cli/mcp/config.py)
    "mcp": TABLE,
}


def check_config(data: dict[str, Any], path: Path) -> list[str]:
    """Raises ConfigError for the first value of a wrong type; returns one warning line per
    unknown key (each with its line and the nearest known key)."""
    wrong: list[tuple[list[str], Type, Any]] = []
    unknown: list[tuple[list[str], list[str]]] = []
    _walk(data, SCHEMA, [], wrong, unknown)
    if not wrong and not unknown:
        return []
    lines = _read_lines(path)
    if wrong:
        keys, typ, value = wrong[0]
        raise ConfigError(f"{_where(path, lines, keys)}: {'.'.join(keys)} must be {typ.name}, "
                          f"got {_show(value)}")
    out = []
    for keys, known in unknown:
        hint = _suggest(keys[-1], known)
        out.append(f"{_where(path, lines, keys)}: unknown key {'.'.join(keys)!s} is ignored"
                   + (f" (did you mean {hint}?)" if hint else ""))
    return out


def _walk(data: dict[str, Any], schema: dict[str, Any], at: list[str],
          wrong: list[Any], unknown: list[Any]) -> None:
    for key, value in data.items():
        keys = [*at, key]
        spec = schema.get(key)
        if spec is None:
            unknown.append((keys, list(schema)))
        elif isinstance(spec, Type):
            if not spec.test(value):
                wrong.append((keys, spec, value))
        elif not isinstance(value, dict):
            wrong.append((keys, TABLE, value))
        elif isinstance(spec, Each):
            for name, table in value.items():
                if not isinstance(table, dict):
                    wrong.append(([*keys, name], TABLE, table))
                else:
                    _walk(table, spec.schema, [*keys, name], wrong, unknown)
        else:
            _walk(value, spec, keys, wrong, unknown)


def _suggest(key: str, known: list[str]) -> str:
    import difflib  # only when there is something to suggest
    for section, schema in (("[providers.NAME]", PROVIDER), ("[retry]", RETRY)):
        if key in schema and key not in known:  # a right key in the wrong table
            return f"{key!r} in {section}"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return repr(close[0]) if close else ""


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    text = repr(value) if not isinstance(value, str) else '"' + value + '"'
    return text if len(text) <= 40 else text[:39] + "…"


def _where(path: Path, lines: list[str], keys: list[str]) -> str:
    line = locate(lines, keys)
    return f"{path}:{line}" if line else str(path)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


_KEY = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = re.compile(rf"\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*")
_HEADER = re.compile(rf"\s*\[\[?\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*\]\]?\s*(?:#.*)?$")


def _parts(dotted: str) -> list[str]:
    out = []
    for m in re.finditer(_KEY, dotted):
        k = m.group(0)
        out.append(k[1:-1] if k[:1] in "\"'" else k)
    return out


def locate(lines: list[str], keys: list[str]) -> int | None:
    """The 1-based line that defines ``keys`` (its ``key =`` line or its ``[table]``
    header); failing that, the line of the nearest enclosing key (an inline table)."""
    table: list[str] = []
    best: tuple[int, int] | None = None  # (how many keys matched, line)
    in_string: str | None = None
    for n, line in enumerate(lines, 1):
        if in_string:
            if line.count(in_string) % 2:
                in_string = None
            continue
        header = _HEADER.match(line)
        if header:
            table = _parts(header.group(1))
            full = table
        else:
            m = _DOTTED.match(line)
            if not m or line[m.end():m.end() + 1] != "=":
                continue
            full = table + _parts(m.group(1))
            for quote in ('"""', "'''"):
                if line.count(quote) % 2:
                    in_string = quote
        if full == keys:
            return n
        if keys[:len(full)] == full and (best is None or len(full) > best[0]):
            best = (len(full), n)
    return best[1] if best else None
