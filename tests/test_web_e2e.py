"""``loomex serve`` end to end, as a subprocess backed by the replay server:

- the contract test: the real AI SDK client (npm ``ai``, pinned in tests/web_contract) talks
  to it as ``useChat`` does (needs node + npm; ``npm ci`` runs when node_modules is missing);
- the page in headless Chromium (Debian's ``chromium``, driven over the DevTools protocol on
  a pipe): a question is typed and Enter pressed; the answer must show up piece by piece,
  then the DOM must hold it and the tool call; a second question must send that history
  back; then ``/?q=...`` (asks on load) is screenshotted into tmp
  (``LOOMEX_UPDATE_SCREENSHOT=1`` also copies it to docs/serve.png).

A missing node/npm/chromium skips, or FAILS under ``LOOMEX_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest

from cli_support import loomex_bin
from conftest import REQUIRE_ALL
from replay_server import Reply

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = Path(__file__).resolve().parent / "web_contract"
FILE_TEXT = "hello from loomex"


def need(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    msg = f"{tool} is not installed ({why})"
    if REQUIRE_ALL:
        pytest.fail(msg + "; LOOMEX_REQUIRE_ALL=1 forbids skipping", pytrace=False)
    pytest.skip(msg)


@contextlib.contextmanager
def loomex_serve(tmp: Path, url: str, tools: str = "read_file",
                 extra_config: str = "", exe: str | None = None, model: str = "replay/x",
                 args: tuple[str, ...] = (), env_extra: dict[str, str] | None = None,
                 stderr: list[str] | None = None) -> Iterator[str]:
    """``loomex serve -m MODEL -t TOOLS --port 0 ARGS`` in ``tmp/work`` (which holds
    hello.txt) with a config whose ``replay`` provider is ``url``; yields its base URL.
    ``stderr``: a list that gets what it wrote there, once it has stopped."""
    cfg, work = tmp / "config", tmp / "work"
    cfg.mkdir(parents=True)
    work.mkdir(parents=True)
    (work / "hello.txt").write_text(FILE_TEXT + "\n")
    (cfg / "config.toml").write_text(
        f'[providers.replay]\nbase_url = "{url}"\n\n[retry]\nmax_attempts = 1\n\n'
        + extra_config)
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and k != "LOOMEX_MODEL"}
    env.update(LOOMEX_CONFIG_DIR=str(cfg), LOOMEX_DATA_DIR=str(tmp / "data"),
               LOOMEX_CACHE_DIR=str(tmp / "cache"), NO_COLOR="1", **(env_extra or {}))
    proc = subprocess.Popen([exe or loomex_bin(), "serve", "-m", model, "-t", tools,
                             "--port", "0", *args], cwd=work, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[str] = []
    got = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            got.set()
    threading.Thread(target=read, daemon=True).start()
    try:
        if not got.wait(20):
            proc.kill()
            pytest.fail(f"loomex serve did not start: {proc.stderr.read()}")  # type: ignore[union-attr]
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", lines[0])
        assert m, lines
        yield f"http://127.0.0.1:{m.group(1)}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C does: a graceful stop
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail("loomex serve did not stop on SIGINT")
        err = proc.stderr.read()  # type: ignore[union-attr]
        if stderr is not None:
            stderr.append(err)
        assert "Traceback" not in err, err
        assert proc.returncode == 0, (proc.returncode, err)


def ask_file_script() -> list[Reply]:
    """One question: read hello.txt, then answer with what it says."""
    return [Reply.tool_calls([("call_rf1", "read_file", {"path": "hello.txt"})],
                             text="Let me open it."),
            Reply.text("The file says: ", f"“{FILE_TEXT}”. ", "It is one line long.")]


# -- serve mode's approval policy -----------------------------------------------------------

def test_serve_denies_tools_that_need_approval_unless_a_rule_allows_them(replay, tmp_path):
    from test_web_app import Response, chat
    from test_web_protocol import user
    _, url = replay.new_script([
        Reply.tool_calls([("c1", "write_file", {"path": "outside.txt", "content": "x"}),
                          ("c2", "write_file", {"path": "notes/ok.txt", "content": "ok"})]),
        Reply.text("Wrote one of them."),
    ], prefix="web-serve-policy")
    rules = '[tools.write_file]\nallow = ["notes/**"]\n'
    with loomex_serve(tmp_path, url, tools="write_file", extra_config=rules) as base:
        r: Response = chat(base, user("write two files"))
    chunks = r.chunks()
    outcome = {c["toolCallId"]: c["type"] for c in chunks if c["type"].startswith("tool-output")}
    assert outcome == {"c1": "tool-output-error", "c2": "tool-output-available"}
    denied = next(c for c in chunks if c.get("toolCallId") == "c1" and "errorText" in c)
    assert "denied" in denied["errorText"]
    # the reason says what would allow it; serve has no --yes to suggest
    assert '[tools.write_file] allow = ["outside.txt"]' in denied["errorText"]
    assert "--yes" not in denied["errorText"] and "terminal" not in denied["errorText"]
    assert not (tmp_path / "work" / "outside.txt").exists()
    assert (tmp_path / "work" / "notes" / "ok.txt").read_text() == "ok"


def test_serve_reports_config_problems_without_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(LOOMEX_CONFIG_DIR=str(tmp_path / "c"), LOOMEX_DATA_DIR=str(tmp_path / "d"),
               LOOMEX_CACHE_DIR=str(tmp_path / "k"))
    p = subprocess.run([loomex_bin(), "serve", "-m", "nosuchprovider/x", "--port", "0"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 3, p
    assert "nosuchprovider" in p.stderr and "Traceback" not in p.stderr
    with socket.socket() as s:  # a port in use
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        (tmp_path / "c").mkdir()
        (tmp_path / "c" / "config.toml").write_text(
            '[providers.replay]\nbase_url = "http://127.0.0.1:9"\n')
        p = subprocess.run([loomex_bin(), "serve", "-m", "replay/x", "--port", str(port)],
                           capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 2 and "cannot listen" in p.stderr, p
    assert "Traceback" not in p.stderr


# -- the AI SDK client -----------------------------------------------------------------------

def test_contract_with_the_ai_sdk_client(replay, tmp_path):
    node = need("node", "the AI SDK contract test runs on Node")
    if not (CONTRACT / "node_modules" / "ai" / "package.json").is_file():
        npm = need("npm", "installs the pinned AI SDK client")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CONTRACT, check=True,
                       timeout=600, capture_output=True)
    version = json.loads((CONTRACT / "node_modules" / "ai" / "package.json").read_text())
    assert version["version"].startswith("7."), version["version"]

    name, url = replay.new_script([
        *ask_file_script(),
        Reply.text("You are welcome."),
        Reply.json({"error": {"message": "upstream exploded"}}, status=500),
    ], prefix="web-contract")
    with loomex_serve(tmp_path, url) as base:
        p = subprocess.run([node, str(CONTRACT / "contract.mjs"), base], capture_output=True,
                           text=True, timeout=60)
    assert p.returncode == 0, f"stdout: {p.stdout}\nstderr: {p.stderr}"
    summary = json.loads(p.stdout)
    assert summary["ok"] is True
    assert summary["turn3Error"] == "replay: HTTP 500: upstream exploded"

    # the second turn's request to the provider carried the tool history, ids kept
    sent = replay.requests(name)[2].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "assistant",
                                        "user"]
    assert sent[2]["content"] == "Let me open it."
    assert sent[2]["tool_calls"] == [{"id": "call_rf1", "type": "function", "function": {
        "name": "read_file", "arguments": '{"path": "hello.txt"}'}}]
    assert sent[3]["tool_call_id"] == "call_rf1" and FILE_TEXT in sent[3]["content"]
    assert sent[4]["content"].startswith("The file says")
    assert sent[5]["content"] == "Thanks!"


# -- the page in a browser ----------------------------------------------------------------

class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe
    (``--remote-debugging-pipe``: NUL-separated JSON on fds 3 and 4; no websocket, no
    Playwright). One page target, attached with a flat session."""

    def __init__(self, profile: Path) -> None:
        import fcntl
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        assert exe
        to_r, to_w = os.pipe()      # we write, chromium reads on fd 3
        from_r, from_w = os.pipe()  # chromium writes on fd 4, we read
        # high numbers, so that moving them to 3 and 4 cannot clobber one with the other
        c_in = fcntl.fcntl(to_r, fcntl.F_DUPFD_CLOEXEC, 10)
        c_out = fcntl.fcntl(from_w, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (to_r, from_w):
            os.close(fd)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--hide-scrollbars", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", "about:blank"]
        # a Python trampoline puts the pipes on fds 3 and 4 (dash only knows fds 0-9)
        trampoline = (f"import os, sys; os.dup2({c_in}, 3); os.dup2({c_out}, 4); "
                      f"os.close({c_in}); os.close({c_out}); os.execv(sys.argv[1], sys.argv[1:])")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", trampoline, exe, *args],
            pass_fds=(c_in, c_out), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(c_in)
        os.close(c_out)
        self._w = os.fdopen(to_w, "wb", buffering=0)
        self._r = os.fdopen(from_r, "rb", buffering=0)
        self._next = 0
        self._replies: dict[int, Any] = {}
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]

    def _read(self) -> None:
        buf = b""
        while True:
            piece = self._r.read(65536)
            if not piece:
                break
            buf += piece
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cv:
                        self._replies[msg["id"]] = msg
                        self._cv.notify_all()

    def call(self, method: str, session: str | None = None, **params: Any) -> Any:
        self._next += 1
        mid = self._next
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self._w.write(json.dumps(msg).encode() + b"\0")
        with self._cv:
            if not self._cv.wait_for(lambda: mid in self._replies, 20):
                raise AssertionError(f"chromium did not answer {method}")
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def page(self, method: str, **params: Any) -> Any:
        return self.call(method, self.session, **params)

    def js(self, expression: str) -> Any:
        r = self.page("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def goto(self, url: str) -> None:
        self.page("Page.navigate", url=url)
        self.wait(f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
                  " && !!document.getElementById('input')")

    def type_line(self, text: str) -> None:
        """Types ``text`` into the message box and presses Enter."""
        self.js("document.getElementById('input').focus()")
        self.page("Input.insertText", text=text)
        for kind in ("keyDown", "keyUp"):
            self.page("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                      windowsVirtualKeyCode=13, nativeVirtualKeyCode=13)

    def wait(self, expression: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not self.js(expression):
            assert time.monotonic() < deadline, f"timed out waiting for: {expression}"
            time.sleep(0.03)

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for f in (self._w, self._r):
            with contextlib.suppress(OSError):
                f.close()


ANSWER = f"The file says: “{FILE_TEXT}”. It is one line long."
LAST_TEXT = ("(() => { const t = document.querySelectorAll('.msg.assistant .text');"
             " return t.length ? t[t.length - 1].textContent : ''; })()")


def test_the_page_streams_an_answer_in_headless_chromium(replay, tmp_path):
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        need("chromium", "apt-get install -y chromium")
    question = "What does hello.txt say?"

    def script() -> list[Reply]:  # the answer streams in pieces 0.15 s apart
        return [Reply.tool_calls([("call_rf1", "read_file", {"path": "hello.txt"})],
                                 text="Let me open it."),
                Reply.text("The file says: ", f"“{FILE_TEXT}”. ", "It is one line long.",
                           delay=0.15)]
    name, url = replay.new_script([*script(), Reply.text("You are welcome."), *script()],
                                  prefix="web-page")
    shot = tmp_path / "serve.png"
    with loomex_serve(tmp_path, url) as base:
        browser = Chromium(tmp_path / "profile")
        try:
            browser.page("Emulation.setDeviceMetricsOverride", width=1000, height=700,
                         deviceScaleFactor=1, mobile=False)
            browser.goto(base + "/")
            # a person types the question and presses Enter
            browser.type_line(question)
            # the answer appears piece by piece, then the page is ready again
            seen: list[str] = []
            deadline = time.monotonic() + 20
            while True:
                status, shown = browser.js(
                    f"[document.body.dataset.status, {LAST_TEXT}]")
                if shown and (not seen or seen[-1] != shown):
                    seen.append(shown)
                if status == "ready" and shown == ANSWER:
                    break
                assert status != "error" and time.monotonic() < deadline, (status, seen)
                time.sleep(0.03)
            dom = browser.js("document.documentElement.outerHTML")
            # a second question: the page sends the history back, tool call included
            browser.type_line("Thanks!")
            browser.wait(f"document.body.dataset.status === 'ready' && {LAST_TEXT} === "
                         "'You are welcome.'")
            # the ?q= parameter asks on load; that page is the screenshot
            browser.goto(f"{base}/?q={quote(question)}")
            browser.wait(f"document.body.dataset.status === 'ready' && {LAST_TEXT} === "
                         f"{json.dumps(ANSWER)}")
            import base64
            png = browser.page("Page.captureScreenshot", format="png")["data"]
            shot.write_bytes(base64.b64decode(png))
        finally:
            browser.close()

    assert any(s != ANSWER and ANSWER.startswith(s) for s in seen), \
        f"no partial answer was ever shown: {seen}"
    assert seen[-1] == ANSWER
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    assert question in text and "Let me open it." in text
    assert 'data-tool="read_file"' in dom and 'data-state="output-available"' in dom
    tool_html = dom.split('data-tool="read_file"', 1)[1]
    assert FILE_TEXT in tool_html.split("</details>", 1)[0]  # the tool's output
    assert "hello.txt" in tool_html.split('class="tool-input"', 1)[1][:200]
    assert 'class="error"' not in dom
    requests = replay.requests(name)
    assert len(requests) == 5  # 2 + 1 model calls on the first page, 2 on the second
    history = requests[2].body["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "tool", "assistant",
                                           "user"]
    assert history[2]["tool_calls"][0]["id"] == "call_rf1"
    assert history[3]["tool_call_id"] == "call_rf1" and FILE_TEXT in history[3]["content"]
    assert history[4]["content"] == ANSWER and history[5]["content"] == "Thanks!"

    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
    if os.environ.get("LOOMEX_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "serve.png")
