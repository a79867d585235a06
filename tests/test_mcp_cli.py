"""MCP through the CLI, end to end, with real servers: ``loomex mcp list/tools/call``, and a
scripted model calling MCP tools under the approval policy (a rule allows; without a
terminal and without a rule the call is denied and never reaches the server)."""

from __future__ import annotations

import json
import subprocess

import pytest

from cli_support import CliEnv, loomex_bin
from mcp_support import everything_cmd, filesystem_cmd, py_cmd, toml_server
from replay_server import Reply


def run_in(cwd, env: CliEnv, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    p = subprocess.run([loomex_bin(), *args], cwd=cwd, env=env.env(), capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def tool_results(replay, name) -> list[str]:
    msgs = replay.requests(name)[-1].body["messages"]
    return [m["content"] for m in msgs if m["role"] == "tool"]


def first_tools(replay, name) -> list[str]:
    return [t["function"]["name"] for t in replay.requests(name)[0].body.get("tools") or []]


# -- loomex mcp call / tools / list ----------------------------------------------------------

def test_call_everything_over_stdio_after_dashdash(tmp_path):
    env = CliEnv(tmp_path)
    p = run_in(tmp_path, env, "mcp", "call", "echo", '{"message": "hi there"}', "--",
               *everything_cmd())
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "Echo: hi there"
    p = run_in(tmp_path, env, "mcp", "call", "get-tiny-image", "--", *everything_cmd())
    assert "[image: image/png," in p.stdout
    p = run_in(tmp_path, env, "mcp", "call", "no-such-tool", "--", *everything_cmd())
    assert p.returncode == 2 and "has no tool 'no-such-tool'" in p.stderr


def test_call_a_configured_python_sdk_server(tmp_path):
    env = CliEnv(tmp_path, extra_config=toml_server("py", py_cmd()))
    p = run_in(tmp_path, env, "mcp", "call", "py", "add", '{"a": 2, "b": 40}')
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "42"
    p = run_in(tmp_path, env, "mcp", "call", "py", "add", '{"a": 2, "b": 40}', "--json")
    assert json.loads(p.stdout)["structuredContent"] == {"result": 42}
    p = run_in(tmp_path, env, "mcp", "call", "py", "fail", '{"message": "boom"}')
    assert p.returncode == 1 and "Error" in p.stdout
    # roots/list is answered with the working directory
    p = run_in(tmp_path, env, "mcp", "call", "py", "roots")
    assert p.stdout.strip() == tmp_path.resolve().as_uri()
    # elicitation without a terminal is declined
    p = run_in(tmp_path, env, "mcp", "call", "py", "ask")
    assert p.stdout.strip() == "decline"
    p = run_in(tmp_path, env, "mcp", "call", "nope", "add")
    assert p.returncode == 2 and "unknown MCP server 'nope'" in p.stderr


def test_call_the_filesystem_server(tmp_path):
    (tmp_path / "a.txt").write_text("hello from a file\n")
    env = CliEnv(tmp_path, extra_config=toml_server("fs", filesystem_cmd(tmp_path)))
    p = run_in(tmp_path, env, "mcp", "call", "fs", "read_text_file",
               json.dumps({"path": str(tmp_path / "a.txt")}))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "hello from a file"


def test_list_shows_servers_counts_and_masks_secrets(tmp_path):
    cfg = toml_server("py", py_cmd(), env='{ TOKEN = "${MY_SECRET_TOKEN}" }')
    cfg += toml_server("broken", ["/nonexistent/mcp-server"])
    cfg += toml_server("off", ["/nonexistent/other"], enabled="false")
    env = CliEnv(tmp_path, extra_config=cfg)
    p = subprocess.run([loomex_bin(), "mcp", "list"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60, env=env.env(MY_SECRET_TOKEN="tok-SECRET-123"))
    assert p.returncode == 0, p.stderr
    assert "tok-SECRET-123" not in p.stdout + p.stderr
    lines = {line.split()[0]: line for line in p.stdout.splitlines() if line and line[0] != " "}
    assert "11 tools" in lines["py"] and "TOKEN=****" in lines["py"]
    assert "failed" in lines["broken"] and "command not found" in p.stdout
    assert "stopped" in lines["off"]


def test_tools_lists_sanitized_names(tmp_path):
    env = CliEnv(tmp_path)
    p = run_in(tmp_path, env, "mcp", "tools", "--", *everything_cmd())
    assert p.returncode == 0, p.stderr
    assert "node__get-tiny-image" in p.stdout and "node__echo [read-only]" in p.stdout


# -- a scripted model calls MCP tools through the CLI ------------------------------------------

def test_an_allow_rule_lets_the_model_call_an_mcp_tool(replay, tmp_path):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "py__add", {"a": 20, "b": 22}),
                          ("c2", "ev__echo", {"message": "hello"})]),
        Reply.text("The sum is 42."),
    ], prefix="mcp-allow")
    cfg = toml_server("py", py_cmd()) + toml_server("ev", everything_cmd())
    cfg += '\n[tools."py__*"]\nallow = ["*"]\n[tools.ev__echo]\nallow = [\'ev__echo {"message":"hello"}\']\n'
    p = run_in(tmp_path, CliEnv(tmp_path, url, extra_config=cfg),
               "-t", "py__add,ev__echo", "add 20 and 22")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "The sum is 42.\n"
    assert tool_results(replay, name) == ["42", "Echo: hello"]
    assert first_tools(replay, name) == ["py__add", "ev__echo"]


