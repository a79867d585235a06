"""The one-shot fast path (cli/fast_run.py) against Typer as the oracle: the same RunOptions,
the same output and exit codes, and tables that agree with the Click parameters of ``run``.
The cached ``--help`` (cli/help_cache.py) against Typer's rendering."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from cli_support import SECRET, CliEnv, loomex_bin
from replay_server import Reply

from loomex_cli.cli import fast_run, help_cache
from loomex_cli.cli.options import RunOptions

#: argv the fast path takes (each must give what Typer gives)
TAKEN = [
    ["What is 2+2?"],
    ["hi there", "--no-save"],
    ["-q", "hello world"],
    ["run", "hello"],
    ["run"],
    ["--quiet"],
    ["--json", "hi x"],
    ["-v", "--no-save", "a b"],
    ["hi", "--verbose", "there"],
    ["--model", "replay/test-model", "hi x"],
    ["-m", "replay/test-model", "-t", "bash", "-s", "be brief", "hi x"],
    ["--temperature", "0.5", "--max-steps", "3", "--max-cost", "1e-9", "x y"],
    ["--max-steps", " 2 ", "x y"],
    ["--", "-x is a flag?"],
    ["--no-stdin", "--", "--json", "-q"],
    ["--model", "nope/unknown", "hi x"],
    ["--mcp-config", "/nonexistent/a.json", "--mcp-config", "b.json", "hi x"],
    ["-c", "--no-save", "hi x"],
    ["--no-stdin", "   "],
    ["--stdin", "-y", "--dangerously-allow-all", "--no-reasoning", "--raw", "hi x"],
    ["--debug", "--no-stream", "--tools", "nosuchtool", "hi x"],
    ["-m", "", "hi x"],
]
#: argv it hands to Typer unchanged
DECLINED = [
    [], ["hello"], ["helo"], ["chat"], ["models"], ["history", "x y"], ["-h"], ["--help"],
    ["--version", "x y"], ["run", "-h"], ["hi x", "--help"], ["--temperature", "abc", "hi x"],
    ["--max-steps", "2.5", "hi x"], ["--model"], ["hi x", "--model"], ["--model", "-q", "hi x"],
    ["hi x", "--bogus"], ["-qy", "hi x"], ["--model=replay/x", "hi x"], ["-mreplay/x", "hi x"],
    ["-", "hi x"], ["-5", "hi x"], ["--quiet", "--resume", "abc", "hi x"],
]


def _typer_opts(argv, monkeypatch):
    """The RunOptions Typer's run() hands to run_once, and its exit code."""
    from loomex_cli.cli import app, oneshot
    seen = []
    monkeypatch.setattr(oneshot, "run_once", lambda opts: seen.append(opts) or 0)
    try:
        app.app(args=argv, prog_name="loomex")
    except SystemExit as e:
        assert e.code in (0, None), argv
    assert len(seen) == 1, argv
    return seen[0]


@pytest.mark.parametrize("argv", TAKEN, ids=" ".join)
def test_fast_path_builds_what_typer_builds(argv, monkeypatch):
    fields = fast_run.parse(argv)
    assert fields is not None, argv
    assert RunOptions(**fields) == _typer_opts(argv, monkeypatch)


@pytest.mark.parametrize("argv", DECLINED, ids=" ".join)
def test_anything_else_goes_to_typer(argv):
    assert fast_run.parse(argv) is None


def test_completion_requests_go_to_typer(monkeypatch):
    monkeypatch.setenv("_LOOMEX_COMPLETE", "bash_complete")
    assert fast_run.parse(["hi x"]) is None


def _run_command():
    import typer.main
    from loomex_cli.cli.app import app
    return typer.main.get_command(app)


def test_the_commands_are_typers():
    assert set(_run_command().commands) == set(fast_run.COMMANDS)


def test_the_tables_agree_with_the_click_parameters_of_run():
    """Every option the fast path knows is one of run's, of the same kind and type, setting
    the RunOptions field of its name; so Click would read the same argv the same way."""
    run = _run_command().commands["run"]
    by_opt = {o: p for p in run.params if p.param_type_name == "option"
              for o in (*p.opts, *p.secondary_opts)}
    for opt, field in fast_run.FLAGS.items():
        p = by_opt[opt]
        assert p.is_flag and not p.multiple and not p.secondary_opts, opt
        assert p.name == (field or "_wait_stdin"), opt
        assert field == "" or field in RunOptions.__dataclass_fields__
    from typer._click import types as click_types
    types = {str: click_types.STRING, float: click_types.FLOAT, int: click_types.INT}
    for opt, (field, convert) in fast_run.VALUES.items():
        p = by_opt[opt]
        assert not p.is_flag and not p.multiple and p.nargs == 1, opt
        assert p.name == field and p.type is types[convert], (opt, p.type)
    for opt, field in fast_run.LISTS.items():
        p = by_opt[opt]
        assert p.multiple and not p.is_flag and p.name == field, opt
    # -h/--help and every other option of run (a new flag too) are left to Typer
    known = {*fast_run.FLAGS, *fast_run.VALUES, *fast_run.LISTS}
    for opt in set(by_opt) - known:
        assert fast_run.parse(["hi x", opt]) is None, opt


