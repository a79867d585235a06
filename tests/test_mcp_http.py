"""MCP over HTTP: the client's protocol against a scripted server (resumption with
Last-Event-ID after ``retry``, session id and version headers, pagination, DELETE, headers
from the environment, a 401 in one line), and real servers over Streamable HTTP and the
older HTTP+SSE: server-everything and the Python SDK server, by hand and from a model run."""

from __future__ import annotations

import json
import subprocess

import pytest

from cli_support import CliEnv, loomex_bin
from mcp_fake_http import SESSION, FakeServer
from mcp_support import EVERYTHING, free_port, http_server, node, py_cmd
from replay_server import Reply


@pytest.fixture
def fake():
    srv = FakeServer()
    yield srv
    srv.close()


def run(tmp_path, *args, extra_config="", url=None, **env):
    cli = CliEnv(tmp_path, url, extra_config=extra_config)
    p = subprocess.run([loomex_bin(), *args], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60, env=cli.env(**env), stdin=subprocess.DEVNULL)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def test_the_protocol_against_a_scripted_server(tmp_path, fake):
    cfg = (f'\n[mcp.servers.fake]\nurl = "{fake.url}"\n'
           'headers = { Authorization = "Bearer ${FAKE_TOKEN}" }\n')
    p = run(tmp_path, "mcp", "tools", "fake", "--json", extra_config=cfg,
            FAKE_TOKEN="tok-SECRET-9")
    assert p.returncode == 0, p.stderr
    assert [t["name"] for t in json.loads(p.stdout)] == [f"tool.{i}" for i in range(5)]
    verbs = [(s["verb"], (s["body"] or {}).get("method")) for s in fake.seen]
    assert verbs[:3] == [("POST", "initialize"), ("GET", None),
                         ("POST", "notifications/initialized")]
    assert fake.seen[1]["headers"]["Last-Event-ID"] == "e1"
    assert ("DELETE", None) == verbs[-1]
    assert fake.seen[-1]["headers"]["Mcp-Session-Id"] == SESSION
    init = fake.seen[0]
    assert init["body"]["params"]["protocolVersion"] == "2025-11-25"
    assert "application/json" in init["headers"]["Accept"]
    assert "text/event-stream" in init["headers"]["Accept"]
    assert all(s["headers"].get("Authorization") == "Bearer tok-SECRET-9" for s in fake.seen)
    assert "tok-SECRET-9" not in p.stdout + p.stderr
    p = run(tmp_path, "mcp", "call", "fake", "tool.3", '{"x": 7}', extra_config=cfg,
            FAKE_TOKEN="t")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "x=7"


def test_sanitized_names_reach_the_model_and_map_back(replay, tmp_path, fake):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "fake__tool_4", {"x": 1})]),
        Reply.text("ok"),
    ], prefix="mcp-fake")
    cfg = f'\n[mcp.servers.fake]\nurl = "{fake.url}"\n[tools."fake__*"]\nallow = ["*"]\n'
    p = run(tmp_path, "-t", "fake__*", "go", extra_config=cfg, url=url)
    assert p.returncode == 0, p.stderr
    msgs = replay.requests(name)[-1].body["messages"]
    assert [m["content"] for m in msgs if m["role"] == "tool"] == ["x=1"]
    called = [s["body"] for s in fake.seen if (s["body"] or {}).get("method") == "tools/call"]
    assert called[0]["params"]["name"] == "tool.4"


def test_a_401_says_so_in_one_line(tmp_path):
    srv = FakeServer(status=401)
    try:
        p = run(tmp_path, "mcp", "call", srv.url, "x")
    finally:
        srv.close()
    assert p.returncode == 3
    assert "needs authorization (HTTP 401)" in p.stderr and p.stderr.count("\n") == 1


def test_server_everything_over_streamable_http_and_old_sse(replay, tmp_path):
    exe = node()
    port, port2 = free_port(), free_port()
    with http_server([exe, str(EVERYTHING), "streamableHttp"], port, {"PORT": str(port)}) as url, \
            http_server([exe, str(EVERYTHING), "sse"], port2, {"PORT": str(port2)},
                        path="/sse") as sse_url:
        p = run(tmp_path, "mcp", "call", url, "echo", '{"message": "over http"}')
        assert p.returncode == 0 and p.stdout.strip() == "Echo: over http", p.stderr
        # the old transport: found by falling back, or named with type = "sse"
        p = run(tmp_path, "mcp", "call", sse_url, "echo", '{"message": "over sse"}')
        assert p.returncode == 0 and p.stdout.strip() == "Echo: over sse", p.stderr
        cfg = (f'\n[mcp.servers.old]\nurl = "{sse_url}"\ntype = "sse"\n'
               f'[mcp.servers.ev]\nurl = "{url}"\n[tools."ev__*"]\nallow = ["*"]\n'
               '[tools."old__*"]\nallow = ["*"]\n')
        name, model_url = replay.new_script([
            Reply.tool_calls([("c1", "ev__get-sum", {"a": 2, "b": 3}),
                              ("c2", "old__echo", {"message": "old"})]),
            Reply.text("ok"),
        ], prefix="mcp-ev-http")
        p = run(tmp_path, "-t", "ev__get-sum,old__echo", "go", extra_config=cfg, url=model_url)
        assert p.returncode == 0, p.stderr
        msgs = replay.requests(name)[-1].body["messages"]
        results = [m["content"] for m in msgs if m["role"] == "tool"]
        assert "5" in results[0] and results[1] == "Echo: old"


def test_python_sdk_server_over_streamable_http(tmp_path):
    port = free_port()
    with http_server(py_cmd("streamable-http", str(port)), port) as url:
        p = run(tmp_path, "mcp", "call", url, "add", '{"a": 5, "b": 6}')
        assert p.returncode == 0 and p.stdout.strip() == "11", p.stderr
        p = run(tmp_path, "mcp", "call", url, "roots")
        assert p.stdout.strip() == tmp_path.resolve().as_uri()
