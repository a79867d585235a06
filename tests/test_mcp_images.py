"""Images in MCP tool results: a model that takes images (the models.dev snapshot says so,
served on loopback) gets them as ``image_url`` parts in one user message after the step's
tool results, the tool message keeping the text with ``[image 1: ..., attached below]``; a
text-only model, or one nobody knows, gets them described. End to end through the CLI with
server-everything's ``get-tiny-image`` against the recording replay server, and saved
conversations send the same messages again on ``-c``."""

from __future__ import annotations

import base64
import subprocess

import pytest

from cli_support import CliEnv, loomex_bin
from mcp_support import everything_cmd, toml_server
from replay_server import Reply
from test_registry import CatalogServer

from loomex_cli.engine.tool_images import MAX_BYTES, Attached, ToolImage, ToolOutput
from loomex_cli.mcp.results import MAX_BYTES as TEXT_MAX, result_output, result_text

KEYS = dict(OPENAI_API_KEY="sk-openai-test-1234567890", GROQ_API_KEY="gsk-test-1234567890")
ALLOW = '\n[tools."ev__*"]\nallow = ["*"]\n'
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
       "RU5ErkJggg==")


@pytest.fixture
def catalog(fixtures_dir):
    srv = CatalogServer((fixtures_dir.parent / "models-dev" / "api.json").read_bytes())
    yield srv
    srv.stop()


# -- the pieces ------------------------------------------------------------------------------

def test_what_is_attached_and_how_it_is_numbered_and_described():
    png = ToolImage("image/png", PNG)
    assert png.attachable and png.size == len(base64.b64decode(PNG))
    assert not ToolImage("image/svg+xml", PNG).attachable          # not a type providers take
    assert not ToolImage("image/png", "not base64!").attachable
    assert not ToolImage("image/png", "").attachable
    assert not ToolImage("image/png", "A" * (MAX_BYTES * 4 // 3 + 8)).attachable
    out = ToolOutput(["before", png, ToolImage("text/html", "PGI+"), "after", png])
    on = Attached(True)
    assert on.render(out, "ev__pic") == (
        f"before\n[image 1: image/png, {png.size:,} bytes, attached below]\n"
        "[image: text/html, 3 bytes]\nafter\n"
        f"[image 2: image/png, {png.size:,} bytes, attached below]")
    msg = on.message()
    assert msg.role == "user" and [p["type"] for p in msg.content] == \
        ["text", "text", "image_url", "text", "image_url"]
    assert msg.content[1]["text"] == "[image 1, from ev__pic]"
    assert msg.content[2]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    off = Attached(False)
    assert off.render(out, "ev__pic") == result_text({"content": [
        {"type": "text", "text": "before"}, {"type": "image", "mimeType": "image/png", "data": PNG},
        {"type": "image", "mimeType": "text/html", "data": "PGI+"},
        {"type": "text", "text": "after"},
        {"type": "image", "mimeType": "image/png", "data": PNG}]})
    assert off.message() is None


def test_an_mcp_result_with_images_is_tool_output_unless_its_text_is_too_big():
    image = {"type": "image", "mimeType": "image/png", "data": PNG}
    got = result_output({"content": [{"type": "text", "text": "hi"}, image]}, "t")
    assert isinstance(got, ToolOutput) and got.parts[0] == "hi"
    assert result_output({"content": [{"type": "text", "text": "hi"}]}, "t") == "hi"
    big = result_output({"content": [{"type": "text", "text": "x" * (TEXT_MAX + 10)}, image]},
                        "t")
    assert isinstance(big, str) and "bytes cut here" in big and "[image: image/png," in big


# -- end to end ------------------------------------------------------------------------------

def run(tmp_path, env: CliEnv, *args: str, **extra: str) -> subprocess.CompletedProcess:
    p = subprocess.run([loomex_bin(), *args], cwd=tmp_path, env=env.env(**extra),
                       capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def convo(replay, name, i):
    """The messages of request ``i``, without the system prompt."""
    return [m for m in replay.requests(name)[i].body["messages"] if m["role"] != "system"]


def script(replay, prefix):
    return replay.new_script([
        Reply.tool_calls([("c1", "ev__get-tiny-image", {}), ("c2", "ev__echo", {"message": "x"})]),
        Reply.text("a tiny logo."),
        Reply.text("still a logo."),
    ], prefix=prefix)


def test_a_vision_model_gets_the_image_as_an_image_part(replay, tmp_path, catalog):
    name, url = script(replay, "mcp-image-vision")
    env = CliEnv(tmp_path, extra_config=toml_server("ev", everything_cmd()) + ALLOW)
    v = dict(LOOMEX_MODELS_URL=catalog.url, LOOMEX_OPENAI_BASE_URL=url, **KEYS)
    p = run(tmp_path, env, "-m", "openai/gpt-4.1-mini", "-t", "ev__*", "show me", **v)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "a tiny logo.\n"
    msgs = convo(replay, name, 1)
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool", "user"]
    tool_text = msgs[2]["content"]
    assert isinstance(tool_text, str)
    assert "[image 1: image/png," in tool_text and "bytes, attached below]" in tool_text
    assert msgs[3]["content"] == "Echo: x"
    images = [p for p in msgs[4]["content"] if p["type"] == "image_url"]
    assert len(images) == 1
    url0 = images[0]["image_url"]["url"]
    assert url0.startswith("data:image/png;base64,iVBORw0KGgo")
    base64.b64decode(url0.split(",", 1)[1], validate=True)
    assert {"type": "text", "text": "[image 1, from ev__get-tiny-image]"} in msgs[4]["content"]
    # the saved conversation sends the same messages again (with its tools offered)
    p = run(tmp_path, env, "-c", "-t", "ev__*", "and now?", **v)
    assert p.returncode == 0, p.stderr
    again = convo(replay, name, 2)
    assert again[:5] == msgs and again[-1] == {"role": "user", "content": "and now?"}


@pytest.mark.parametrize("model", ["groq/llama-3.3-70b-versatile", "replay/test-model"])
def test_a_text_only_or_unknown_model_gets_the_description(replay, tmp_path, catalog, model):
    name, url = script(replay, "mcp-image-text")
    env = CliEnv(tmp_path, url, extra_config=toml_server("ev", everything_cmd()) + ALLOW)
    v = dict(LOOMEX_MODELS_URL=catalog.url, LOOMEX_GROQ_BASE_URL=url, **KEYS)
    p = run(tmp_path, env, "-m", model, "-t", "ev__*", "show me", **v)
    assert p.returncode == 0, p.stderr
    msgs = convo(replay, name, 1)
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool"]
    assert "[image: image/png," in msgs[2]["content"]
    assert "attached" not in msgs[2]["content"] and "image_url" not in str(msgs)
