"""The web face's attachments (``file`` parts of UI messages, web/files.py) and its tool
progress chunks (``data-tool-progress``), in process. ``loomex serve`` end to end is in
tests/test_web_parity.py."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from loomex_cli.engine.events import (StepFinish, StepStart, ToolCallComplete, ToolCallStart,
                                      ToolProgress, ToolResult)
from loomex_cli.web.convert import BadRequest, ui_to_messages
from test_web_protocol import PNG, check_stream, events_to_chunks

PNG_BYTES = base64.b64decode(PNG)
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 20
GIF = b"GIF89a" + b"\0" * 20
WEBP = b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 20


def data(mime: str, raw: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


def fpart(mime: str, url: str, name: str | None = None) -> dict[str, Any]:
    p = {"type": "file", "mediaType": mime, "url": url}
    if name is not None:
        p["filename"] = name
    return p


def one(*parts: dict[str, Any], **kw: Any) -> Any:
    msgs = ui_to_messages([{"id": "u", "role": "user", "parts": list(parts)}], **kw)
    assert len(msgs) == 1
    return msgs[0].content


def test_images_are_judged_by_their_bytes_and_rebuilt_from_them():
    for raw, mime in ((PNG_BYTES, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"),
                      (WEBP, "image/webp")):
        # the browser's guess (image/jpeg for all) does not decide the type sent
        got = one({"type": "text", "text": "look"}, fpart("image/jpeg", data("image/jpeg", raw)))
        assert got == [{"type": "text", "text": "look"},
                       {"type": "image_url", "image_url": {"url": data(mime, raw)}}]
    # an image alone is a message too
    assert one(fpart("image/png", data("image/png", PNG_BYTES)))[0]["type"] == "image_url"


@pytest.mark.parametrize("part,needle", [
    (fpart("image/png", data("image/png", b"<svg xmlns='x'/>")), "not a png, jpeg"),
    (fpart("image/svg+xml", data("image/svg+xml", b"<svg/>")), "not a png, jpeg"),
    (fpart("application/pdf", data("application/pdf", b"%PDF-1.4"), "a.pdf"),
     "application/pdf files are not taken"),
    (fpart("", data("", b"x")), "no media type"),
    (fpart("text/plain", "https://example.org/a.txt"), "only images can be sent by URL"),
    (fpart("image/png", "file:///etc/passwd"), "base64 data: URL"),
    (fpart("image/png", "blob:http://x/1"), "base64 data: URL"),
    (fpart("image/png", "ftp://x/a.png"), "base64 data: URL"),
    (fpart("image/png", "https://example.org/a b.png"), "not a valid URL"),
    (fpart("text/plain", "data:text/plain,hello"), "not a base64 data: URL"),
    (fpart("text/plain", "data:text/plain;base64,!!!!"), "not a base64 data: URL"),
    (fpart("text/plain", data("text/plain", b"\xff\xfe bad")), "not UTF-8"),
    (fpart("text/plain", data("text/plain", b"a\0b"), "x.bin"), "binary file"),
    ({"type": "file", "mediaType": "text/plain", "url": "data:,", "filename": 3},
     "filename must be a string"),
])
def test_what_is_refused_says_why(part, needle):
    with pytest.raises(BadRequest) as e:
        one({"type": "text", "text": "hi"}, part)
    assert needle in str(e.value) and "messages[0].parts[1]" in str(e.value)


def test_text_files_become_blocks_after_the_text_as_dash_f_adds_them():
    got = one({"type": "text", "text": "compare these"},
              fpart("text/markdown", data("text/markdown", "# Title\nhé\n".encode()), "a.md"),
              fpart("application/json; charset=utf-8", data("application/json", b'{"a": 1}'),
                    'we"ird\nname.json'),
              fpart("image/png", data("image/png", PNG_BYTES)))
    assert got[0] == {"type": "text", "text": (
        'compare these\n\n<file path="a.md">\n# Title\nhé\n</file>\n\n'
        '<file path="we\'ird?name.json">\n{"a": 1}\n</file>')}
    assert [p["type"] for p in got] == ["text", "image_url"]
    # a file alone, without a name
    assert one(fpart("text/plain", data("text/plain", b"x"))) == \
        '<file path="attachment">\nx\n</file>'


def test_an_http_image_url_is_passed_on_as_it_is():
    url = "https://example.org/cat.png?x=1"
    assert one(fpart("image/png", url))[0] == {"type": "image_url", "image_url": {"url": url}}


def test_the_size_caps_of_dash_a_and_dash_f(monkeypatch):
    import loomex_cli.web.files as attach
    monkeypatch.setattr(attach, "PER_FILE", 10)
    monkeypatch.setattr(attach, "TOTAL", 15)
    monkeypatch.setattr(attach, "IMAGE_LIMIT", len(PNG_BYTES) - 1)
    with pytest.raises(BadRequest, match="over 0 KiB; text files that big"):
        one(fpart("text/plain", data("text/plain", b"x" * 11)))
    one(fpart("text/plain", data("text/plain", b"x" * 10)))  # at the cap: taken
    with pytest.raises(BadRequest, match="at most 0 KiB of text in 500 files"):
        one(fpart("text/plain", data("text/plain", b"x" * 8)),
            fpart("text/plain", data("text/plain", b"y" * 8)))
    with pytest.raises(BadRequest, match="images that big are not sent"):
        one(fpart("image/png", data("image/png", PNG_BYTES)))
    # a huge data URL is refused from its length, before it is decoded
    with pytest.raises(BadRequest, match="images that big"):
        one(fpart("image/png", "data:image/png;base64," + "A" * 10_000_000))


def test_a_text_only_model_refuses_images_anywhere_in_the_chat_and_unknown_sends_them():
    img = fpart("image/png", data("image/png", PNG_BYTES))
    chat = [{"role": "user", "parts": [{"type": "text", "text": "see"}, img]},
            {"role": "assistant", "parts": [{"type": "text", "text": "a dot"}]},
            {"role": "user", "parts": [{"type": "text", "text": "and?"}]}]
    with pytest.raises(BadRequest, match="groq/x does not take images"):
        ui_to_messages(chat, accepts_images=False, model="groq/x")
    assert len(ui_to_messages(chat, accepts_images=None)) == 3
    assert len(ui_to_messages(chat, accepts_images=True)) == 3
    text_only = [{"role": "user", "parts": [fpart("text/plain", data("text/plain", b"x"))]}]
    assert ui_to_messages(text_only, accepts_images=False)[0].content.startswith("<file")


# -- tool progress ---------------------------------------------------------------------------

def test_tool_progress_is_a_transient_data_part_only_while_the_call_runs():
    chunks = events_to_chunks([
        StepStart(0, "m", 1),
        ToolProgress("c1", "slow", 0.0),  # before the call is known: dropped
        ToolCallStart("c1", "slow", 0),
        ToolProgress("c1", "slow", 0.0),  # input not complete yet: dropped
        ToolCallComplete("c1", "slow", "{}", 0),
        ToolProgress("c1", "slow", 1, 4, "step 1"),
        ToolProgress("c1", "slow", 2),
        ToolResult("c1", "slow", "done", False, 1.0),
        ToolProgress("c1", "slow", 3, 4),  # late: dropped
        StepFinish(0, "tool_calls"),
    ])
    check_stream(chunks + [{"type": "finish"}])
    progress = [c for c in chunks if c["type"] == "data-tool-progress"]
    assert progress == [
        {"type": "data-tool-progress", "id": "c1", "transient": True,
         "data": {"toolCallId": "c1", "toolName": "slow", "progress": 1, "total": 4,
                  "message": "step 1"}},
        {"type": "data-tool-progress", "id": "c1", "transient": True,
         "data": {"toolCallId": "c1", "toolName": "slow", "progress": 2}}]
