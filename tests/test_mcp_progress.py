"""A running MCP tool's progress: the server's ``notifications/progress`` become ToolProgress
events of the call (in ``--json`` as ``tool_progress``), drawn on a terminal as one status
line on stderr that is cleaned, redrawn in place and erased when the call ends (tmux is the
oracle: nothing of it stays on the screen, and the answer on stdout never carries it);
without a terminal nothing, or under -v one line per report (at most one a second)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import threading

import pytest

from cli_support import CliEnv, Term, loomex_bin
from helpers import make_agent, run_async
from mcp_support import everything_cmd, py_cmd, toml_server
from replay_server import Reply

from loomex_cli.cli.progress_line import ERASE, ProgressLine, cut, describe
from loomex_cli.cli.render import PlainOutput
from loomex_cli.engine.events import ToolProgress, ToolResult, ToolStart
from loomex_cli.engine.tool_progress import progress_reporter, report_progress

LONG = "ev__trigger-long-running-operation"
ALLOW_EV = '\n[tools."ev__*"]\nallow = ["*"]\n'
#: what a hostile server puts in its progress message
EVIL = "\x1b]0;PWNED-TITLE\x07\x1b[2J\x1b[H\nsecond line\r\x9b2J"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_cli(cwd, env: CliEnv, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    p = subprocess.run([loomex_bin(), *args], cwd=cwd, env=env.env(), capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert "Traceback" not in p.stderr, p.stderr
    return p


# -- the status line ------------------------------------------------------------------------

def test_the_line_is_cleaned_cut_redrawn_in_place_and_erased():
    err = Tty()
    line = ProgressLine(err, live=True)
    line.update(ToolProgress("c1", "gh__search", 40, 100, "fetching " + EVIL, 1))
    drawn = err.getvalue()
    assert drawn.startswith(ERASE) and "\n" not in drawn
    assert "gh__search 40/100 fetching" in drawn and "second line" in drawn
    assert not re.search(r"\x1b(?!\[2K|\[[0-9;]*m)|[\x07\x9b\r\x08]", drawn.replace(ERASE, "")), \
        repr(drawn)
    line.update(ToolProgress("c1", "gh__search", 41, 100, None, 1))
    assert err.getvalue().endswith("gh__search 41/100\x1b[0m") or \
        err.getvalue().endswith("gh__search 41/100")
    line.end("c1")
    assert err.getvalue().endswith(ERASE) and not line.shown
    assert describe(ToolProgress("c", "t", 3, None, None)) == "t 3"
    assert describe(ToolProgress("c", "t", 0.5, 1.0, "a\tb")) == "t 0.5/1 a b"
    assert cut("界" * 10, 7) == "界界…" and cut("abc", 3) == "abc"


def test_two_calls_share_the_line_and_it_goes_when_both_end():
    err = Tty()
    line = ProgressLine(err, live=True)
    line.update(ToolProgress("a", "one", 1, 2))
    line.update(ToolProgress("b", "two", 1, 3))
    line.end("b")
    assert err.getvalue().endswith("one 1/2\x1b[0m") or err.getvalue().endswith("one 1/2")
    line.end("a")
    assert err.getvalue().endswith(ERASE)


def test_without_a_terminal_nothing_or_under_verbose_throttled_lines():
    quiet = PlainOutput(False)
    quiet.err = io.StringIO()
    quiet._status = ProgressLine(quiet.err, live=False, lines=False)
    quiet(ToolProgress("c", "t", 1, 2))
    assert quiet.err.getvalue() == ""
    err = io.StringIO()
    line = ProgressLine(err, live=False, lines=True)
    for i in range(5):
        line.update(ToolProgress("c", "t", i, 5, EVIL))
    out = err.getvalue()
    assert out.count("\n") == 1 and out.startswith("⋯ t 0/5")
    assert "\x1b" not in out and "\r" not in out and ERASE not in out


def test_plain_output_takes_the_line_down_before_writing_anything_else():
    err = Tty()
    p = PlainOutput(True)
    p.out, p.err = io.StringIO(), err
    p._status = ProgressLine(err, live=True)
    p(ToolStart("c1", "slow", 1))
    p(ToolProgress("c1", "slow", 1, 4, "step", 1))
    p(ToolResult("c1", "slow", "done", False, 5.0, 1))
    text = err.getvalue()
    # drawn, erased, then the result line at column 0, and nothing drawn again
    assert text.index("slow 1/4") < text.rindex(ERASE) < text.index("← slow: done")
    assert text.endswith("(0.0 s)\n")


# -- the engine: reports belong to the running call -----------------------------------------

def test_reports_outside_a_call_or_after_it_ended_are_dropped(replay):
    from loomex_cli import tool
    kept = []
    events = []

    @tool
    def work() -> str:
        """Works."""
        kept.append(progress_reporter())
        report_progress(1, 3, "one")
        return "ok"

    report_progress(1, 2)  # no call running: nothing, no error
    assert progress_reporter() is None
    _, url = replay.new_script([Reply.tool_calls([("c1", "work", {})]), Reply.text("fine")],
                               prefix="progress-late")
    run_async(lambda: __import__("loomex_cli").arun(make_agent(url, tools=[work]), "go",
                                                    sink=events.append))
    got = [e for e in events if isinstance(e, ToolProgress)]
    assert [(e.id, e.name, e.progress, e.total, e.message, e.step) for e in got] == \
        [("c1", "work", 1.0, 3.0, "one", 1)]
    t = threading.Thread(target=kept[0], args=(2, 3, "late"))
    t.start()
    t.join()
    kept[0](float("nan"))
    assert len([e for e in events if isinstance(e, ToolProgress)]) == 1


# -- end to end through the CLI, with server-everything's long-running tool ------------------

def test_json_carries_the_progress_of_a_server_everything_call(replay, tmp_path):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", LONG, {"duration": 1, "steps": 4})]), Reply.text("done."),
    ], prefix="mcp-progress-json")
    env = CliEnv(tmp_path, url, extra_config=toml_server("ev", everything_cmd()) + ALLOW_EV)
    p = run_cli(tmp_path, env, "--json", "-t", LONG, "go")
    assert p.returncode == 0, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    progress = [e for e in events if e["type"] == "tool_progress"]
    assert [(e["id"], e["name"], e["progress"], e["total"]) for e in progress] == \
        [("c1", LONG, float(i), 4.0) for i in (1, 2, 3, 4)]
    assert kinds.index("tool_start") < kinds.index("tool_progress")
    assert len(kinds) - 1 - kinds[::-1].index("tool_progress") < kinds.index("tool_result")


def test_verbose_without_a_terminal_writes_a_progress_line_and_stdout_only_the_answer(
        replay, tmp_path):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", LONG, {"duration": 0.4, "steps": 2})]), Reply.text("done."),
    ], prefix="mcp-progress-v")
    env = CliEnv(tmp_path, url, extra_config=toml_server("ev", everything_cmd()) + ALLOW_EV)
    p = run_cli(tmp_path, env, "-v", "-t", LONG, "go")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "done.\n"
    assert f"⋯ {LONG} 1/2\n" in p.stderr
    p = run_cli(tmp_path, env, "-t", LONG, "go")  # the script repeats: not verbose, no lines
    assert "⋯" not in p.stderr


# -- in a real terminal ----------------------------------------------------------------------

SLOW = ("py", "py__slow", {"seconds": 3, "note": EVIL}, r"⋯ py__slow \d+/30 step \d+ second line")
EVERYTHING_LONG = ("ev", LONG, {"duration": 3, "steps": 3}, rf"⋯ {LONG} [123]/3$")


@pytest.mark.parametrize("server,redirect", [(SLOW, ""), (SLOW, " > out.txt"),
                                             (EVERYTHING_LONG, "")])
def test_the_line_shows_while_the_call_runs_and_leaves_nothing(replay, tmp_path, tmux,
                                                                server, redirect):
    """Rich output (stdout a terminal), and plain output with stdout in a file: the line is
    seen during the call, cleaned (the server's escapes do nothing), and gone at the end."""
    prefix, tool_name, args, shown = server
    name, url = replay.new_script([
        Reply.tool_calls([("c1", tool_name, args)]), Reply.text("all done."),
    ], prefix="mcp-progress-tmux")
    cmd = everything_cmd() if prefix == "ev" else py_cmd()
    cfg = toml_server(prefix, cmd) + f'\n[tools."{prefix}__*"]\nallow = ["*"]\n'
    env = CliEnv(tmp_path, url, extra_config=cfg)
    run = f"cd {tmp_path} && {loomex_bin()} -t {tool_name} go{redirect}"
    term = Term(tmux, env.env(), ["bash", "--norc", "-c", run], width=80, height=24)
    try:
        seen = term.wait_for(f"⋯ {tool_name}", timeout=60)
        line = next(ln for ln in seen.splitlines() if f"⋯ {tool_name}" in ln)
        assert re.search(shown, line.rstrip()), line
        assert len(line.rstrip()) < 80
        screen = term.wait_for("EXITED=", timeout=60)
        assert "EXITED=0" in screen, screen
        everything = "\n".join(term.scrollback())
        assert "⋯" not in everything and "second line" not in everything, everything
        assert "PWNED" not in subprocess.run(
            [tmux, *term.sock, "display-message", "-p", "-t", term.name, "#{pane_title}"],
            capture_output=True, text=True).stdout
        if redirect:
            assert (tmp_path / "out.txt").read_text() == "all done.\n"
        else:
            assert "all done." in everything
    finally:
        term.close()
