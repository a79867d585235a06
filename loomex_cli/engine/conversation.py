"""A saved conversation as records: its meta fields, its messages, its title and timestamps,
and its Markdown form. engine/store.py keeps them in SQLite."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .messages import Message

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

#: longest stored title (the first line of the first user message)
TITLE_MAX = 80


def now_iso() -> str:
    """UTC, fixed width (so text order is time order): ``2025-06-01T10:20:30.123456Z``."""
    from datetime import datetime, timezone
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> "datetime":
    """A stored timestamp as an aware UTC datetime."""
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def title_of(message: Message) -> str | None:
    """The first non-empty line of a message's text, clipped to :data:`TITLE_MAX`; for a
    message of images alone, ``[image]`` or ``[2 images]``."""
    for line in message.text.splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1] + "…"
    if isinstance(message.content, list):  # images alone (loomex -a shot.png)
        from .images import image_parts
        n = sum(1 for _ in image_parts(message.content))
        if n:
            return "[image]" if n == 1 else f"[{n} images]"
    return None


@dataclass(slots=True)
class ConversationMeta:
    """A saved conversation's metadata (the messages are stored apart)."""
    id: str
    created_at: str
    updated_at: str
    model: str | None = None
    title: str | None = None
    source: str = "run"
    #: cumulative token counters (as :func:`engine.result.add_usage` sums them)
    usage: dict[str, Any] = field(default_factory=dict)
    #: None means unknown
    cost_usd: float | None = None
    cwd: str | None = None
    message_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at, "updated_at": self.updated_at,
                "model": self.model, "title": self.title, "source": self.source,
                "usage": self.usage, "cost_usd": self.cost_usd, "cwd": self.cwd,
                "message_count": self.message_count}


@dataclass(slots=True)
class Conversation(ConversationMeta):
    """The meta fields plus every message, in order."""

    messages: list[Message] = field(default_factory=list)

    @property
    def meta(self) -> ConversationMeta:
        return ConversationMeta(self.id, self.created_at, self.updated_at, self.model,
                                self.title, self.source, dict(self.usage), self.cost_usd,
                                self.cwd, self.message_count)


def conversation_json(conv: Conversation) -> str:
    """Lossless: the meta fields plus ``messages`` as ``Message.to_dict()`` (images with their
    data; ``Message.from_dict`` reads them back exactly)."""
    import json
    doc = {"format": "loomex-conversation", "version": 1, **conv.meta.to_dict(),
           "messages": [m.to_dict() for m in conv.messages]}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def conversation_markdown(conv: Conversation) -> str:
    """A saved conversation as readable Markdown (not lossless: the JSON export is)."""
    from .transcript import messages_markdown
    meta = [f"- id: `{conv.id}`", f"- created: {conv.created_at}",
            f"- model: `{conv.model or 'unknown'}`", f"- source: {conv.source}"]
    if conv.cwd:
        meta.append(f"- directory: `{conv.cwd}`")
    if conv.usage:
        meta.append(f"- tokens: {conv.usage.get('prompt_tokens', 0):,} in / "
                    f"{conv.usage.get('completion_tokens', 0):,} out")
    if conv.cost_usd is not None:
        meta.append(f"- cost: ${conv.cost_usd:.4f}")
    return messages_markdown(conv.messages, conv.title or "loomex conversation", meta)