def _normal(text: str) -> str:
    """Run-to-run differences: durations, costs, ids."""
    text = re.sub(r"\d+\.\d+", "N", text)
    return re.sub(r"\b[0-9a-f]{8,}\b", "ID", text)


TYPER_MAIN = "import sys\nfrom loomex_cli.cli.app import main\nmain(sys.argv[1:])\n"


@pytest.mark.parametrize("argv", TAKEN + DECLINED[:12], ids=" ".join)
def test_fast_path_and_typer_print_and_exit_the_same(argv, replay, tmp_path):
    _, url = replay.new_script([Reply.text("Four", ".", usage={"prompt_tokens": 3,
                                "completion_tokens": 2, "total_tokens": 5})],
                               prefix="fast", repeat_last=True)
    env = CliEnv(tmp_path, url).env()
    runs = []
    for cmd in ([loomex_bin(), *argv], [sys.executable, "-c", TYPER_MAIN, *argv]):
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert SECRET not in p.stdout + p.stderr and "Traceback" not in p.stderr, p.stderr
        runs.append((p.returncode, _normal(p.stdout), _normal(p.stderr)))
    assert runs[0] == runs[1], argv


def test_cached_help_is_typers_text(tmp_path):
    """The first --help renders with Typer and keeps the text; the next prints the kept text,
    the same as Typer prints, at each width."""
    path = help_cache.cache_file()
    if path is None:
        pytest.skip("no Typer found on sys.path: the cache is off, Typer always renders")
    for columns in ("100", "60", "30"):
        env = {**CliEnv(tmp_path).env(), "COLUMNS": columns}
        typer_help = subprocess.run([sys.executable, "-c", TYPER_MAIN, "--help"],
                                    capture_output=True, text=True, env=env)
        assert typer_help.returncode == 0 and "Usage: loomex" in typer_help.stdout
        for argv in (["--help"], ["-h"], ["--help"]):
            p = subprocess.run([loomex_bin(), *argv], capture_output=True, text=True, env=env)
            assert (p.returncode, p.stdout, p.stderr) == (0, typer_help.stdout, ""), columns


def test_help_cache_is_keyed_by_the_code(tmp_path, monkeypatch):
    """A different app.py (size or time), Typer or width gives another file."""
    import os
    first = help_cache.cache_file()
    if first is None:
        pytest.skip("no Typer found on sys.path")
    monkeypatch.setenv("COLUMNS", "61")
    assert help_cache.cache_file() != first
    monkeypatch.setenv("COLUMNS", "200")
    wide = help_cache.cache_file()
    monkeypatch.setenv("COLUMNS", "80")
    assert help_cache.cache_file() == wide  # Click formats at most 78 wide
    real_stat = os.stat
    monkeypatch.setattr(help_cache.os, "stat", lambda p: real_stat(tmp_path) if p.endswith("app.py") else real_stat(p))
    assert help_cache.cache_file() != wide


@pytest.mark.parametrize("argv", [["--help"], ["What is 2+2?"], ["hi x", "--bogus"]], ids=" ".join)
def test_a_closed_stdout_ends_both_ways_alike(argv, replay, tmp_path):
    """stdout closed before anything is written (`loomex ... | true`): the same status and
    stderr through the fast path (and the cached help) as through Typer."""
    import os
    _, url = replay.new_script([Reply.text("Four", ".")], prefix="fastpipe", repeat_last=True)
    env = CliEnv(tmp_path, url).env()
    runs = []
    for cmd in ([loomex_bin(), *argv], [loomex_bin(), *argv],
                [sys.executable, "-c", TYPER_MAIN, *argv]):
        r, w = os.pipe()
        os.close(r)
        p = subprocess.run(cmd, stdout=w, stderr=subprocess.PIPE, text=True, env=env,
                           timeout=60, stdin=subprocess.DEVNULL)
        os.close(w)
        runs.append((p.returncode, p.stderr))
    assert runs[0] == runs[1] == runs[2], runs
