"""MCP servers' lives: nothing MCP is imported or started for a run that uses no MCP tool;
a crashed server's call is an error result and the server is restarted once; Ctrl-C sends
``notifications/cancelled``; every server process is gone after exit, SIGTERM included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from cli_support import CliEnv, loomex_bin
from mcp_support import py_cmd, toml_server
from replay_server import Reply

PROBE = """
import atexit, json, sys
def report():
    mods = sorted(m for m in sys.modules if m.startswith('loomex_cli.mcp'))
    sys.stderr.write('MCPMODS ' + json.dumps(mods) + '\\n')
atexit.register(report)
from loomex_cli.cli.app import main
main(sys.argv[1:])
"""


def _mods(stderr: str) -> list[str]:
    line = next(l for l in stderr.splitlines() if l.startswith("MCPMODS "))
    return json.loads(line[len("MCPMODS "):])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _pids(path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_nothing_mcp_is_imported_or_started_when_unused(replay, tmp_path):
    marker = tmp_path / "started"
    cfg = toml_server("py", ["/bin/sh", "-c", f"touch {marker}; sleep 5"])
    name, url = replay.new_script([Reply.text("hi"), Reply.text("hi")], prefix="mcp-unused")
    env = CliEnv(tmp_path, url, extra_config=cfg).env()
    for args in (["--help"], ["--version"], ["-t", "read_file", "hello"], ["hello"]):
        p = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr
        assert _mods(p.stderr) == [], args
    assert not marker.exists()
    # the probe itself sees an MCP run
    p = subprocess.run([sys.executable, "-c", PROBE, "mcp", "list"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert "loomex_cli.mcp.manager" in _mods(p.stderr)


def test_a_crash_is_an_error_result_and_the_server_restarts_once(replay, tmp_path):
    pidfile = tmp_path / "pids"
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "py__crash", {})]),
        Reply.tool_calls([("c2", "py__pid", {})]),
        Reply.tool_calls([("c3", "py__crash", {})]),
        Reply.tool_calls([("c4", "py__pid", {})]),
        Reply.text("done"),
    ], prefix="mcp-crash")
    cfg = toml_server("py", py_cmd(), env=f'{{ LOOMEX_TEST_PIDFILE = "{pidfile}" }}')
    cfg += '\n[tools."py__*"]\nallow = ["*"]\n'
    p = subprocess.run([loomex_bin(), "-t", "py__*", "go"], cwd=tmp_path, text=True,
                       env=CliEnv(tmp_path, url, extra_config=cfg).env(), capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    msgs = replay.requests(name)[-1].body["messages"]
    results = [m["content"] for m in msgs if m["role"] == "tool"]
    assert results[0].startswith("Error: MCP server 'py' stopped during the call")
    pids = _pids(pidfile)
    assert len(pids) == 2 and results[1] == str(pids[1])  # restarted once
    assert results[2].startswith("Error: MCP server 'py' stopped")
    assert "crashed again" in results[3] and "not restarted" in results[3]
    assert not any(_alive(pid) for pid in pids)
    log = tmp_path / "cache" / "mcp" / "py.log"
    assert log.is_file() and "py_server.py" in log.read_text()


def _slow_run(replay, tmp_path, prefix):
    pidfile, marker = tmp_path / "pids", tmp_path / "cancelled"
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "py__slow", {"seconds": 30})]),
        Reply.text("done"),
    ], prefix=prefix)
    helper = tmp_path / "helper-pid"  # another process of the server's group
    cmd = ["/bin/sh", "-c", f"sleep 300 & echo $! > {helper}; exec \"$0\" \"$@\"", *py_cmd()]
    cfg = toml_server("py", cmd, env=f'{{ LOOMEX_TEST_PIDFILE = "{pidfile}", '
                                     f'LOOMEX_TEST_MARKER = "{marker}" }}')
    cfg += '\n[tools."py__*"]\nallow = ["*"]\n'
    proc = subprocess.Popen([loomex_bin(), "-t", "py__slow", "go"], cwd=tmp_path, text=True,
                            env=CliEnv(tmp_path, url, extra_config=cfg).env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (pidfile.exists() and
                                               len(replay.requests(name)) >= 1):
        time.sleep(0.05)
    time.sleep(1.0)  # the call is in flight
    return proc, pidfile, marker


def test_ctrl_c_cancels_the_call_and_the_server_is_gone(replay, tmp_path):
    proc, pidfile, marker = _slow_run(replay, tmp_path, "mcp-sigint")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert marker.read_text() == "cancelled"  # notifications/cancelled reached the server
    (pid,) = _pids(pidfile)
    assert not _alive(pid)
    assert not _alive(int((tmp_path / "helper-pid").read_text()))


def test_sigterm_leaves_no_server_behind(replay, tmp_path):
    proc, pidfile, _ = _slow_run(replay, tmp_path, "mcp-sigterm")
    helper = int((tmp_path / "helper-pid").read_text())
    assert _alive(helper)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    (pid,) = _pids(pidfile)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(helper):
        time.sleep(0.05)
    assert not _alive(helper)  # the whole process group, not only the server
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def test_a_server_that_never_answers_times_out_and_is_killed(tmp_path):
    pidfile = tmp_path / "pid"
    cfg = toml_server("mute", ["/bin/sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"],
                      timeout="1")
    t0 = time.monotonic()
    p = subprocess.run([loomex_bin(), "mcp", "tools", "mute"], cwd=tmp_path, text=True,
                       env=CliEnv(tmp_path, extra_config=cfg).env(), capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert time.monotonic() - t0 < 20
    assert p.returncode == 3 and "did not start within 1 s" in p.stderr
    assert "mute.log" in p.stderr
    assert not _alive(int(pidfile.read_text()))
