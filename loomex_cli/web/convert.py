"""AI SDK ``UIMessage``s (what ``useChat`` posts) -> engine :class:`Message`s.

A UIMessage is ``{id, role, parts: [...]}``. An assistant message holds whole agent runs: its
``step-start`` parts separate the model calls, and each tool part carries the call and its
outcome. Each step becomes an assistant message (text, reasoning, tool calls with their ids)
followed by one tool message per call, in call order, so a multi-turn chat keeps its tool
history exactly as the engine wrote it.

- ``text`` parts: joined (user, assistant, system).
- ``reasoning`` parts: the assistant message's ``reasoning``.
- ``tool-<name>`` / ``dynamic-tool`` parts in a final state (``output-available``,
  ``output-error``, ``output-denied``) become a call + its result; the others (still
  streaming, waiting for input or approval) and calls without ``input`` (never run) are left
  out, so every call sent to the provider has a result.
- ``file`` parts of a user message: images become ``image_url`` content parts and text files
  ``<file path="NAME">`` blocks after the text, as ``-a`` and ``-f`` do (web/files.py);
  any other file is refused. Images for a model the registry lists as text-only
  (``accepts_images=False``) are refused; unknown (None) or True: sent.
- every other part (``step-start`` aside, which splits steps) is ignored, as are unknown ones.

A message with ``content`` (a string) instead of ``parts`` is read as one text part (handy
for curl). System messages from the client are dropped unless ``allow_system`` (the served
agent's own system prompt stays in charge).

Malformed input raises :class:`BadRequest` (a ValueError) with a message fit for a 400.
"""

from __future__ import annotations

import json
from typing import Any

from ..engine.messages import Message, ToolCall
from .files import FileError, Files, check_images

_FINAL_TOOL_STATES = ("output-available", "output-error", "output-denied")
DENIED_TEXT = "Error: the user denied this tool call. It did not run."


class BadRequest(ValueError):
    """The request body is not a usable chat request."""


def request_messages(body: Any) -> list[Any]:
    """The ``messages`` list of a request body (a dict) or a bare list of messages."""
    if isinstance(body, dict):
        if "messages" not in body:
            raise BadRequest("the request body has no 'messages'")
        msgs = body["messages"]
    else:
        msgs = body
    if not isinstance(msgs, list):
        raise BadRequest("'messages' must be a list of UI messages")
    if not msgs:
        raise BadRequest("'messages' is empty")
    return msgs


def ui_to_messages(ui_messages: Any, *, allow_system: bool = False,
                   accepts_images: bool | None = None, model: str = "") -> list[Message]:
    """Engine messages for a UIMessage list (or a request body holding one).
    ``accepts_images``: whether the model takes images (``ResolvedModel.accepts_images``);
    False refuses a request that holds any (``model`` names it in the error)."""
    msgs = request_messages(ui_messages)
    out: list[Message] = []
    for i, m in enumerate(msgs):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise BadRequest(f"{where} must be an object")
        role = m.get("role")
        parts = _parts(m, where)
        if role == "user":
            msg = _user(parts, where)
            if msg is not None:
                out.append(msg)
        elif role == "assistant":
            out.extend(_assistant(parts, where))
        elif role == "system":
            text = "".join(_text(p, f"{where}.parts[{j}]") for j, p in enumerate(parts)
                           if p.get("type") == "text")
            if allow_system and text:
                out.append(Message.system(text))
        else:
            raise BadRequest(f"{where}.role must be 'user', 'assistant' or 'system', "
                             f"not {role!r}")
    if not any(m.role == "user" for m in out):
        raise BadRequest("there is no user message to answer")
    try:
        check_images(out, accepts_images, model)
    except FileError as e:
        raise BadRequest(str(e)) from None
    return out


def _parts(m: dict[str, Any], where: str) -> list[dict[str, Any]]:
    parts = m.get("parts")
    if parts is None and isinstance(m.get("content"), str):
        return [{"type": "text", "text": m["content"]}]
    if not isinstance(parts, list):
        raise BadRequest(f"{where}.parts must be a list")
    for j, p in enumerate(parts):
        if not isinstance(p, dict) or not isinstance(p.get("type"), str):
            raise BadRequest(f"{where}.parts[{j}] must be an object with a string 'type'")
    return parts


def _text(p: dict[str, Any], where: str) -> str:
    t = p.get("text")
    if not isinstance(t, str):
        raise BadRequest(f"{where}.text must be a string")
    return t


def _user(parts: list[dict[str, Any]], where: str) -> Message | None:
    content: list[dict[str, Any]] = []
    files = Files()
    for j, p in enumerate(parts):
        kind = p["type"]
        if kind == "text":
            t = _text(p, f"{where}.parts[{j}]")
            if content and content[-1]["type"] == "text":
                content[-1]["text"] += t
            else:
                content.append({"type": "text", "text": t})
        elif kind == "file":
            try:
                files.add(p, f"{where}.parts[{j}]")
            except FileError as e:
                raise BadRequest(str(e)) from None
    if files.blocks:  # after the text, as -f adds them
        text = "\n\n".join(p["text"] for p in content if p["type"] == "text")
        text = "\n\n".join(t for t in [text, *files.blocks] if t)
        content = [{"type": "text", "text": text}]
    content += files.images
    if not content:
        return None
    if len(content) == 1 and content[0]["type"] == "text":
        return Message.user(content[0]["text"])
    return Message.user(content)


class _Step:
    __slots__ = ("text", "reasoning", "calls", "results")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: list[ToolCall] = []
        self.results: list[Message] = []

    def messages(self) -> list[Message]:
        text = "".join(self.text)
        reasoning = "".join(self.reasoning)
        if not text and not self.calls:
            return []
        return [Message.assistant(text or None, self.calls or None, reasoning or None),
                *self.results]


def _assistant(parts: list[dict[str, Any]], where: str) -> list[Message]:
    out: list[Message] = []
    step = _Step()
    for j, p in enumerate(parts):
        kind = p["type"]
        pw = f"{where}.parts[{j}]"
        if kind == "step-start":
            out += step.messages()
            step = _Step()
        elif kind in ("text", "reasoning"):
            t = _text(p, pw)
            if step.calls:  # text after a tool call without a step-start: a new step
                out += step.messages()
                step = _Step()
            (step.text if kind == "text" else step.reasoning).append(t)
        elif kind.startswith("tool-") or kind == "dynamic-tool":
            pair = _tool(p, kind, pw)
            if pair is not None:
                step.calls.append(pair[0])
                step.results.append(pair[1])
    out += step.messages()
    return out


def _tool(p: dict[str, Any], kind: str, where: str) -> tuple[ToolCall, Message] | None:
    name = p.get("toolName") if kind == "dynamic-tool" else kind[len("tool-"):]
    cid = p.get("toolCallId")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{where}: a tool part needs a tool name")
    if not isinstance(cid, str) or not cid:
        raise BadRequest(f"{where}.toolCallId must be a non-empty string")
    state = p.get("state")
    if state not in _FINAL_TOOL_STATES or "input" not in p:
        return None
    inp = p["input"]
    args = inp if isinstance(inp, str) else json.dumps(inp, ensure_ascii=False)
    if state == "output-available":
        out = p.get("output")
        content = out if isinstance(out, str) else json.dumps(out, ensure_ascii=False)
    elif state == "output-error":
        err = p.get("errorText")
        content = err if isinstance(err, str) and err else "Error: the tool call failed."
    else:
        content = DENIED_TEXT
    return ToolCall(cid, name, args), Message.tool(cid, content, name)
