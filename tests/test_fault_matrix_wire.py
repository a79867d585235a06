"""The wire rows of the fault matrix (issue 12 parts 3-7, issue 11 part 4), each through the
real ``loomex`` CLI (or the real ``loomex serve``) against a real server on 127.0.0.1:
timeouts that say what happened, config that is checked, a 401 that names the key's source,
ten parallel ``keys set``, non-object and over-long SSE lines, deeply nested JSON in serve.

Every CLI row asserts the exit code, one stderr line per fault without a traceback, and that
the key (``SECRET``) shows up in no output (``CliEnv.run`` checks the last two).
"""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import pytest

from cli_support import SECRET, CliEnv, Done, loomex_bin
from replay_server import Reply, stream_text


# -- a raw loopback server whose behaviour after the request head is a function ---------------

class RawServer:
    """Accepts connections on 127.0.0.1, reads each request (head and body), then hands the
    socket to ``behave(conn, request_bytes)``. Counts connections and keeps the requests."""

    def __init__(self, behave: Callable[[socket.socket, bytes], None]) -> None:
        self.behave = behave
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + body)
            self.behave(conn, body)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")


@pytest.fixture
def raw_server():
    servers: list[RawServer] = []

    def make(behave: Callable[[socket.socket, bytes], None]) -> RawServer:
        servers.append(RawServer(behave))
        return servers[-1]
    yield make
    for s in servers:
        s.close()


def config_env(tmp_path: Path, url: str, top: str = "", provider: str = "") -> CliEnv:
    """A CliEnv whose config.toml has ``top`` before any table and ``provider`` inside
    ``[providers.replay]`` (CliEnv appends its extra text after the last table)."""
    env = CliEnv(tmp_path)
    (env.config / "config.toml").write_text(
        f'default_model = "replay/test-model"\n{top}\n'
        f'[retry]\nbase_delay = 0.01\nmax_retry_after = 0.2\n\n'
        f'[providers.replay]\nbase_url = "{url}"\napi_key_env = "REPLAY_API_KEY"\n{provider}\n')
    return env


def one_line(p: Done) -> str:
    """The single loomex diagnostic line on stderr (no traceback: CliEnv.run checks)."""
    lines = [ln for ln in p.err.splitlines() if ln.strip()]
    assert len(lines) == 1, p.err
    return lines[0]


# -- part 4: timeouts that say what happened --------------------------------------------------

def test_keepalive_comments_do_not_keep_a_stream_alive(tmp_path, raw_server):
    def keepalive(conn: socket.socket, _: bytes) -> None:
        conn.sendall(SSE_HEAD)
        while True:  # only comments, forever (until loomex hangs up)
            conn.sendall(b": keep-alive\n\n")
            time.sleep(0.05)
    srv = raw_server(keepalive)
    env = config_env(tmp_path, srv.url, provider="idle_timeout = 1")
    p = env.run("hi", timeout=30)
    assert p.code == 5
    line = one_line(p)
    assert f"no data from 127.0.0.1:{srv.port} for 1 s while reading the answer" in line, line
    assert len(srv.requests) == 1  # an idle stream is not retried


def test_a_stream_that_goes_quiet_after_output_keeps_the_partial_answer(tmp_path, raw_server):
    first = "\n\n".join(stream_text(["partial", " answer"]).split("\n\n")[:3]) + "\n\n"

    def quiet(conn: socket.socket, _: bytes) -> None:
        conn.sendall(SSE_HEAD + first.encode())
        for _ in range(400):
            conn.sendall(b": still thinking\n\n")
            time.sleep(0.05)
    srv = raw_server(quiet)
    p = config_env(tmp_path, srv.url, provider="idle_timeout = 1").run("hi", timeout=30)
    assert p.code == 5
    assert p.out.startswith("partial answer")
    assert "for 1 s while reading the answer" in one_line(p)
    assert len(srv.requests) == 1


def test_a_silent_server_is_bounded_by_the_idle_timeout_and_not_retried(tmp_path, raw_server):
    def silent(conn: socket.socket, _: bytes) -> None:
        time.sleep(60)
    srv = raw_server(silent)
    env = config_env(tmp_path, srv.url, top="idle_timeout = 1")  # the global setting
    p = env.run("hi", timeout=30)
    assert p.code == 5
    line = one_line(p)
    assert f"no data from 127.0.0.1:{srv.port} for 1 s while waiting for the answer" in line
    assert "connecting" not in line
    assert len(srv.requests) == 1