def test_without_a_terminal_or_rule_the_call_is_denied(replay, tmp_path):
    target = tmp_path / "note.txt"
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "py__write_note", {"path": str(target), "text": "x"})]),
        Reply.text("ok"),
    ], prefix="mcp-deny")
    cfg = toml_server("py", py_cmd())
    p = run_in(tmp_path, CliEnv(tmp_path, url, extra_config=cfg), "-t", "py__*", "write")
    assert p.returncode == 0, p.stderr
    assert not target.exists()
    (result,) = tool_results(replay, name)
    assert result.startswith("Error: denied") and "[tools.py__write_note]" in result
    assert "py__add" in first_tools(replay, name) and "py__ask" in first_tools(replay, name)


def test_a_deny_glob_wins_and_mcp_selects_every_server(replay, tmp_path):
    (tmp_path / "a.txt").write_text("secret\n")
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "fs__read_text_file", {"path": str(tmp_path / "a.txt")})]),
        Reply.text("ok"),
    ], prefix="mcp-denyrule")
    cfg = toml_server("fs", filesystem_cmd(tmp_path)) + toml_server("py", py_cmd())
    cfg += '\n[tools."fs__*"]\ndeny = ["fs__read_*"]\n'
    p = run_in(tmp_path, CliEnv(tmp_path, url, extra_config=cfg), "-y", "-t", "mcp", "read")
    assert p.returncode == 0, p.stderr
    (result,) = tool_results(replay, name)
    assert result.startswith("Error: denied") and "deny" in result
    tools = first_tools(replay, name)
    assert "fs__read_text_file" in tools and "py__add" in tools


def test_yes_runs_the_filesystem_server_tool(replay, tmp_path):
    (tmp_path / "a.txt").write_text("hello\n")
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "fs__read_text_file", {"path": str(tmp_path / "a.txt")})]),
        Reply.text("ok"),
    ], prefix="mcp-fs-yes")
    cfg = toml_server("fs", filesystem_cmd(tmp_path))
    p = run_in(tmp_path, CliEnv(tmp_path, url, extra_config=cfg), "-y", "-t", "fs__*", "read")
    assert p.returncode == 0, p.stderr
    assert tool_results(replay, name) == ["hello\n"]


def test_unknown_server_or_tool_is_a_usage_error(replay, tmp_path):
    cfg = toml_server("py", py_cmd())
    env = CliEnv(tmp_path, "http://127.0.0.1:9", extra_config=cfg)
    p = run_in(tmp_path, env, "-t", "nope__x", "hi")
    assert p.returncode == 2 and "unknown MCP server 'nope'" in p.stderr
    p = run_in(tmp_path, env, "-t", "py__ad", "hi")
    assert p.returncode == 2 and "Did you mean py__add" in p.stderr


def test_a_server_that_fails_to_start_is_one_line(replay, tmp_path):
    cfg = toml_server("bad", ["/nonexistent/mcp-server"])
    env = CliEnv(tmp_path, "http://127.0.0.1:9", extra_config=cfg)
    p = run_in(tmp_path, env, "-t", "bad__*", "hi")
    assert p.returncode == 3
    assert p.stderr.strip().count("\n") == 0 and "command not found" in p.stderr


def test_sampling_uses_the_run_model_only_when_allowed(replay, tmp_path):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "ev__trigger-sampling-request", {"prompt": "say hi"})]),
        Reply.text("sampled answer"),
        Reply.text("finished"),
    ], prefix="mcp-sampling")
    cfg = toml_server("ev", everything_cmd(), sampling="true")
    cfg += '\n[tools."ev__*"]\nallow = ["*"]\n'
    p = run_in(tmp_path, CliEnv(tmp_path, url, extra_config=cfg), "-t", "ev__trigger-*", "go")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "finished\n"
    reqs = replay.requests(name)
    assert "say hi" in json.dumps(reqs[1].body["messages"])  # the server's request
    (result,) = tool_results(replay, name)
    assert "sampled answer" in result
    # not allowed: the capability is not offered, so the server has no such tool
    env = CliEnv(tmp_path, url, extra_config=toml_server("ev", everything_cmd()))
    p = run_in(tmp_path, env, "mcp", "tools", "ev")
    assert "trigger-sampling-request" not in p.stdout and "ev__echo" in p.stdout


def test_an_odd_but_legal_server(tmp_path):
    import sys
    from mcp_support import HERE
    log = tmp_path / "odd.jsonl"
    cfg = toml_server("odd", [sys.executable, str(HERE / "odd_server.py")],
                      env=f'{{ ODD_LOG = "{log}" }}')
    p = run_in(tmp_path, CliEnv(tmp_path, extra_config=cfg), "mcp", "call", "odd", "probe")
    assert p.returncode == 0, p.stderr
    answers = json.loads(p.stdout)
    assert answers["p1"]["result"] == {}                      # ping answered
    assert answers["p2"]["error"]["code"] == -1               # sampling declined
    assert answers["p3"]["result"]["roots"][0]["uri"] == tmp_path.resolve().as_uri()
    sent = [json.loads(line) for line in log.read_text().splitlines()]
    assert [m.get("method") for m in sent[:3]] == ["initialize", "notifications/initialized",
                                                   "tools/list"]
    assert "sampling" not in sent[0]["params"]["capabilities"]
    assert all(m["jsonrpc"] == "2.0" for m in sent)
