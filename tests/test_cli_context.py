"""AGENTS.md files end to end: the installed ``loomex`` run in a directory of a repository,
the system message the loopback server received, ``--no-context-files``, ``config show``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cli_support import SECRET, CliEnv, Done, loomex_bin
from loomex_cli.engine.context_files import INTRO, MAX_FILE
from replay_server import Reply


def run_in(env: CliEnv, cwd: Path, *args: str, **extra: str) -> Done:
    p = subprocess.run([loomex_bin(), *args], capture_output=True, text=True, cwd=cwd,
                       env=env.env(**extra), stdin=subprocess.DEVNULL, timeout=30)
    assert SECRET not in p.stdout + p.stderr and "Traceback" not in p.stderr, p.stderr
    return Done(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A repository (``.git``) with AGENTS.md at its root, CLAUDE.md in ``app``, AGENTS.md
    in ``app/web`` (the working directory), and one above the root (never read)."""
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    (root / "app" / "web").mkdir(parents=True)
    (root / "AGENTS.md").write_text("Run tests with `make test`.\n")
    (root / "app" / "CLAUDE.md").write_text("The app is in Go.\n")
    (root / "app" / "web" / "AGENTS.md").write_text("Use TypeScript here.\n")
    (tmp_path / "AGENTS.md").write_text("ABOVE THE ROOT\n")
    return root


@pytest.fixture
def cli(replay, tmp_path):
    def make(replies, extra_config: str = ""):
        name, url = replay.new_script(replies, prefix="ctx")
        env = CliEnv(tmp_path / "home", url, extra_config=extra_config)
        env.name = name
        return env
    return make


def top_level(env: CliEnv, line: str) -> None:
    """Adds a top-level key to the config (CliEnv's extra_config goes after its tables)."""
    path = env.config / "config.toml"
    path.write_text(line + "\n" + path.read_text())


def system_sent(replay, env) -> str:
    [first] = [m for m in replay.requests(env.name)[-1].body["messages"] if m["role"] == "system"]
    return first["content"]


def test_agents_md_reach_the_system_message_in_order(cli, replay, project):
    env = cli([Reply.text("ok")])
    (env.config / "AGENTS.md").write_text("Answer in English.\n")
    done = run_in(env, project / "app" / "web", "-s", "Be brief.", "hi")
    assert done.code == 0 and done.out == "ok\n" and done.err == ""
    assert system_sent(replay, env) == (
        "Be brief.\n\n# Project instructions\n\n" + INTRO + "\n\n"
        f"## {env.config}/AGENTS.md\n\nAnswer in English.\n\n"
        f"## {project}/AGENTS.md\n\nRun tests with `make test`.\n\n"
        f"## {project}/app/CLAUDE.md\n\nThe app is in Go.\n\n"
        f"## {project}/app/web/AGENTS.md\n\nUse TypeScript here.")


def test_a_big_file_is_cut_with_a_note_in_the_prompt_and_on_stderr(cli, replay, project):
    env = cli([Reply.text("ok")])
    big = project / "app" / "web" / "AGENTS.md"
    big.write_text("y" * (MAX_FILE + 1000))
    done = run_in(env, project / "app" / "web", "hi")
    assert done.code == 0
    sent = system_sent(replay, env)
    assert sent.endswith(f"## {big}\n\n" + "y" * MAX_FILE + "\n\n[loomex: this file has "
                         f"{MAX_FILE + 1000:,} bytes; only the first {MAX_FILE:,} are included]")
    assert done.err == (f"loomex: {big} is cut to its first {MAX_FILE:,} of {MAX_FILE + 1000:,} "
                        "bytes in the prompt\n")


def test_outside_a_repository_only_the_working_directory(cli, replay, tmp_path):
    env = cli([Reply.text("ok")])
    d = tmp_path / "plain" / "sub"
    d.mkdir(parents=True)
    (tmp_path / "plain" / "AGENTS.md").write_text("parent: not read")
    (d / "AGENTS.md").write_text("only this")
    assert run_in(env, d, "hi").code == 0
    sent = system_sent(replay, env)
    assert f"## {d}/AGENTS.md\n\nonly this" in sent and "parent" not in sent


def test_no_context_files_flag_and_config_key(cli, replay, project):
    env = cli([Reply.text("ok"), Reply.text("ok")])
    cwd = project / "app" / "web"
    assert run_in(env, cwd, "--no-context-files", "-s", "Be brief.", "hi").code == 0
    assert system_sent(replay, env) == "Be brief."
    top_level(env, "context_files = false")
    assert run_in(env, cwd, "-s", "Be brief.", "hi").code == 0
    assert system_sent(replay, env) == "Be brief."


def test_a_symlink_out_of_the_repository_is_not_sent(cli, replay, project, tmp_path):
    env = cli([Reply.text("ok")])
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    link = project / "app" / "web" / "AGENTS.md"
    link.unlink()
    link.symlink_to(secret)
    done = run_in(env, project / "app" / "web", "hi")
    assert done.code == 0 and "PRIVATE KEY" not in system_sent(replay, env)
    assert done.err == f"loomex: {link} is not used (a symlink out of the repository)\n"


def test_config_show_lists_the_files_by_path_and_size_only(cli, project):
    env = cli([])
    evil = project / "app" / "web" / "\x1b]0;pwned\x07x"
    evil.mkdir()
    (evil / "AGENTS.md").write_text("\x1b[2J SECRET INSTRUCTIONS")
    done = run_in(env, evil, "config", "show")
    assert done.code == 0
    assert "\x1b" not in done.out and "\x07" not in done.out
    assert "SECRET INSTRUCTIONS" not in done.out
    shown = f"{project}/app/web/<ESC>]0;pwned<BEL>x"
    lines = done.out.split("# context files for ")[1].splitlines()
    assert lines == [
        f"{shown}:",
        f"#   {project}/AGENTS.md  28 bytes",
        f"#   {project}/app/CLAUDE.md  18 bytes",
        f"#   {project}/app/web/AGENTS.md  21 bytes",
        f"#   {shown}/AGENTS.md  24 bytes",
    ]


def test_config_show_says_when_off(cli, project):
    env = cli([])
    top_level(env, "context_files = false")
    done = run_in(env, project, "config", "show")
    assert done.out.rstrip().endswith("# context files: off (context_files = false)")
