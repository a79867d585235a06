"""Messages in OpenAI chat shape, explicit and lossless.

A conversation is a plain list of :class:`Message`. ``to_dict``/``from_dict`` round-trip
everything (tool calls and their ids, reasoning kept apart from content, provider extras);
``to_wire`` is what a provider is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ToolCall:
    """One function call the model asked for. ``arguments`` is the raw JSON text it produced."""

    id: str
    name: str
    arguments: str = ""

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON (an empty string means ``{}``); raises ValueError."""
        text = self.arguments.strip()
        return json.loads(text) if text else {}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ToolCall":
        fn = d.get("function") or {}
        args = fn.get("arguments", "")
        if not isinstance(args, str):  # some servers send an object instead of a JSON string
            args = json.dumps(args)
        return cls(id=d.get("id") or "", name=fn.get("name") or "", arguments=args)


@dataclass(slots=True)
class Message:
    """One chat message. ``content`` is a string, a list of content parts, or None."""

    role: str
    content: Any = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: str | None = None
    #: provider fields kept verbatim (e.g. ``reasoning_details``), never interpreted
    extra: dict[str, Any] = field(default_factory=dict)

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def system(cls, content: str) -> "Message":
        return cls("system", content)

    @classmethod
    def user(cls, content: Any) -> "Message":
        return cls("user", content)

    @classmethod
    def assistant(cls, content: Any = None, tool_calls: list[ToolCall] | None = None,
                  reasoning: str | None = None) -> "Message":
        return cls("assistant", content, tool_calls or None, reasoning=reasoning)

    @classmethod
    def tool(cls, tool_call_id: str, content: str, name: str | None = None) -> "Message":
        return cls("tool", content, tool_call_id=tool_call_id, name=name)

    # -- views ------------------------------------------------------------------------
    @property
    def text(self) -> str:
        """The content as plain text (text parts joined; '' when there is none)."""
        c = self.content
        if c is None:
            return ""
        if isinstance(c, str):
            return c
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))

    def to_dict(self) -> dict[str, Any]:
        """Lossless JSON-ready form (reasoning under its own key)."""
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            d["tool_calls"] = [tc.to_dict() for tc in self.tool_calls]
        if self.tool_call_id is not None:
            d["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            d["name"] = self.name
        if self.reasoning is not None:
            d["reasoning"] = self.reasoning
        if self.extra:
            d["extra"] = self.extra
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Message":
        """Accepts both :meth:`to_dict` output and plain OpenAI message dicts."""
        calls = d.get("tool_calls")
        reasoning = d.get("reasoning")
        if reasoning is None:
            reasoning = d.get("reasoning_content")
        return cls(
            role=d["role"],
            content=d.get("content"),
            tool_calls=[ToolCall.from_dict(c) for c in calls] if calls else None,
            tool_call_id=d.get("tool_call_id"),
            name=d.get("name"),
            reasoning=reasoning,
            extra=dict(d.get("extra") or {}),
        )

    def to_wire(self, echo_reasoning: bool = True) -> dict[str, Any]:
        """What the provider is sent. Reasoning goes back as ``reasoning_content`` only on an
        assistant turn with tool calls (DeepSeek, GLM and llama.cpp expect it inside a tool
        loop), and only for providers that accept it. An assistant turn with tool calls and no
        text carries no ``content`` key: the spec makes it optional there, and strict servers
        (llama-cpp-python 0.3.x) refuse ``"content": null`` with HTTP 500."""
        d: dict[str, Any] = {"role": self.role}
        if self.content is not None or not self.tool_calls:
            d["content"] = self.content
        if self.tool_calls:
            d["tool_calls"] = [tc.to_dict() for tc in self.tool_calls]
            if echo_reasoning and self.reasoning:
                d["reasoning_content"] = self.reasoning
        if self.tool_call_id is not None:
            d["tool_call_id"] = self.tool_call_id
        if self.name is not None and self.role != "tool":
            d["name"] = self.name
        return d


def messages_to_json(messages: list[Message]) -> str:
    return json.dumps([m.to_dict() for m in messages], ensure_ascii=False)


def messages_from_json(text: str) -> list[Message]:
    return [Message.from_dict(d) for d in json.loads(text)]
