"""``--schema VALUE``: inline JSON (it starts with ``{``), a file (JSON, or the concise form),
or llm's concise form itself (``'name str, age int, tags list[str]'``). Whatever cannot be read
or checked is a usage error (exit 2) naming the problem; nothing is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .exits import USAGE, fail


def read_schema(value: str) -> Any:
    """The OutputSpec for ``--schema VALUE``."""
    from ..engine.concise_schema import parse_concise
    from ..engine.structured import output_spec
    text, source = value, "--schema"
    if not value.lstrip().startswith("{"):
        path = Path(value).expanduser()
        try:
            is_file = path.is_file()
        except (OSError, ValueError):  # a name too long, a NUL: not a file
            is_file = False
        if is_file:
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as e:
                fail(f"--schema: cannot read {path}: {getattr(e, 'strerror', None) or e}", USAGE)
            source = f"--schema {path}"
    try:
        if text.lstrip().startswith("{"):
            schema = json.loads(text)
        else:
            schema = parse_concise(text)
        return output_spec(schema)
    except json.JSONDecodeError as e:
        fail(f"{source}: not valid JSON: {e}", USAGE)
    except RecursionError:
        fail(f"{source}: nested too deeply", USAGE)
    except ValueError as e:
        fail(f"{source}: {e}", USAGE)
