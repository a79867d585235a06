"""``loomex -x``, not on a terminal: the installed CLI against the loopback replay server. The
command is printed alone (fences stripped) and never run; the shell and OS reach the prompt."""

from __future__ import annotations

import platform

import pytest

from cli_support import CliEnv
from replay_server import Reply
from loomex_cli.cli.shell_prompt import extract_command, os_name


@pytest.fixture
def cli(replay, tmp_path):
    def make(replies, **kw):
        name, url = replay.new_script(replies, prefix="shx")
        env = CliEnv(tmp_path, url, **kw)
        env.name = name
        return env
    return make


def test_the_shell_and_os_reach_the_system_prompt_and_only_the_command_is_printed(cli, replay, tmp_path):
    marker = tmp_path / "ran"
    env = cli([Reply.text("```bash\n", f"touch {marker}\n", "```\n")])
    done = env.run("-x", "make", "a", "marker", SHELL="/bin/bash")
    assert done.code == 0, done.err
    assert done.out == f"touch {marker}\n"  # fences gone, one line, nothing else
    assert done.err == ""
    assert not marker.exists()  # printed, never run
    body = replay.requests(env.name)[0].body
    system, user = body["messages"][0], body["messages"][-1]
    assert system["role"] == "system" and user == {"role": "user", "content": "make a marker"}
    assert "bash shell" in system["content"]
    assert platform.system() in system["content"] and os_name() in system["content"]
    assert "no code fences" in system["content"]
    assert "tools" not in body  # the model is offered nothing to call


def test_the_shell_comes_from_SHELL_and_defaults_to_sh(cli, replay):
    env = cli([Reply.text("ls")], )
    assert env.run("-x", "list", SHELL="/usr/bin/zsh-not-here").out == "ls\n"
    env2 = cli([Reply.text("ls")])
    done = env2.run("-x", "list", SHELL="")
    assert done.out == "ls\n"
    first = replay.requests(env.name)[0].body["messages"][0]["content"]
    second = replay.requests(env2.name)[0].body["messages"][0]["content"]
    assert "for the sh shell" in first and "for the sh shell" in second  # not executable: sh
    import shutil
    dash = shutil.which("dash") or shutil.which("bash")
    env3 = cli([Reply.text("ls")])
    env3.run("-x", "list", SHELL=dash)
    third = replay.requests(env3.name)[0].body["messages"][0]["content"]
    assert f"for the {dash.rsplit('/', 1)[1]} shell" in third


def test_model_and_system_flags_apply_and_piped_stdin_is_context(cli, replay):
    env = cli([Reply.text("`wc -l`")], extra_config='models = ["other-model"]\n')
    done = env.run("-x", "-m", "replay/other-model", "-s", "Prefer POSIX tools.",
                   "count the lines", input="a\nb\n")
    assert done.code == 0 and done.out == "wc -l\n"
    body = replay.requests(env.name)[0].body
    assert body["model"] == "other-model"
    assert body["messages"][0]["content"].endswith("\n\nPrefer POSIX tools.")
    assert "count the lines" in body["messages"][-1]["content"]
    assert "a\nb" in body["messages"][-1]["content"]


def test_no_request_and_no_command_are_clear_errors(cli):
    env = cli([Reply.text("   ")])
    done = env.run("-x")
    assert done.code == 2 and "no request" in done.err and done.out == ""
    done = env.run("-x", "do nothing")
    assert done.code == 5 and "gave no command" in done.err and done.out == ""
    done = env.run("-x", "--json", "list")
    assert done.code == 2 and "--json" in done.err
    for flag, value in (("-f", "README.md"), ("-a", "x.png"), ("--schema", "name str")):
        done = env.run("-x", flag, value, "list")
        assert done.code == 2 and f"does not take {flag}" in done.err, (flag, done.err)


def test_a_provider_error_keeps_its_exit_code(cli):
    env = cli([Reply.json({"error": {"message": "bad key"}}, status=401)])
    done = env.run("-x", "list files")
    assert done.code == 4 and done.out == ""


@pytest.mark.parametrize("answer, command", [
    ("ls -la", "ls -la"),
    ("`ls -la`", "ls -la"),
    ("```\nls -la\n```", "ls -la"),
    ("```sh\nls -la\n```", "ls -la"),
    ("```ls -la```", "ls -la"),
    ("Here you go:\n\n```bash\nfind . -size +100M\n```\nThis finds big files.", "find . -size +100M"),
    ("```bash\nfind . -mtime -7", "find . -mtime -7"),  # the closing fence never came
    ("$ du -sh *", "du -sh *"),
    ("echo `date` now", "echo `date` now"),  # backticks that are shell code stay
    ("~~~\nps aux\n~~~", "ps aux"),
    ("```bash\nfor f in *; do\n  echo $f\ndone\n```", "for f in *; do\n  echo $f\ndone"),
])
def test_extract_command(answer, command):
    assert extract_command(answer) == command


def test_other_commands_do_not_load_shell_mode():
    import subprocess
    import sys
    code = ("import sys\nfrom loomex_cli.cli import app\n"
            "try:\n    app.main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('loomex_cli.cli.shell_', "
            "'pygments', 'rich'))), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "-x, --shell" in out.stdout
    assert out.stderr.strip() == "[]", out.stderr


def test_a_roles_prompt_follows_the_shell_instructions_and_agents_md_stays_out(cli, replay):
    """-x keeps its own instructions: a --role's prompt is added after them (as -s is), its model
    applies, and project instructions (AGENTS.md) are not sent for a one-line command."""
    env = cli([Reply.text("ls")], extra_config=(
        'models = ["role-model"]\n\n[roles.ops]\nsystem = "ROLE-PROMPT: prefer GNU tools."\n'
        'model = "replay/role-model"\n'))
    (env.config / "AGENTS.md").write_text("PROJECT-NOTE: run make test.\n")
    done = env.run("-x", "--role", "ops", "list files")
    assert done.code == 0 and done.out == "ls\n", done.err
    body = replay.requests(env.name)[0].body
    system = body["messages"][0]["content"]
    assert body["model"] == "role-model"
    assert "no code fences" in system and system.endswith("\n\nROLE-PROMPT: prefer GNU tools.")
    assert "PROJECT-NOTE" not in system
