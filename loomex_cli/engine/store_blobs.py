"""Images in saved conversations, stored once by content hash (engine/store.py uses this).

A message whose content has ``image_url`` parts with base64 ``data:`` URLs is saved with each
such URL replaced by a reference, ``blob:<mime>;sha256:<hex>``; the bytes go to the ``blobs``
table, keyed by their SHA-256, once however often the image is sent or in however many
conversations. ``blob_refs`` records which conversations use a blob, so deleting the last of
them deletes the bytes. Reading puts the data URLs back, so ``-c``, ``--resume`` and the JSON
export see each message exactly as it was sent. Any message goes through this: images the
user attached, and images a tool (MCP) returned.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from .images import data_url, parse_data_url, part_url
from .messages import Message

if TYPE_CHECKING:  # pragma: no cover
    import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    sha256      TEXT PRIMARY KEY,
    mime        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    data        BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blob_refs (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    sha256          TEXT NOT NULL,
    PRIMARY KEY (conversation_id, sha256)
);
CREATE INDEX IF NOT EXISTS blob_refs_sha ON blob_refs(sha256);
"""

PREFIX = "blob:"
#: the stored message JSON holds a reference when it contains this
_MARK = ':"blob:'


def ref(mime: str, sha: str) -> str:
    return f"{PREFIX}{mime};sha256:{sha}"


def parse_ref(url: str) -> tuple[str, str] | None:
    """(mime, sha256 hex) of a reference; None for anything else."""
    if not url.startswith(PREFIX):
        return None
    mime, sep, sha = url[len(PREFIX):].rpartition(";sha256:")
    if not sep or len(sha) != 64:
        return None
    return mime, sha


def dump(c: "sqlite3.Connection", conv_id: str, message: Message) -> dict[str, Any]:
    """``message.to_dict()`` as stored: each base64 image replaced by a reference, its bytes
    written to ``blobs`` unless they are there already (inside the caller's transaction)."""
    d = message.to_dict()
    content = d.get("content")
    if not isinstance(content, list):
        return d
    out: list[Any] = []
    for part in content:
        got = parse_data_url(part_url(part) or "")
        if got is None:
            out.append(part)
            continue
        mime, data = got
        sha = hashlib.sha256(data).hexdigest()
        from .conversation import now_iso
        c.execute("INSERT OR IGNORE INTO blobs (sha256, mime, size, data, created_at) "
                  "VALUES (?, ?, ?, ?, ?)", (sha, mime, len(data), data, now_iso()))
        c.execute("INSERT OR IGNORE INTO blob_refs (conversation_id, sha256) VALUES (?, ?)",
                  (conv_id, sha))
        out.append(_with_url(part, ref(mime, sha)))
    d["content"] = out
    return d


def load(c: "sqlite3.Connection", rows: list[Any]) -> list[Message]:
    """The messages of stored JSON rows (``row[0]``), with their images' data URLs back. A
    blob that is missing (a damaged database) becomes a text part that says so."""
    cache: dict[str, bytes | None] = {}
    out = []
    for row in rows:
        d = json.loads(row[0])
        if _MARK in row[0] and isinstance(d.get("content"), list):
            d["content"] = [_restore(c, p, cache) for p in d["content"]]
        out.append(Message.from_dict(d))
    return out


def _restore(c: "sqlite3.Connection", part: Any, cache: dict[str, bytes | None]) -> Any:
    got = parse_ref(part_url(part) or "")
    if got is None:
        return part
    mime, sha = got
    if sha not in cache:
        row = c.execute("SELECT data FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
        cache[sha] = bytes(row[0]) if row else None
    data = cache[sha]
    if data is None:
        return {"type": "text", "text": f"[an image ({mime}, sha256:{sha[:12]}…) is missing "
                                        "from the saved conversation]"}
    return _with_url(part, data_url(mime, data))


def _with_url(part: dict[str, Any], url: str) -> dict[str, Any]:
    """``part`` with another URL (``image_url`` may be an object or, in some clients, the URL
    itself)."""
    inner = part["image_url"]
    return {**part, "image_url": {**inner, "url": url} if isinstance(inner, dict) else url}


def forget(c: "sqlite3.Connection", conv_id: str) -> None:
    """A conversation was deleted: its references go, and the blobs no other one uses."""
    c.execute("DELETE FROM blob_refs WHERE conversation_id = ?", (conv_id,))
    c.execute("DELETE FROM blobs WHERE NOT EXISTS "
              "(SELECT 1 FROM blob_refs r WHERE r.sha256 = blobs.sha256)")
