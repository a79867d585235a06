"""The bash tool: real processes, real process groups, real temp files."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time

import pytest

from loomex_cli import RunContext, ToolError
from loomex_cli.tools.bash import MAX_TIMEOUT, BashTool, _timeout


def ctx_for(path) -> RunContext:
    return RunContext(agent=None, messages=[], deps={"cwd": str(path)})  # type: ignore[arg-type]


def run_bash(tmp_path, command, **kw):
    return asyncio.run(BashTool().execute({"command": command, **kw}, ctx_for(tmp_path)))


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (PID 1 here may not reap orphans)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


def wait_dead(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


def test_shape_of_the_tool():
    t = BashTool()
    assert t.name == "bash" and t.risk == "exec" and t.is_async
    assert t.timeout is not None and t.timeout > MAX_TIMEOUT
    assert t.approval_subject({"command": "ls -la"}) == "ls -la"
    assert t.parameters["required"] == ["command"]
    assert set(t.parameters["properties"]) == {"command", "timeout"}


def test_output_interleaved_and_exit_code(tmp_path):
    out = run_bash(tmp_path, "echo one; echo two >&2; echo three; exit 3")
    assert out.startswith("one\ntwo\nthree\n")
    assert out.rstrip().endswith("(exit code 3)")


def test_runs_in_the_working_directory(tmp_path):
    (tmp_path / "marker.txt").write_text("x")
    out = run_bash(tmp_path, "pwd; ls")
    assert str(tmp_path.resolve()) in out or str(tmp_path) in out
    assert "marker.txt" in out
    assert "(exit code 0)" in out


def test_no_output_and_no_stdin(tmp_path):
    out = run_bash(tmp_path, "cat")  # stdin is /dev/null: cat ends at once
    assert out == "(no output)\n(exit code 0)"


def test_empty_command_is_an_error(tmp_path):
    with pytest.raises(ToolError):
        run_bash(tmp_path, "   ")


def test_missing_working_directory(tmp_path):
    with pytest.raises(ToolError, match="working directory does not exist"):
        run_bash(tmp_path / "nope", "true")


def test_killed_by_a_signal(tmp_path):
    out = run_bash(tmp_path, "kill -TERM $$")
    assert "killed by signal SIGTERM" in out


def test_timeout_argument_is_clamped():
    assert _timeout(None) == 120
    assert _timeout(5) == 5
    assert _timeout(10_000) == MAX_TIMEOUT
    assert _timeout(-1) == 120
    with pytest.raises(ToolError):
        _timeout("soon")


def test_timeout_kills_the_whole_group(tmp_path):
    t0 = time.monotonic()
    out = run_bash(tmp_path, "sleep 300 & echo $!; wait", timeout=1)
    elapsed = time.monotonic() - t0
    assert "timed out after 1 s" in out and "killed" in out
    pid = int(out.split()[0])
    assert wait_dead(pid), f"grandchild {pid} survived the timeout"
    assert elapsed < 6


def test_timeout_escalates_to_sigkill(tmp_path):
    # the grandchild ignores SIGTERM; SIGKILL must follow
    cmd = "bash -c 'trap \"\" TERM; echo $$; while :; do sleep 0.05; done' & wait"
    t0 = time.monotonic()
    out = run_bash(tmp_path, cmd, timeout=1)
    pid = int(out.split()[0])
    assert "timed out" in out
    assert wait_dead(pid)
    assert time.monotonic() - t0 < 8


def test_cancellation_kills_the_group(tmp_path):
    pidfile = tmp_path / "pid.txt"

    async def main():
        task = asyncio.ensure_future(BashTool().execute(
            {"command": f"sleep 300 & echo $! > {pidfile}; wait"}, ctx_for(tmp_path)))
        for _ in range(200):
            if pidfile.exists() and pidfile.read_text().strip():
                break
            await asyncio.sleep(0.01)
        pid = int(pidfile.read_text())
        assert alive(pid)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pid

    pid = asyncio.run(main())
    assert wait_dead(pid), f"grandchild {pid} survived the cancellation"


def test_huge_output_is_cut_and_saved(tmp_path):
    size = 10 * 1024 * 1024
    out = run_bash(tmp_path, f"yes abcdefghi | head -c {size}")
    assert len(out.encode()) < 60_000
    assert out.count("\n") <= 2_010
    m = re.search(r"saved in (\S+) ", out)
    assert m, out[-2000:]
    saved = m.group(1)
    try:
        assert os.path.getsize(saved) == size
        assert out.startswith("abcdefghi\n")
        assert "lines" in out and "cut here" in out
        head, _, tail = out.partition("[...")
        assert set(head.split()) == {"abcdefghi"}
        assert tail.rstrip().endswith("(exit code 0)")
        assert "abcdefghi\nabcdefghi\n(exit code 0)" in tail
    finally:
        os.unlink(saved)


def test_many_short_lines_are_cut_by_count(tmp_path):
    out = run_bash(tmp_path, "seq 1 5000")
    m = re.search(r"saved in (\S+) ", out)
    assert m
    saved = m.group(1)
    try:
        with open(saved) as f:
            assert f.read() == "".join(f"{i}\n" for i in range(1, 5001))
        lines = out.splitlines()
        assert lines[0] == "1" and "1000" in lines and "1001" not in lines
        assert "4001" in lines and "5000" in lines and "4000" not in lines
        assert "3,000 lines" in out  # what was cut, said plainly
    finally:
        os.unlink(saved)


def test_output_dir_from_context(tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    ctx = RunContext(agent=None, messages=[], deps={"cwd": str(tmp_path),  # type: ignore[arg-type]
                                                    "output_dir": str(outdir)})
    out = asyncio.run(BashTool().execute({"command": "seq 1 3000"}, ctx))
    saved = re.search(r"saved in (\S+) ", out).group(1)
    assert os.path.dirname(saved) == str(outdir)


def test_background_process_holding_the_pipe(tmp_path):
    t0 = time.monotonic()
    out = run_bash(tmp_path, "sleep 30 & echo $!")
    pid = int(out.split()[0])
    try:
        assert time.monotonic() - t0 < 10
        assert "background" in out and "(exit code 0)" in out
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_unusable_output_dir_falls_back_to_the_temp_dir(tmp_path):
    ctx = RunContext(agent=None, messages=[], deps={"cwd": str(tmp_path),  # type: ignore[arg-type]
                                                    "output_dir": str(tmp_path / "missing")})
    out = asyncio.run(BashTool().execute({"command": "seq 1 3000"}, ctx))
    saved = re.search(r"saved in (\S+) ", out).group(1)
    try:
        assert os.path.getsize(saved) == len("".join(f"{i}\n" for i in range(1, 3001)))
    finally:
        os.unlink(saved)
