"""Smoke test of the frozen one-file binary (built by scripts/build-binary).

Runs when ``LOOMEX_BINARY`` names the binary; ``.ci/run`` builds it and sets
``LOOMEX_REQUIRE_BINARY=1`` so that a missing binary fails instead of skipping."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from cli_support import SECRET, CliEnv
from replay_server import Reply

BINARY = os.environ.get("LOOMEX_BINARY")


@pytest.fixture(scope="module")
def binary() -> str:
    if not BINARY or not Path(BINARY).is_file():
        if os.environ.get("LOOMEX_REQUIRE_BINARY") == "1":
            pytest.fail(f"LOOMEX_BINARY={BINARY!r} is not a built binary", pytrace=False)
        pytest.skip("set LOOMEX_BINARY to a binary built by scripts/build-binary")
    size = Path(BINARY).stat().st_size
    print(f"\nbinary {BINARY}: {size / 1e6:.1f} MB")
    assert size <= 16_000_000, "over the 16 MB ceiling"
    return str(Path(BINARY).resolve())


def run(binary: str, env: CliEnv, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run([binary, *args], input=input, capture_output=True, text=True,
                       env=env.env(), timeout=60, stdin=None if input is not None else subprocess.DEVNULL)
    assert SECRET not in p.stdout + p.stderr and "Traceback" not in p.stderr, p.stderr
    return p


def test_version_help_oneshot_pipe_keys_tool(binary, replay, tmp_path):
    name, url = replay.new_script([
        Reply.text("Hello ", "from **the binary**.\n\n```python\nprint(1)\n```\n"),
        Reply.text("piped ok"),
        Reply.tool_calls([("c1", "read_file", {"path": "notes.txt"})]),
        Reply.text("The file says hi."),
    ], prefix="bin")
    env = CliEnv(tmp_path, url)
    assert run(binary, env, "--version").stdout.startswith("loomex ")
    assert "PROMPT | COMMAND" in run(binary, env, "--help").stdout
    # the help carried inside the binary (80+ columns) and Typer's at a narrow width are both
    # exactly what the installed loomex prints
    from cli_support import loomex_bin
    for columns in ("100", "60"):
        e = {**env.env(), "COLUMNS": columns}
        want = subprocess.run([loomex_bin(), "--help"], capture_output=True, text=True, env=e,
                              timeout=60).stdout
        got = subprocess.run([binary, "--help"], capture_output=True, text=True, env=e,
                             timeout=60).stdout
        assert got == want and "PROMPT | COMMAND" in got, columns

    p = run(binary, env, "What is 2+2?")
    assert p.returncode == 0 and "from **the binary**" in p.stdout

    p = run(binary, env, "summarise", input="piped text\n")
    assert p.returncode == 0 and p.stdout == "piped ok\n"
    assert "<stdin>\npiped text\n</stdin>" in replay.requests(name)[1].body["messages"][-1]["content"]

    p = run(binary, env, "keys", "set", "groq", input="gsk-binary-key-123456\n")
    assert p.returncode == 0
    keys = env.config / "keys.toml"
    assert oct(keys.stat().st_mode & 0o777) == "0o600"

    notes = Path.cwd() / "notes.txt"
    created = not notes.exists()
    if created:
        notes.write_text("hi\n")
    try:
        p = run(binary, env, "-t", "read_file", "what does notes.txt say?")
    finally:
        if created:
            notes.unlink()
    assert p.returncode == 0 and p.stdout.strip() == "The file says hi."
    tool_msg = [m for m in replay.requests(name)[3].body["messages"] if m["role"] == "tool"][0]
    assert "hi" in tool_msg["content"]


def test_repl_in_tmux(binary, replay, tmp_path):
    tmux = shutil.which("tmux")
    if not tmux:
        pytest.fail("tmux is required (scripts/test installs it)", pytrace=False)
    name, url = replay.new_script([Reply.text("Rendered **markdown** answer.")], prefix="binrepl")
    env = CliEnv(tmp_path, url)
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.env().items()
                    if k.startswith(("LOOMEX_", "REPLAY_")) or k in ("PATH", "HOME"))
    sock = ["-L", f"bin{os.getpid()}"]
    subprocess.run([tmux, *sock, "new-session", "-d", "-s", "b", "-x", "100", "-y", "30",
                    f"env {envs} TERM=xterm-256color {binary} chat; echo EXITED=$?; sleep 30"], check=True)
    try:
        from cli_support import Term
        t = Term.__new__(Term)
        t.tmux, t.name, t.sock = tmux, "b", sock
        t.wait_for("›", timeout=30)
        t.type("hello binary")
        t.keys("Enter")
        t.wait_for("Rendered markdown answer.")
        t.type("/exit")
        t.keys("Enter")
        t.wait_for("EXITED=0")
    finally:
        subprocess.run([tmux, *sock, "kill-server"], capture_output=True)


def test_serve_from_the_binary(binary, replay, tmp_path):
    import json
    import urllib.request
    from test_web_e2e import loomex_serve
    name, url = replay.new_script([Reply.text("Served ", "from the binary.")], prefix="binserve")
    with loomex_serve(tmp_path, url, exe=binary) as base:
        page = urllib.request.urlopen(base + "/", timeout=10).read().decode()
        assert "<html" in page.lower()
        body = {"id": "c1", "trigger": "submit-message", "messages": [
            {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]}
        req = urllib.request.Request(base + "/api/chat", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=20) as resp:
            assert resp.headers["x-vercel-ai-ui-message-stream"] == "v1"
            stream = resp.read().decode()
    deltas = [json.loads(line[6:]) for line in stream.splitlines()
              if line.startswith("data: {")]
    text = "".join(d.get("delta", "") for d in deltas if d["type"] == "text-delta")
    assert text == "Served from the binary." and stream.rstrip().endswith("data: [DONE]")


def test_tls_from_the_binary(binary, tmp_path):
    """The frozen binary speaks TLS and verifies it: a loopback https server with a
    self-signed certificate is refused, and trusted once SSL_CERT_FILE names it."""
    import ssl

    from replay_server import ReplayServer
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.fail("openssl is needed to make a test certificate", pytrace=False)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    srv = ReplayServer(ssl=ctx).start()
    try:
        url = srv.script("tls", [Reply.text("over TLS")])
        assert url.startswith("https://")
        env = CliEnv(tmp_path / "home", url)
        refused = run(binary, env, "hi")
        assert refused.returncode == 5 and "certificate" in refused.stderr.lower()
        env2 = CliEnv(tmp_path / "home2", url)
        p = subprocess.run([binary, "hi"], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL, env={**env2.env(), "SSL_CERT_FILE": str(cert)})
        assert p.returncode == 0 and p.stdout == "over TLS\n", p.stderr
    finally:
        srv.stop()