def test_a_connect_timeout_says_connecting(tmp_path):
    # a listener whose accept queue is full drops new SYNs: the connect itself times out
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(0)
    port = sock.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.2)
    try:
        env = config_env(tmp_path, f"http://127.0.0.1:{port}/v1",
                         provider="connect_timeout = 0.5\nidle_timeout = 30")
        p = env.run("hi", timeout=30)
    finally:
        for s in fillers:
            s.close()
        sock.close()
    assert p.code == 5
    assert f"timed out connecting to 127.0.0.1:{port} (after 0.5 s)" in one_line(p)


# -- part 5: config is checked ----------------------------------------------------------------

WRONG_TYPES = [
    # (where, line, dotted key, expected type)
    ("top", 'max_steps = "ten"', "max_steps", "an integer"),
    ("bare", 'providers = "x"', "providers", "a table"),
    ("provider", 'headers = "x"', "providers.replay.headers", "a table of strings"),
    ("provider", "extra_body = [1]", "providers.replay.extra_body", "a table"),
    ("top", "tools_default = 5", "tools_default", "a string or a list of strings"),
    ("top", 'temperature = "hot"', "temperature", "a number"),
    ("provider", 'idle_timeout = "long"', "providers.replay.idle_timeout", "a number"),
]


@pytest.mark.parametrize("where,text,key,expected", WRONG_TYPES, ids=[w[1] for w in WRONG_TYPES])
def test_a_wrong_type_in_config_is_exit_3_naming_file_key_and_type(tmp_path, replay, where,
                                                                    text, key, expected):
    name, url = replay.new_script([Reply.text("must not be asked")], prefix="cfg-type")
    env = config_env(tmp_path, url, **({where: text} if where != "bare" else {}))
    if where == "bare":  # a config with no [providers.*] table beside the wrong value
        (env.config / "config.toml").write_text(f'default_model = "replay/m"\n{text}\n')
    p = env.run("hi")
    assert p.code == 3, p
    line = one_line(p)
    assert str(env.config / "config.toml") in line
    assert f" {key} must be {expected}" in line, line
    assert "internal error" not in line
    assert replay.requests(name) == []  # nothing of the wrong type reached the provider


def test_config_check_names_the_line(tmp_path, replay):
    _, url = replay.new_script([Reply.text("x")], prefix="cfg-line")
    env = config_env(tmp_path, url, top="save = true\nmax_steps = \"ten\"")
    line = one_line(env.run("hi"))
    assert f"{env.config / 'config.toml'}:3: max_steps must be an integer" in line, line


@pytest.mark.parametrize("typo,known", [("temprature = 0.5", "temperature"),
                                        ("max_step = 3", "max_steps")])
def test_an_unknown_key_is_a_warning_with_line_and_nearest_key(tmp_path, replay, typo, known):
    name, url = replay.new_script([Reply.text("fine")], prefix="cfg-typo")
    env = config_env(tmp_path, url, top=typo)
    p = env.run("hi")
    assert p.code == 0 and p.out.strip() == "fine"
    line = one_line(p)
    key = typo.split(" ")[0]
    assert line.startswith(f"loomex: {env.config / 'config.toml'}:2: unknown key {key}"), line
    assert f"did you mean {known!r}" in line
    [req] = replay.requests(name)
    assert req.body.get("temperature") != 0.5  # the misspelt setting was not applied


def test_a_misspelt_default_model_is_named_before_the_no_model_error(tmp_path, replay):
    _, url = replay.new_script([Reply.text("x")], prefix="cfg-modle")
    env = config_env(tmp_path, url)
    cfg = env.config / "config.toml"
    cfg.write_text(cfg.read_text().replace("default_model", "default_modle"))
    p = env.run("hi", LOOMEX_LOCAL_PROBE="0")
    assert p.code == 3
    warn, err = [ln for ln in p.err.splitlines() if ln.strip()]
    assert f"{cfg}:1: unknown key default_modle" in warn and "'default_model'" in warn
    assert "no model" in err


def test_unknown_key_in_a_provider_table_names_it(tmp_path, replay):
    _, url = replay.new_script([Reply.text("ok")], prefix="cfg-prov-typo")
    env = config_env(tmp_path, url, provider='base_ur = "http://elsewhere.invalid/v1"')
    p = env.run("hi")
    assert p.code == 0
    line = one_line(p)
    assert ":10: unknown key providers.replay.base_ur" in line and "'base_url'" in line, line


@pytest.mark.parametrize("bad", ["ftp://127.0.0.1:9/v1", "file:///etc/passwd",
                                 "127.0.0.1:9/v1", "http://127.0.0.1:99999/v1"])
def test_a_bad_base_url_is_exit_3_at_once(tmp_path, bad):
    env = config_env(tmp_path, bad)
    p = env.run("hi", timeout=20)
    assert p.code == 3, p
    line = one_line(p)
    assert "config.toml [providers.replay] base_url" in line and "internal error" not in line
    assert "retry" not in p.err.lower()


