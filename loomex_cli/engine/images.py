"""Image parts of a message, in the OpenAI chat shape.

    part = image_part("image/png", data)   # {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}
    parse_data_url(part["image_url"]["url"])  # ("image/png", data), or None
    describe(part)                          # "[image: image/png, 12 KB, sha256:1a2b3c4d…]"

An image is sent as a ``data:`` URL (or an http(s) URL the provider fetches). Saved
conversations keep the bytes once, by hash (``store_blobs``); what a person reads (``history
show``, Markdown exports) shows the placeholder, never the base64.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Iterator

#: tokens counted for one image in the context-size estimate (providers charge by pixel
#: size: OpenAI ~765 for a 1024x1024 image at high detail, Anthropic up to ~1,600); errs high
IMAGE_TOKENS = 1_600


def image_part(mime: str, data: bytes) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url(mime, data)}}


def url_part(url: str) -> dict[str, Any]:
    """An image the provider fetches itself (an http(s) URL, sent as it is)."""
    return {"type": "image_url", "image_url": {"url": url}}


def data_url(mime: str, data: bytes) -> str:
    return b64_url(mime, base64.b64encode(data).decode("ascii"))


def b64_url(mime: str, b64: str) -> str:
    """The ``data:`` URL of an image already in base64 (an MCP result carries it so)."""
    return f"data:{mime};base64,{b64}"


def parse_data_url(url: str) -> tuple[str, bytes] | None:
    """(mime, bytes) of a base64 ``data:`` URL; None for anything else."""
    if not url.startswith("data:"):
        return None
    head, sep, payload = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    return head[: -len(";base64")] or "application/octet-stream", data


def part_url(part: Any) -> str | None:
    """The URL of an ``image_url`` part (None: not one)."""
    if not isinstance(part, dict) or part.get("type") != "image_url":
        return None
    inner = part.get("image_url")
    url = inner.get("url") if isinstance(inner, dict) else inner
    return url if isinstance(url, str) else None


def image_parts(content: Any) -> Iterator[dict[str, Any]]:
    """The ``image_url`` parts of a message's content (none when it is a string)."""
    if isinstance(content, list):
        for p in content:
            if part_url(p) is not None:
                yield p


def user_images(messages: Any) -> int:
    """How many images the user sent in ``messages`` (a tool's images, in the message the
    loop adds after its results, are not counted: a text-only model gets their descriptions)."""
    return sum(1 for m in messages or () if "tool_images" not in m.extra
               for _ in image_parts(m.content))


def human_size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.0f} KB"
    return f"{n / 1_000_000:.1f} MB"


def describe(part: Any) -> str:
    """A one-line placeholder for an image part: type, size and hash of a data URL, or the
    URL of one the provider fetches."""
    url = part_url(part) or ""
    got = parse_data_url(url)
    if got is not None:
        mime, data = got
        import hashlib
        return f"[image: {mime}, {human_size(len(data))}, sha256:{hashlib.sha256(data).hexdigest()[:12]}…]"
    if url.startswith(("http://", "https://")):
        return f"[image: {url if len(url) <= 200 else url[:199] + '…'}]"
    return "[image]"
