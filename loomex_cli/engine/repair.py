"""A history a strict OpenAI-style server accepts, whatever happened to the process that wrote
it (a crash or ``kill -9`` mid-tool, a partial answer saved while it streamed, two writers of
older loomex versions interleaving their turns).

    msgs = complete_history(msgs)   # the same objects where nothing needed fixing

- every assistant tool call is followed, before the next non-tool message, by a tool message
  with its id: a result stored later is moved up to it; a missing one becomes
  :data:`NO_RESULT`;
- a tool message that answers no call before it is dropped (strict servers reject it);
- an assistant message saved while it was still streaming (``extra["streaming"]``) is marked
  ``extra["interrupted"] = "crash"``: its writer ended before finishing it; an interrupted one
  with no text (only reasoning) gets :data:`NO_TEXT` as its text.

    sent = calls_as_text(msgs, {"bash"})   # each request: calls of tools not offered, as text

A request must also name, in ``tools``, every tool its history calls: Anthropic (also through
OpenRouter) and Bedrock refuse tool_use/tool_result blocks whose tools are not defined. A
history goes on without its tools when a ``--schema`` run that answered through the
``final_answer`` function is continued without ``--schema``, or a ``-t bash`` one without
``-t``. :func:`calls_as_text` sends those calls, and their results, as text (the saved
conversation keeps the real calls): nothing the model wrote or read is lost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

from .messages import Message, ToolCall

#: the result given to a tool call whose result was never stored
NO_RESULT = ("interrupted: no result (the run stopped before this tool call finished; "
             "it may or may not have had effects)")
#: the text of an interrupted answer that had produced only reasoning
NO_TEXT = "(interrupted before answering)"
#: ``extra`` key of an assistant message stored while it streams
STREAMING = "streaming"


def settled(m: Message) -> Message:
    """``m``, or a copy marked interrupted when it was stored mid-stream; an interrupted
    answer that had only reasoning gets :data:`NO_TEXT` as its text (an assistant message
    needs text or tool calls)."""
    if m.role != "assistant" or not _needs_settling(m):
        return m
    extra = {k: v for k, v in m.extra.items() if k != STREAMING}
    extra.setdefault("interrupted", "crash")
    content = m.content if m.text or m.tool_calls else NO_TEXT
    return Message("assistant", content, m.tool_calls, m.tool_call_id, m.name, m.reasoning,
                   extra)


def _needs_settling(m: Message) -> bool:
    if STREAMING in m.extra:
        return True
    return "interrupted" in m.extra and not m.tool_calls and not m.text


def complete_history(messages: list[Message]) -> list[Message]:
    """The history with every tool call answered right after it (see the module doc)."""
    n = len(messages)
    attached: set[int] = set()  # tool messages in the block right after their call
    for i, m in enumerate(messages):
        if m.role == "assistant" and m.tool_calls:
            ids = {c.id for c in m.tool_calls}
            j = i + 1
            while j < n and messages[j].role == "tool":
                if messages[j].tool_call_id in ids:
                    ids.discard(messages[j].tool_call_id)
                    attached.add(j)
                j += 1
    if (len(attached) == sum(1 for m in messages if m.role == "tool")
            and _answered(messages)
            and not any(m.extra and m.role == "assistant" and _needs_settling(m)
                        for m in messages)):
        return messages  # the common case: nothing to do
    used: set[int] = set()
    out: list[Message] = []
    i = 0
    while i < n:
        m = messages[i]
        if m.role == "tool":  # not consumed by a call before it: an orphan
            i += 1
            continue
        out.append(settled(m))
        i += 1
        if m.role != "assistant" or not m.tool_calls:
            continue
        found: dict[str, Message] = {}
        while i < n and messages[i].role == "tool":
            if i in attached and messages[i].tool_call_id not in found:
                found[messages[i].tool_call_id or ""] = messages[i]
                used.add(i)
            i += 1
        for c in m.tool_calls:
            if c.id in found:
                continue
            later = next((k for k in range(i, n) if k not in attached and k not in used
                          and messages[k].role == "tool" and messages[k].tool_call_id == c.id),
                         None)
            if later is not None:
                used.add(later)
                found[c.id] = messages[later]
        out.extend(found.get(c.id) or Message.tool(c.id, NO_RESULT, c.name)
                   for c in m.tool_calls)
    return out


def _answered(messages: list[Message]) -> bool:
    """Whether every call has a result in the tool block right after it."""
    n = len(messages)
    for i, m in enumerate(messages):
        if m.role == "assistant" and m.tool_calls:
            got = set()
            j = i + 1
            while j < n and messages[j].role == "tool":
                got.add(messages[j].tool_call_id)
                j += 1
            if any(c.id not in got for c in m.tool_calls):
                return False
    return True


def first_change(before: list[Message], after: list[Message]) -> int | None:
    """The first index where ``after`` differs from ``before`` (by identity), or None."""
    for i, (a, b) in enumerate(zip(before, after)):
        if a is not b:
            return i
    return None if len(before) == len(after) else min(len(before), len(after))


# -- calls of tools a request does not offer ---------------------------------------------

def calls_as_text(messages: list[Message], offered: Collection[str]) -> list[Message]:
    """The history for a request offering only the tools named in ``offered`` (``messages``
    itself when every call names one): a call of any other tool leaves its assistant message's
    ``tool_calls`` and is appended to its text as ``[tool call ID: NAME]`` and the arguments;
    its result leaves the tool block and opens the next user message as ``[result of tool
    call ID: NAME]`` and the result (a user message of its own before anything else), so
    roles still alternate. Calls of offered tools, and their results, stay as they are."""
    if all(c.name in offered for m in messages if m.tool_calls for c in m.tool_calls):
        return messages  # the common case: nothing to do
    out: list[Message] = []
    moved: dict[str, str] = {}  # id -> name: the calls of this tool block made text
    results: list[str] = []  # their results, for the next user message
    for m in messages:
        if m.role == "tool" and m.tool_call_id in moved:
            name = moved.pop(m.tool_call_id or "")
            results.append(f"[result of tool call {m.tool_call_id}: {name}]\n{m.text}")
            continue
        if m.role != "tool":
            moved = {}
            if results:
                note, results = "\n\n".join(results), []
                if m.role == "user":
                    m = dataclasses.replace(m, content=_joined(note, m.content))
                else:
                    out.append(Message.user(note))
        if m.role == "assistant" and m.tool_calls:
            gone = [c for c in m.tool_calls if c.name not in offered]
            if gone:
                moved = {c.id: c.name for c in gone}
                kept = [c for c in m.tool_calls if c.name in offered] or None
                m = dataclasses.replace(m, content=_joined(m.content, _call_text(gone)),
                                        tool_calls=kept)
        out.append(m)
    if results:
        out.append(Message.user("\n\n".join(results)))
    return out


def _call_text(calls: list[ToolCall]) -> str:
    return "\n\n".join(f"[tool call {c.id}: {c.name}]\n{c.arguments.strip() or '{}'}"
                       for c in calls)


def _joined(first: Any, then: Any) -> Any:
    """Two contents as one (a string, a list of parts, or None), ``first`` first."""
    if not first or not then:
        return then or first
    if isinstance(first, str) and isinstance(then, str):
        return f"{first}\n\n{then}"
    parts = [p if isinstance(p, dict) else {"type": "text", "text": p}
             for c in (first, then) for p in (c if isinstance(c, list) else [c])]
    return parts
