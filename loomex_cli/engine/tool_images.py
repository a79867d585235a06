"""Images in tool results, for the models that see them.

A tool returns :class:`ToolOutput` (text and :class:`ToolImage` parts, in order) instead of a
string when its result holds images (MCP tools do). What the model gets depends on the model:

- it takes images (``ResolvedModel.accepts_images`` is True): the tool message keeps the text
  with ``[image 1: image/png, 1,234 bytes, attached below]`` where each image was, and the
  images follow in ONE user message after all the tool results of the step (OpenAI
  chat-completions tool messages carry only text, so this is where vision models look);
- it does not, or nobody knows: the tool message describes each image,
  ``[image: image/png, 1,234 bytes]``, as before. A conversation that goes on with a
  text-only model (``-c -m``, ``/model``) leaves the images message out of the requests
  (engine/loop.py): the tool messages still say what the images were.

An image is attached only when it is one of the types providers take (PNG, JPEG, GIF,
WebP), its data is valid base64 and it is at most :data:`MAX_BYTES`; any other is described.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .messages import Message

#: the image types chat-completions providers take as ``image_url`` data URLs
MIME_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
#: the largest image attached (OpenAI's limit is 20 MB a request)
MAX_BYTES = 10_000_000
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


@dataclass(slots=True, frozen=True)
class ToolImage:
    """One image of a tool result: its MIME type and its data in base64."""
    mime: str
    data: str

    @property
    def size(self) -> int:
        """Bytes of the decoded image (from the base64 length; no decoding)."""
        n = len(self.data)
        return max(0, n * 3 // 4 - self.data[-2:].count("=")) if n else 0

    @property
    def attachable(self) -> bool:
        d = self.data
        return (self.mime.lower() in MIME_TYPES and 0 < self.size <= MAX_BYTES
                and len(d) % 4 == 0 and _B64.fullmatch(d) is not None)

    def describe(self, number: int | None = None) -> str:
        """``[image: image/png, 1,234 bytes]``, or numbered and attached below."""
        if number is None:
            return f"[image: {self.mime}, {self.size:,} bytes]"
        return f"[image {number}: {self.mime}, {self.size:,} bytes, attached below]"

    def part(self) -> dict[str, Any]:
        """The chat-completions content part."""
        from .images import b64_url, url_part
        return url_part(b64_url(self.mime.lower(), self.data))


@dataclass(slots=True)
class ToolOutput:
    """A tool result with images: ``parts`` in order, each a string or a ToolImage."""
    parts: list[str | ToolImage] = field(default_factory=list)

    @property
    def images(self) -> list[ToolImage]:
        return [p for p in self.parts if isinstance(p, ToolImage)]


class Attached:
    """The images of one step's tool results that go to the model, numbered as the calls
    finish (``attach``: the model takes images; else every image is described)."""

    def __init__(self, attach: bool) -> None:
        self.attach = attach
        self.items: list[tuple[str, int, ToolImage]] = []

    def render(self, output: ToolOutput, tool: str) -> str:
        """The tool message's text for ``output``; the images to attach are kept here."""
        texts: list[str] = []
        for p in output.parts:
            if not isinstance(p, ToolImage):
                texts.append(p)
            elif self.attach and p.attachable:
                number = len(self.items) + 1
                self.items.append((tool, number, p))
                texts.append(p.describe(number))
            else:
                texts.append(p.describe())
        return "\n".join(texts)

    def message(self) -> Message | None:
        """The user message that carries the images after the tool results (None: none)."""
        if not self.items:
            return None
        content: list[dict[str, Any]] = [{"type": "text", "text": (
            "The images from the tool results above (each tool message says where its "
            "images belong):")}]
        for tool, number, image in self.items:
            content.append({"type": "text", "text": f"[image {number}, from {tool}]"})
            content.append(image.part())
        return Message("user", content, extra={"tool_images": len(self.items)})