def test_a_bad_base_url_from_the_environment_names_the_variable(tmp_path, replay):
    _, url = replay.new_script([Reply.text("x")], prefix="cfg-envurl")
    env = config_env(tmp_path, url)
    p = env.run("hi", LOOMEX_REPLAY_BASE_URL="ftp://x/v1")
    assert p.code == 3 and "$LOOMEX_REPLAY_BASE_URL" in one_line(p)


def test_a_keys_file_others_can_read_is_warned_about(tmp_path, replay):
    _, url = replay.new_script([Reply.text("ok")], prefix="keys-mode")
    env = config_env(tmp_path, url)
    keys = env.config / "keys.toml"
    keys.write_text(f'replay = "{SECRET}"\n')
    keys.chmod(0o644)
    p = env.run("hi")
    assert p.code == 0
    line = one_line(p)
    assert f"chmod 600 {keys}" in line and "0644" in line


# -- part 3: keys.toml under a lock -----------------------------------------------------------

def test_ten_parallel_keys_set_keep_all_ten_keys(tmp_path):
    env = CliEnv(tmp_path)
    procs = [subprocess.Popen([loomex_bin(), "keys", "set", f"prov{i}"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env.env()) for i in range(10)]
    for i, p in enumerate(procs):  # all ten are started and given their key before any ends
        p.stdin.write(f"{SECRET}-{i}\n")  # type: ignore[union-attr]
        p.stdin.close()  # type: ignore[union-attr]
    for p in procs:
        out, err = p.stdout.read(), p.stderr.read()  # type: ignore[union-attr]
        p.wait(60)
        assert p.returncode == 0 and "stored" in out, err
        assert SECRET not in out + err
    import tomllib
    keys = tomllib.loads((env.config / "keys.toml").read_text())
    assert keys == {f"prov{i}": f"{SECRET}-{i}" for i in range(10)}
    assert stat.S_IMODE((env.config / "keys.toml").stat().st_mode) == 0o600


# -- issue 11 part 4: a 401 names the key's source, never the key -----------------------------

def _unauthorized(conn: socket.socket, _: bytes) -> None:
    body = json.dumps({"error": {"message": "invalid api key", "type": "auth"}}).encode()
    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n"
                 b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
                 + body)


def test_a_401_names_the_environment_variable(tmp_path, raw_server):
    srv = raw_server(_unauthorized)
    p = config_env(tmp_path, srv.url).run("hi")
    assert p.code == 4
    line = one_line(p)
    assert "invalid api key" in line and "the key came from $REPLAY_API_KEY" in line, line
    assert SECRET.encode() in srv.requests[0]  # it was sent, and is in no output


def test_a_401_names_keys_toml(tmp_path, raw_server):
    srv = raw_server(_unauthorized)
    env = config_env(tmp_path, srv.url)
    keys = env.config / "keys.toml"
    keys.write_text(f'replay = "{SECRET}"\n')
    keys.chmod(0o600)
    p = env.run("hi", REPLAY_API_KEY="")
    assert p.code == 4
    assert "the key came from keys.toml" in one_line(p)


def test_a_401_names_config_api_key(tmp_path, raw_server):
    srv = raw_server(_unauthorized)
    env = config_env(tmp_path, srv.url, provider=f'api_key = "{SECRET}"')
    cfg = env.config / "config.toml"
    cfg.write_text(cfg.read_text().replace('api_key_env = "REPLAY_API_KEY"\n', ""))
    p = env.run("hi")
    assert p.code == 4
    assert "the key came from api_key in config.toml [providers.replay]" in one_line(p)


# -- part 6: wire edges -----------------------------------------------------------------------

def test_non_object_json_data_lines_are_skipped(tmp_path, replay):
    good = stream_text(["Hello", ", ", "world"])
    chunks = good.split("\n\n")
    junk = ["data: [1,2,3]", 'data: "x"', "data: 3", "data: null", "data: " + "[" * 100_000]
    body = "\n\n".join(chunks[:2] + junk + chunks[2:])
    name, url = replay.new_script([Reply.sse(body)], prefix="nonobject")
    p = config_env(tmp_path, url).run("hi")
    assert p.code == 0, p.err
    assert p.out.strip() == "Hello, world"
    assert len(replay.requests(name)) == 1


def test_deeply_nested_tool_arguments_are_invalid_arguments_not_a_crash(tmp_path, replay):
    name, url = replay.new_script([Reply.tool_calls([("call_1", "read_file", "[" * 100_000)]),
                                   Reply.text("recovered")], prefix="deep-args")
    p = config_env(tmp_path, url).run("hi", "-t", "read_file")
    assert p.code == 0, p.err
    assert p.out.strip().endswith("recovered")
    second = replay.requests(name)[1].body["messages"]
    assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == "call_1"


