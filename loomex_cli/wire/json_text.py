"""Decoding the JSON a provider sends: one SSE event's payload fast, and lone UTF-16
surrogates made printable (client.py for streams and bodies, engine/structured.py for
answers)."""

from __future__ import annotations

import json
from typing import Any

_scan_once = json.JSONDecoder().scan_once


def loads_event(data: bytes) -> Any:
    """``json.loads`` for one SSE data payload, without its per-call overhead (encoding
    detection, two regex matches): the C scanner, with json.loads as the judge of anything
    unusual (surrounding white space, trailing garbage, invalid JSON raise as usual)."""
    text = data.decode("utf-8")  # SSE is UTF-8; a UnicodeDecodeError is a ValueError
    try:
        obj, end = _scan_once(text, 0)
    except StopIteration:
        obj, end = json.loads(text), len(text)
    except RecursionError:  # "[" x 100,000: a bad line like any other
        raise ValueError("nested too deeply") from None
    if end != len(text):
        obj = json.loads(text)
    if "\\ud" in text or "\\uD" in text:  # a JSON escape may hold a lone surrogate
        obj = no_lone_surrogates(obj)
    return obj


_SURROGATE = None


def no_lone_surrogates(obj: Any) -> Any:
    """``obj`` with every lone UTF-16 surrogate (JSON ``"\\ud800"``, which no UTF-8 writer or
    SQLite accepts) replaced by U+FFFD; valid pairs were already joined by the JSON parser."""
    global _SURROGATE
    if isinstance(obj, str):
        if _SURROGATE is None:
            import re
            _SURROGATE = re.compile("[\\ud800-\\udfff]")
        return _SURROGATE.sub("\ufffd", obj)
    if isinstance(obj, list):
        return [no_lone_surrogates(v) for v in obj]
    if isinstance(obj, dict):
        return {no_lone_surrogates(k): no_lone_surrogates(v) for k, v in obj.items()}
    return obj
