"""What files added to a message look like and how much of them is taken: one place for the
CLI (``-f``/``-a``/``@path``, cli/attach.py) and the web face (file parts, web/files.py).

    file_block("src/app.py", text)   # '<file path="src/app.py">\\n...</file>'
    sniff_image(first_bytes)         # "image/png" | "image/jpeg" | "image/gif" | "image/webp" | None
"""

from __future__ import annotations

#: a text file bigger than this is not added (named explicitly: an error)
PER_FILE = 1024 * 1024
#: text added to one message at most, over all its files
TOTAL = 4 * 1024 * 1024
#: files added to one message at most
MAX_FILES = 500
#: an image bigger than this is refused (OpenAI's limit; others take less)
IMAGE_LIMIT = 20 * 1024 * 1024
#: bytes looked at to decide whether a file is binary (as grep and git do)
SNIFF = 8192


def sniff_image(head: bytes) -> str | None:
    """The MIME type of a png, jpeg, gif or webp image from its first bytes; else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def label(path: str) -> str:
    """A path fit for the ``path="..."`` of a block (no quotes, no control characters)."""
    return "".join("?" if (ord(c) < 32 or ord(c) == 127) else c for c in path).replace('"', "'")


def file_block(shown: str, text: str) -> str:
    """One file's text as the model reads it; ``shown`` is already a :func:`label`."""
    body = text if text.endswith("\n") or not text else text + "\n"
    return f'<file path="{shown}">\n{body}</file>'


def mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"
