"""Tools through the CLI, end to end: the model asks to edit a file; approval decides."""

from __future__ import annotations

import subprocess

import pytest

from cli_support import CliEnv, Term, loomex_bin
from replay_server import Reply


def edit_script(replay, prefix):
    return replay.new_script([
        Reply.tool_calls([("call_e1", "edit_file", {"path": "notes.txt", "old_string": "teh",
                                                    "new_string": "the"})]),
        Reply.text("Done."),
    ], prefix=prefix)


def run_in(cwd, env: CliEnv, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([loomex_bin(), *args], cwd=cwd, env=env.env(), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def tool_result(replay, name) -> str:
    msgs = replay.requests(name)[1].body["messages"]
    return next(m["content"] for m in msgs if m["role"] == "tool")


@pytest.fixture
def work(tmp_path):
    d = tmp_path / "work"
    d.mkdir()
    (d / "notes.txt").write_text("fix teh typo\n")
    return d


def test_yes_lets_the_edit_happen(replay, tmp_path, work):
    name, url = edit_script(replay, "edit-yes")
    p = run_in(work, CliEnv(tmp_path, url), "-y", "-t", "edit_file", "fix the typo")
    assert p.returncode == 0 and p.stdout == "Done.\n", p.stderr
    assert (work / "notes.txt").read_text() == "fix the typo\n"
    assert "-fix teh typo" in tool_result(replay, name)  # the model sees the diff


def test_without_a_terminal_the_edit_is_denied(replay, tmp_path, work):
    name, url = edit_script(replay, "edit-no")
    p = run_in(work, CliEnv(tmp_path, url), "-t", "edit_file", "fix the typo")
    assert p.returncode == 0 and p.stdout == "Done.\n", p.stderr
    assert (work / "notes.txt").read_text() == "fix teh typo\n"
    result = tool_result(replay, name)
    assert result.startswith("Error: denied") and "--yes" in result


def test_an_allow_rule_in_config_approves(replay, tmp_path, work):
    name, url = edit_script(replay, "edit-rule")
    env = CliEnv(tmp_path, url, extra_config='\n[tools.edit_file]\nallow = ["./**"]\n')
    p = run_in(work, env, "-t", "edit_file", "fix the typo")
    assert p.returncode == 0, p.stderr
    assert (work / "notes.txt").read_text() == "fix the typo\n"


def test_a_dangerous_command_is_denied_even_with_yes(replay, tmp_path, work):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "bash", {"command": "rm -rf ./data"})]),
        Reply.text("ok"),
    ], prefix="danger")
    (work / "data").mkdir()
    p = run_in(work, CliEnv(tmp_path, url), "-y", "-t", "bash", "clean up")
    assert p.returncode == 0, p.stderr
    assert (work / "data").is_dir()
    assert "recursive" in tool_result(replay, name).lower()


def test_bad_tool_rules_are_a_config_error(replay, tmp_path, work):
    name, url = edit_script(replay, "badrule")
    env = CliEnv(tmp_path, url, extra_config='\n[tools.edit_file]\nallow = [1, 2]\n')
    p = run_in(work, env, "-t", "edit_file", "fix the typo")
    assert p.returncode == 3 and "tools.edit_file.allow" in p.stderr
    assert (work / "notes.txt").read_text() == "fix teh typo\n"


def test_unknown_tool_is_a_usage_error(tmp_path):
    p = run_in(tmp_path, CliEnv(tmp_path, "http://127.0.0.1:9/v1"), "-t", "bash,nosuch", "hi")
    assert p.returncode == 2 and "nosuch" in p.stderr


def test_the_repl_asks_on_the_terminal(replay, tmp_path, work, tmux):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "bash", {"command": "echo hello > out.txt"})]),
        Reply.text("Denied, fine."),
        Reply.tool_calls([("c2", "bash", {"command": "echo hello > out.txt"})]),
        Reply.text("Written."),
    ], prefix="ask")
    env = CliEnv(tmp_path, url)
    t = Term(tmux, env.env(), ["bash", "-c", f"cd {work} && {loomex_bin()} chat -t bash"])
    try:
        t.wait_for("›")
        t.type("write the file")
        t.keys("Enter")
        t.wait_for("[s] yes for this session")
        t.type("n")
        t.keys("Enter")
        t.wait_for("reason for the model")
        t.type("not today")
        t.keys("Enter")
        t.wait_for("Denied, fine.")
        assert not (work / "out.txt").exists()
        assert "not today" in [m for m in replay.requests(name)[1].body["messages"] if m["role"] == "tool"][0]["content"]
        t.type("now do write it")
        t.keys("Enter")
        t.wait_for("[s] yes for this session", after=1)
        t.type("y")
        t.keys("Enter")
        t.wait_for("Written.")
        assert (work / "out.txt").read_text() == "hello\n"
    finally:
        t.close()
