"""A conversation as readable Markdown (``/save`` in the REPL, ``history export``)."""

from __future__ import annotations

import json
from typing import Iterable

from .messages import Message


def _fence(text: str, lang: str = "") -> str:
    """``text`` in a code fence longer than any backtick run inside it."""
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


def _pretty_args(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments) if arguments.strip() else {}, indent=2,
                          ensure_ascii=False)
    except ValueError:
        return arguments


def _content_md(m: Message) -> str:
    if isinstance(m.content, list):
        parts = []
        for p in m.content:
            if isinstance(p, dict) and p.get("type") == "text":
                parts.append(str(p.get("text", "")))
            elif isinstance(p, dict):  # an image: its placeholder, not its base64
                from .images import describe, part_url
                parts.append(f"*{describe(p)}*" if part_url(p) is not None
                             else f"*[{p.get('type', 'part')}]*")
        return "\n\n".join(parts)
    return m.text


def messages_markdown(messages: Iterable[Message], title: str, meta: list[str]) -> str:
    """Markdown with a title, a list of facts, then each message (reasoning folded away,
    tool calls and results in code fences). Readable, not lossless."""
    out = [f"# {title}\n"]
    if meta:
        out.append("\n".join(meta) + "\n")
    for m in messages:
        if m.role == "tool":
            label = m.name or m.tool_call_id or "tool"
            out.append(f"**tool result** `{label}`\n\n{_fence(m.text)}\n")
            continue
        parts = [f"## {m.role}\n"]
        if m.reasoning:
            parts.append("<details><summary>reasoning</summary>\n\n" + m.reasoning.strip()
                         + "\n\n</details>\n")
        body = _content_md(m)
        if body:
            parts.append(body + "\n")
        for tc in m.tool_calls or ():
            parts.append(f"**tool call** `{tc.name}`\n\n{_fence(_pretty_args(tc.arguments), 'json')}\n")
        out.append("\n".join(parts))
    return "\n".join(out)
