"""An MCP ``tools/call`` result as what the model reads.

Text parts are kept; images become image parts (:class:`~..engine.tool_images.ToolOutput`:
a model that takes images sees them, any other gets them described); audio is described;
embedded text resources are inlined with their URI, binary ones described; resource links
are listed; ``structuredContent`` is given as JSON when there are no content parts to carry
it. A result above the built-in tools' limits (2,000 lines or 50,000 bytes of text) keeps
its head and tail, and the whole text is saved to a file the model can read (its images are
then only described).
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from ..engine.tool_images import ToolImage, ToolOutput

MAX_LINES = 2000
MAX_BYTES = 50_000


def _size(b64: Any) -> str:
    try:
        n = len(base64.b64decode(str(b64), validate=False))
    except (ValueError, TypeError):
        n = len(str(b64)) * 3 // 4
    return f"{n:,} bytes"


def part_text(part: Any) -> str:
    if not isinstance(part, dict):
        return json.dumps(part, ensure_ascii=False)
    kind = part.get("type")
    if kind == "text":
        return str(part.get("text", ""))
    if kind == "image":
        return image(part).describe()
    if kind == "audio":
        return f"[audio: {part.get('mimeType', 'unknown type')}, {_size(part.get('data', ''))}]"
    if kind == "resource_link":
        bits = [str(part.get("uri", ""))]
        if part.get("mimeType"):
            bits.append(str(part["mimeType"]))
        desc = f" — {part['description']}" if part.get("description") else ""
        return f"[resource link: {part.get('name') or part.get('uri')} ({', '.join(bits)}){desc}]"
    if kind == "resource":
        res = part.get("resource") or {}
        uri = res.get("uri", "")
        if "text" in res:
            return f"[resource {uri}]\n{res.get('text', '')}"
        return f"[resource {uri}: {res.get('mimeType', 'binary')}, {_size(res.get('blob', ''))}]"
    return json.dumps(part, ensure_ascii=False)


def image(part: dict[str, Any]) -> ToolImage:
    return ToolImage(str(part.get("mimeType") or "unknown type"), str(part.get("data") or ""))


def result_text(result: dict[str, Any]) -> str:
    """The whole result as text (images described)."""
    return "\n".join(p if isinstance(p, str) else p.describe() for p in result_parts(result))


def result_parts(result: dict[str, Any]) -> list[str | ToolImage]:
    parts = result.get("content") or []
    out: list[str | ToolImage] = []
    for p in parts if isinstance(parts, list) else []:
        out.append(image(p) if isinstance(p, dict) and p.get("type") == "image"
                   else part_text(p))
    structured = result.get("structuredContent")
    if structured is not None and not out:  # else the parts carry it (the spec's SHOULD)
        out.append(json.dumps(structured, ensure_ascii=False))
    return out


def result_output(result: dict[str, Any], label: str) -> str | ToolOutput:
    """What the tool returns: text within the limits, or a ToolOutput when there are images
    and the text fits (else the images are described in the clipped text)."""
    parts = result_parts(result)
    if any(isinstance(p, ToolImage) for p in parts):
        text = "\n".join(p for p in parts if isinstance(p, str))
        if fits(text):
            return ToolOutput(parts)
    return clip(result_text(result), label)


def fits(text: str) -> bool:
    return len(text.encode("utf-8", "replace")) <= MAX_BYTES and \
        text.count("\n") < MAX_LINES


def clip(text: str, label: str) -> str:
    """``text`` within MAX_LINES / MAX_BYTES: head and tail kept, the whole saved to a file."""
    if fits(text):
        return text
    data = text.encode("utf-8", "replace")
    lines = text.split("\n")
    path = _save(data, label)
    head_lines, tail_lines = MAX_LINES // 2, MAX_LINES // 4
    half = MAX_BYTES // 2
    head = "\n".join(lines[:head_lines]).encode("utf-8", "replace")[:half]
    tail = "\n".join(lines[-tail_lines:]).encode("utf-8", "replace")[-(MAX_BYTES // 4):]
    h = head.decode("utf-8", "ignore")
    t = tail.decode("utf-8", "ignore")
    cut = len(data) - len(h.encode()) - len(t.encode())
    where = f"; the whole result ({len(data):,} bytes, {len(lines):,} lines) is saved in " \
            f"{path} — read it with read_file (offset/limit) or search it with grep" \
        if path else ""
    return f"{h}\n[... {cut:,} bytes cut here{where} ...]\n{t}"


def _save(data: bytes, label: str) -> str | None:
    try:
        from ..wire.config import cache_dir
        d = cache_dir() / "mcp-results"
        d.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in label)[:64]
        path = d / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}.txt"
        path.write_bytes(data)
        return str(path)
    except OSError:
        return None
