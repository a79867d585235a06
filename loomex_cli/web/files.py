"""The ``file`` parts of a user's UI message (what ``useChat`` sends for attached files):
``{"type": "file", "mediaType": ..., "url": "data:...;base64,...", "filename": ...}``.

The web face's ``-a``/``-f`` (cli/attach.py), with the same limits and the same shapes:

- an image (png, jpeg, webp or gif, known by its decoded first bytes, not by the
  ``mediaType`` the browser guessed) becomes an ``image_url`` part with a ``data:`` URL
  rebuilt from those bytes, at most ``IMAGE_LIMIT`` bytes; an ``http(s)`` URL with an
  ``image/*`` media type is passed on as it is (the provider fetches it; loomex downloads
  nothing);
- a text file (``text/*`` or ``application/json``, valid UTF-8 without NUL bytes, at most
  ``PER_FILE`` bytes; ``TOTAL`` bytes and ``MAX_FILES`` files a message) becomes a
  ``<file path="NAME">...</file>`` block after the message's text, as ``-f`` adds one;
- anything else (another media type, a ``data:`` URL that is not base64, a ``file:`` or
  ``blob:`` URL, an image whose bytes are not one of the four types) is refused: a 400.

Whether the model takes images is checked by the caller (:func:`check_images`), once for
the whole request, before anything is sent.
"""

from __future__ import annotations

from typing import Any

from ..engine.file_blocks import (IMAGE_LIMIT, MAX_FILES, PER_FILE, TOTAL, file_block, label,
                                  mib, sniff_image)

#: media types read as text besides ``text/*``
TEXT_TYPES = ("application/json",)


class FileError(ValueError):
    """A file part that cannot be sent (the message is fit for a 400)."""


class Files:
    """What the file parts of one user message add: text blocks and image parts."""

    __slots__ = ("blocks", "images", "total")

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.images: list[dict[str, Any]] = []
        self.total = 0

    def add(self, part: dict[str, Any], where: str) -> None:
        from ..engine.images import image_part, parse_data_url, url_part
        media, url, name = part.get("mediaType"), part.get("url"), part.get("filename")
        if not isinstance(media, str) or not isinstance(url, str):
            raise FileError(f"{where}: a file part needs string 'mediaType' and 'url'")
        if name is not None and not isinstance(name, str):
            raise FileError(f"{where}.filename must be a string")
        media = media.split(";")[0].strip().lower()
        shown = f"{where} ({_label(name)})" if name else where
        image = media.startswith("image/")
        text = media.startswith("text/") or media in TEXT_TYPES
        if not image and not text:
            raise FileError(f"{shown}: {media or 'no media type'} files are not taken; send "
                            "png, jpeg, webp or gif images, or text files")
        if url.startswith(("http://", "https://")):
            if not image:
                raise FileError(f"{shown}: only images can be sent by URL (loomex downloads "
                                "nothing); send the text itself")
            if any(c.isspace() for c in url):
                raise FileError(f"{shown}: not a valid URL")
            self.images.append(url_part(url))
            return
        if not url.startswith("data:"):
            raise FileError(f"{shown}: send the file as a base64 data: URL, or an image as an "
                            "http(s) URL")
        # the decoded size, known before decoding: base64 is 4 characters for 3 bytes
        payload = len(url) - url.find(",") - 1
        limit = IMAGE_LIMIT if image else PER_FILE
        if payload * 3 // 4 > limit + 2:
            raise FileError(f"{shown}: over {mib(limit)}; "
                            f"{'images' if image else 'text files'} that big are not sent")
        got = parse_data_url(url)
        if got is None:
            raise FileError(f"{shown}: not a base64 data: URL")
        data = got[1]
        if len(data) > limit:
            raise FileError(f"{shown}: over {mib(limit)}; "
                            f"{'images' if image else 'text files'} that big are not sent")
        if image:
            mime = sniff_image(data[:16])
            if mime is None:
                raise FileError(f"{shown}: not a png, jpeg, webp or gif image (judged by its "
                                "content)")
            self.images.append(image_part(mime, data))
            return
        if b"\0" in data:
            raise FileError(f"{shown}: a binary file; only text files can be added")
        try:
            body = data.decode("utf-8")
        except UnicodeDecodeError:
            raise FileError(f"{shown}: not UTF-8 text") from None
        if self.total + len(data) > TOTAL or len(self.blocks) >= MAX_FILES:
            raise FileError(f"{shown}: one message takes at most {mib(TOTAL)} of text in "
                            f"{MAX_FILES} files")
        self.total += len(data)
        self.blocks.append(file_block(_label(name or "attachment"), body))


def check_images(messages: list[Any], accepts_images: bool | None, model: str = "") -> None:
    """A model the registry lists as text-only takes no image: the request is refused
    (raises :class:`FileError`) before anything is sent. Unknown (None): sent."""
    if accepts_images is not False:
        return
    from ..engine.images import user_images
    if user_images(messages):
        who = model or "this model"
        raise FileError(f"{who} does not take images (the models.dev catalogue lists its "
                        "input as text only); nothing was sent")


def _label(name: str) -> str:
    """A file name fit for ``path="..."`` and for an error (the rule of ``-f`` blocks)."""
    return label(name)[:200]