def _long_line(size: int, end: bytes) -> Callable[[socket.socket, bytes], None]:
    def send(conn: socket.socket, _: bytes) -> None:
        conn.sendall(SSE_HEAD + b'data: {"choices":[{"index":0,"delta":{"content":"')
        piece = b"a" * 65536
        for _ in range(size // len(piece)):
            conn.sendall(piece)
        conn.sendall(end)
    return send


def test_an_sse_line_over_16_mib_is_one_clear_provider_error(tmp_path, raw_server):
    srv = raw_server(_long_line(40 * 1024 * 1024, b""))  # 40 MB, no newline
    p = config_env(tmp_path, srv.url).run("hi", timeout=60)
    assert p.code == 5
    line = one_line(p)
    assert "line over 16 MiB" in line and "replay" in line, line


def test_a_long_line_under_the_cap_is_read_whole(tmp_path, raw_server):
    size = 12 * 1024 * 1024
    srv = raw_server(_long_line(size, b'"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'))
    p = config_env(tmp_path, srv.url).run("hi", timeout=60)
    assert p.code == 0, p.err
    assert p.out.strip() == "a" * size


# -- part 7: serve refuses malformed and deeply nested JSON with a 400 ------------------------

def test_serve_answers_deeply_nested_json_with_400_and_no_traceback(tmp_path, replay):
    from test_web_e2e import loomex_serve  # the real `loomex serve`, stopped and checked
    _, url = replay.new_script([Reply.text("x")], prefix="serve-nested")
    with loomex_serve(tmp_path, url) as base:
        for body in (b"[" * 200_000, b'{"messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                     b"{not json"):
            req = urllib.request.Request(base + "/api/chat", data=body, method="POST",
                                         headers={"content-type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as ei:
                urllib.request.urlopen(req, timeout=20)
            assert ei.value.code == 400
            error = json.loads(ei.value.read())["error"]
            assert "\n" not in error and error
    # loomex_serve asserts no "Traceback" in serve's stderr and a clean exit



# -- the earlier provider faults, through the CLI (they held; kept so they keep holding) -------

HTML = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
PROVIDER_FAULTS = {
    # name: (replies (the last repeats), exit code, words in the line, requests made)
    "429": ([Reply.json({"error": {"message": "slow down"}}, status=429)], 6, "slow down", 3),
    "503": ([Reply.json({"error": {"message": "overloaded"}}, status=503)], 5, "overloaded", 3),
    "html-502": ([Reply(status=502, headers={"content-type": "text/html"}, pieces=[HTML])], 5,
                 "HTTP 502", 3),
    "reset-before-response": ([Reply(close_before_response=True)], 5, "replay:", 3),
    "400": ([Reply.json({"error": {"message": "bad field"}}, status=400)], 5, "bad field", 1),
    "404-model": ([Reply.json({"error": {"message": "no such model"}}, status=404)], 3,
                  "no such model", 1),
}


@pytest.mark.parametrize("fault", list(PROVIDER_FAULTS))
def test_provider_faults_through_the_cli(tmp_path, replay, fault):
    replies, code, words, tries = PROVIDER_FAULTS[fault]
    name, url = replay.new_script(replies, prefix=f"pf-{fault}", repeat_last=True)
    p = config_env(tmp_path, url).run("hi")
    assert p.code == code, p
    line = one_line(p)
    assert words in line and "Traceback" not in line and "<html" not in line.lower(), line
    assert len(replay.requests(name)) == tries
    assert p.out == ""


def test_a_stream_dropped_mid_answer_keeps_the_partial_text(tmp_path, replay):
    name, url = replay.new_script([Reply.text("partial", " answer", " never", close_after_pieces=3),
                                   Reply.text("must not be fetched")], prefix="pf-drop")
    p = config_env(tmp_path, url).run("hi")
    assert p.code == 5
    assert p.out.startswith("partial answer")
    assert "replay:" in one_line(p)
    assert len(replay.requests(name)) == 1  # a broken stream is never replayed


def test_config_show_masks_secret_headers(tmp_path):
    env = config_env(tmp_path, "http://127.0.0.1:9/v1",
                     provider=f'headers = {{ Authorization = "Bearer {SECRET}", '
                              f'"X-Auth-Token" = "{SECRET}", "x-api-key" = "{SECRET}", '
                              f'"X-Team" = "agents" }}\napi_key_cmd = "pass show llm"')
    p = env.run("config", "show")  # CliEnv.run fails if SECRET is printed
    assert p.code == 0 and 'X-Team = "agents"' in p.out and "pass show llm" in p.out
    assert p.out.count("…") >= 3
