"""``loomex serve`` carries what issues 14 and 15 gave the CLI, end to end against a real
``loomex serve`` on 127.0.0.1 and the recording replay server: attachments from the browser
(images for the models that take them, refused before any request for text-only ones; text
files as ``<file>`` blocks), the body-size limit (413), MCP tool progress as a transient
``data-tool-progress`` part (checked with the real AI SDK client), tool images (the stream
holds; a later turn does not carry the images message), and ``--effort`` / ``--role``."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
from typing import Any

import pytest

from mcp_support import everything_cmd, py_cmd, toml_server
from replay_server import Reply
from test_registry import CatalogServer
from test_web_app import chat, request
from test_web_e2e import CONTRACT, loomex_serve, need
from test_web_protocol import PNG, user

KEYS = dict(OPENAI_API_KEY="sk-openai-test-1234567890", GROQ_API_KEY="gsk-test-1234567890")
VISION = "openai/gpt-4.1-mini"           # the models.dev snapshot: text and image input
TEXT_ONLY = "groq/llama-3.3-70b-versatile"  # text input only


@pytest.fixture
def catalog(fixtures_dir):
    srv = CatalogServer((fixtures_dir.parent / "models-dev" / "api.json").read_bytes())
    yield srv
    srv.stop()


def env_for(catalog: CatalogServer, url: str) -> dict[str, str]:
    return dict(LOOMEX_MODELS_URL=catalog.url, LOOMEX_OPENAI_BASE_URL=url,
                LOOMEX_GROQ_BASE_URL=url, **KEYS)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def with_files(text: str, *files: dict[str, Any]) -> dict[str, Any]:
    return {"id": "u1", "role": "user", "parts": [{"type": "text", "text": text}, *files]}


PNG_PART = {"type": "file", "mediaType": "image/png", "filename": "dot.png",
            "url": f"data:image/png;base64,{PNG}"}
NOTES_PART = {"type": "file", "mediaType": "text/plain", "filename": "notes.txt",
              "url": "data:text/plain;base64," + b64(b"line one\nline two")}


# -- attachments -------------------------------------------------------------------------------

def test_a_vision_model_gets_the_image_and_the_text_file(replay, tmp_path, catalog):
    name, url = replay.new_script([Reply.text("A dot and two lines.")], prefix="web-attach")
    err: list[str] = []
    with loomex_serve(tmp_path, url, tools="read_file", model=VISION, args=("--effort", "high"),
                      env_extra=env_for(catalog, url), stderr=err) as base:
        r = chat(base, with_files("what are these?", PNG_PART, NOTES_PART))
    assert r.status == 200, r.body
    # gpt-4.1-mini does not reason (the catalogue says): the effort is left out, with a note
    assert "reasoning_effort" not in replay.requests(name)[0].body
    assert "effort" in err[0] and "gpt-4.1-mini" in err[0], err
    assert "A dot and two lines." in json.dumps(r.chunks())
    sent = replay.requests(name)[0].body["messages"][-1]
    assert sent["role"] == "user"
    assert sent["content"] == [
        {"type": "text", "text": 'what are these?\n\n<file path="notes.txt">\nline one\n'
                                 'line two\n</file>'},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]


def test_a_text_only_model_refuses_images_before_any_request(replay, tmp_path, catalog):
    name, url = replay.new_script([Reply.text("Two lines.")], prefix="web-attach-text")
    with loomex_serve(tmp_path, url, tools="read_file", model=TEXT_ONLY,
                      env_extra=env_for(catalog, url)) as base:
        refused = chat(base, with_files("and this?", PNG_PART))
        odd = chat(base, with_files("a pdf", {"type": "file", "mediaType": "application/pdf",
                                              "url": "data:application/pdf;base64,JVBERi0="}))
        assert replay.requests(name) == []  # nothing reached the provider
        ok = chat(base, with_files("read this", NOTES_PART))  # text files are fine
    assert refused.status == 400 and refused.headers["content-type"] == "application/json"
    assert refused.json() == {"error": f"{TEXT_ONLY} does not take images (the models.dev "
                                       "catalogue lists its input as text only); nothing was "
                                       "sent"}
    assert odd.status == 400 and "application/pdf files are not taken" in odd.json()["error"]
    assert ok.status == 200
    assert len(replay.requests(name)) == 1
    assert '<file path="notes.txt">' in replay.requests(name)[0].body["messages"][-1]["content"]


def test_a_body_over_the_limit_is_a_413_without_reading_it_all(replay, tmp_path):
    from loomex_cli.web.app import MAX_BODY_BYTES
    name, url = replay.new_script([Reply.text("never")], prefix="web-413")
    head = json.dumps({"messages": [with_files("x", {"type": "file", "mediaType": "image/png",
                                                      "url": "data:image/png;base64,"})]})
    cut = head.index("base64,") + len("base64,")
    size = MAX_BODY_BYTES + 1024 * 1024
    with loomex_serve(tmp_path, url) as base:
        host, port = base.rsplit("//", 1)[1].split(":")
        with socket.create_connection((host, int(port)), timeout=20) as s:
            s.sendall(f"POST /api/chat HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
                      .encode() + head[:cut].encode())
            sent, piece = cut, b"A" * 65536
            try:
                while sent < size - 100:
                    s.sendall(piece)
                    sent += len(piece)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered and stopped reading: what the test wants
            reply = b""
            try:
                while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                    got = s.recv(65536)
                    if not got:
                        break
                    reply += got
            except ConnectionResetError:
                pass
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert b"the request body is over" in reply
        assert chat(base, user("still up?")).status == 200  # the server is fine
    assert len(replay.requests(name)) == 1


# -- --effort and --role -----------------------------------------------------------------------

def test_serve_effort_and_role_reach_the_request(replay, tmp_path):
    name, url = replay.new_script([Reply.text("ok")], prefix="web-effort")
    role = '\n[roles.terse]\nsystem = "One word."\n'
    with loomex_serve(tmp_path, url, extra_config=role,
                      args=("--effort", "high", "--role", "terse")) as base:
        assert chat(base, user("hi")).status == 200
    body = replay.requests(name)[0].body
    assert body["reasoning_effort"] == "high"
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][0]["content"].startswith("One word.")


def test_serve_refuses_an_unknown_effort(tmp_path):
    from cli_support import loomex_bin
    (tmp_path / "config.toml").write_text('[providers.replay]\nbase_url = "http://127.0.0.1:9"\n')
    p = subprocess.run([loomex_bin(), "serve", "-m", "replay/x", "--effort", "extreme",
                        "--port", "0"],
                       capture_output=True, text=True, timeout=30,
                       env={"LOOMEX_CONFIG_DIR": str(tmp_path), "PATH": "/usr/bin:/bin",
                            "LOOMEX_DATA_DIR": str(tmp_path / "d"),
                            "LOOMEX_CACHE_DIR": str(tmp_path / "k"), "HOME": str(tmp_path)})
    assert p.returncode == 2 and "--effort 'extreme'" in p.stderr, p
    assert "Traceback" not in p.stderr


# -- tool images -------------------------------------------------------------------------------

def test_tool_images_keep_the_stream_whole_and_a_later_turn_does_not_carry_them(
        replay, tmp_path, catalog):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "ev__get-tiny-image", {})]),
        Reply.text("a tiny logo."),
        Reply.text("still a logo."),
    ], prefix="web-tool-image")
    cfg = toml_server("ev", everything_cmd()) + '\n[tools."ev__*"]\nallow = ["*"]\n'
    with loomex_serve(tmp_path, url, tools="ev__*", model=VISION, extra_config=cfg,
                      env_extra=env_for(catalog, url)) as base:
        first = chat(base, user("show me", "u1"))
        chunks = first.chunks()  # checks the stream's rules
        out = next(c for c in chunks if c["type"] == "tool-output-available")
        assert "[image 1: image/png," in str(out["output"])
        assert "a tiny logo." in json.dumps(chunks)
        # the run's own next model call saw the image
        seen = replay.requests(name)[1].body["messages"]
        assert [m["role"] for m in seen[1:]] == ["user", "assistant", "tool", "user"]
        assert any(p["type"] == "image_url" for p in seen[-1]["content"])
        # the browser sends back what it holds: the UI message the stream built
        answer = {"id": "a1", "role": "assistant", "parts": [
            {"type": "step-start"},
            {"type": "tool-ev__get-tiny-image", "toolCallId": "c1",
             "state": "output-available", "input": {}, "output": out["output"]},
            {"type": "step-start"}, {"type": "text", "text": "a tiny logo."}]}
        second = chat(base, user("show me", "u1"), answer, user("and now?", "u2"))
        assert second.status == 200
    later = replay.requests(name)[2].body["messages"]
    assert [m["role"] for m in later[1:]] == ["user", "assistant", "tool", "assistant", "user"]
    assert "image_url" not in json.dumps(later)  # documented: the images message is not kept


# -- tool progress with the real AI SDK client --------------------------------------------------

def contract_node() -> str:
    node = need("node", "the AI SDK contract test runs on Node")
    if not (CONTRACT / "node_modules" / "ai" / "package.json").is_file():
        npm = need("npm", "installs the pinned AI SDK client")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CONTRACT, check=True,
                       timeout=600, capture_output=True)
    return node


def test_progress_and_files_with_the_ai_sdk_client(replay, tmp_path):
    node = contract_node()
    name, url = replay.new_script([
        Reply.tool_calls([("call_slow", "py__slow", {"seconds": 0.5, "note": " <b>x</b>"})]),
        Reply.text("finished."),
    ], prefix="web-progress")
    cfg = toml_server("py", py_cmd()) + '\n[tools.py__slow]\nallow = ["*"]\n'
    with loomex_serve(tmp_path, url, tools="py__slow", extra_config=cfg) as base:
        p = subprocess.run([node, str(CONTRACT / "parity.mjs"), base], capture_output=True,
                           text=True, timeout=90)
    assert p.returncode == 0, f"stdout: {p.stdout}\nstderr: {p.stderr}"
    summary = json.loads(p.stdout)
    assert summary["progress"] >= 2
    assert summary["first"] == {"toolCallId": "call_slow", "toolName": "py__slow",
                                "progress": 0, "total": 5, "message": "step 0 <b>x</b>"}
    sent = replay.requests(name)[0].body["messages"][-1]["content"]
    assert sent == 'go\n\n<file path="notes.txt">\nhello\n</file>'


# -- the page in headless Chromium ------------------------------------------------------------

def test_the_page_attaches_a_file_and_shows_progress(replay, tmp_path):
    import shutil
    import time
    from test_web_e2e import Chromium
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        need("chromium", "apt-get install -y chromium")
    name, url = replay.new_script([
        Reply.tool_calls([("call_slow", "py__slow", {"seconds": 1.5, "note": " <i>x</i>"})]),
        Reply.text("finished."),
        Reply.text("fine."),
    ], prefix="web-page-parity")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello from a file\n")
    cfg = toml_server("py", py_cmd()) + '\n[tools.py__slow]\nallow = ["*"]\n'
    with loomex_serve(tmp_path, url, tools="py__slow", extra_config=cfg) as base:
        browser = Chromium(tmp_path / "profile")
        try:
            browser.goto(base + "/")
            browser.page("DOM.enable")
            root = browser.page("DOM.getDocument")["root"]["nodeId"]
            node = browser.page("DOM.querySelector", nodeId=root, selector="#files")["nodeId"]
            browser.page("DOM.setFileInputFiles", files=[str(notes)], nodeId=node)
            browser.wait("document.getElementById('chosen').textContent === 'notes.txt'")
            browser.type_line("summarize")
            # the running tool shows its progress, as text (the tool's markup is not HTML)
            browser.wait("!!document.querySelector('.tool .progress')")
            shown = browser.js("document.querySelector('.tool .progress').textContent")
            assert "%" in shown and "step" in shown and "<i>x</i>" in shown
            assert browser.js("document.querySelectorAll('.tool i').length") == 0
            browser.wait("document.body.dataset.status === 'ready'", timeout=20)
            dom = browser.js("document.documentElement.outerHTML")
            assert "finished." in dom and "notes.txt" in dom
            assert browser.js("document.querySelectorAll('.tool .progress').length") == 0
            # a file the server refuses: the error shows, and it does not stay in the history
            bad = tmp_path / "blob.bin"
            bad.write_bytes(b"\0\1\2")
            browser.page("DOM.setFileInputFiles", files=[str(bad)], nodeId=node)
            browser.type_line("and this")
            browser.wait("document.body.dataset.status === 'error'")
            assert "application/octet-stream files are not taken" in browser.js(
                "document.querySelector('.msg.assistant:last-child .error').textContent")
            browser.type_line("fine then")
            browser.wait("document.body.dataset.status === 'ready'")
        finally:
            browser.close()
    requests = replay.requests(name)
    assert len(requests) == 3
    later = requests[2].body["messages"]
    assert later[-1]["content"] == "fine then" and "and this" not in json.dumps(later)
    assert requests[0].body["messages"][-1]["content"] == \
        'summarize\n\n<file path="notes.txt">\nhello from a file\n</file>'
