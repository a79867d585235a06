"""``/context`` and ``/role`` in the REPL, driven in tmux, checked on the screen and on the
request the loopback server received."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_support import CliEnv, Term, loomex_bin
from loomex_cli.engine.context_files import MAX_FILE
from replay_server import Reply

ROLES = '''
[roles.coder]
system = "You write Python."
model = "replay/role-model"
tools = ["read_file", "grep"]
temperature = 0.7

[roles.terse]
system = "One word."

[aliases]
fast = "replay/llama-fast"
'''


@pytest.fixture
def chat(tmux):
    made: list[Term] = []

    def start(env: CliEnv, cwd: Path, *args: str) -> Term:
        cmd = ["sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", str(cwd), loomex_bin(),
               "chat", *args]
        t = Term(tmux, env.env(), cmd, width=220)
        made.append(t)
        t.wait_prompt()
        return t
    yield start
    for t in made:
        t.close()


def test_context_and_role(chat, replay, tmp_path):
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "AGENTS.md").write_text("Root rules.\n")  # 12 bytes
    (root / "sub" / "AGENTS.md").write_text("z" * (MAX_FILE + 5))
    name, url = replay.new_script([Reply.text("Done.")], prefix="ctxrepl")
    env = CliEnv(tmp_path / "home", url, extra_config=ROLES)
    t = chat(env, root / "sub")

    t.type("/context")
    t.keys("Enter")
    t.wait_for("context files, in the order")
    screen = t.wait_prompt()
    assert f"  {root}/AGENTS.md  12 bytes\n" in screen
    assert f"  {root}/sub/AGENTS.md  {MAX_FILE + 5:,} bytes, cut to {MAX_FILE:,}\n" in screen

    t.type("/role")
    t.keys("Enter")
    t.wait_for("roles (config.toml")
    screen = t.wait_prompt()
    assert ('  coder: model replay/role-model · tools read_file,grep · temperature 0.7 · '
            'system "You write Python."') in screen
    assert '  terse: system "One word."' in screen

    t.type("/role coder")
    t.keys("Enter")
    t.wait_for("now: model replay/role-model")
    screen = t.wait_prompt()
    assert "now: model replay/role-model · tools read_file, grep · temperature 0.7" in screen

    t.type("/role")
    t.keys("Enter")
    t.wait_for("* coder:")
    t.wait_prompt()

    t.type("hello")
    t.keys("Enter")
    t.wait_for("Done.")
    body = replay.requests(name)[-1].body
    assert body["model"] == "role-model" and body["temperature"] == 0.7
    assert [x["function"]["name"] for x in body["tools"]] == ["read_file", "grep"]
    system = body["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You write Python.\n\n# Project instructions\n\n")
    assert f"## {root}/AGENTS.md\n\nRoot rules." in system["content"]
    assert system["content"].endswith(f"only the first {MAX_FILE:,} are included]")
    t.leave_with_ctrl_d()


def test_unknown_role_keeps_everything(chat, replay, tmp_path):
    name, url = replay.new_script([Reply.text("Still.")], prefix="ctxrepl")
    env = CliEnv(tmp_path / "home", url, extra_config=ROLES)
    d = tmp_path / "plain"
    d.mkdir()
    t = chat(env, d, "--no-context-files")
    t.type("/context")
    t.keys("Enter")
    t.wait_for("context files are off (--no-context-files)")
    t.wait_prompt()
    t.type("/role nope")
    t.keys("Enter")
    t.wait_for("no role 'nope' in config.toml (roles: coder, terse)")
    t.wait_prompt()
    t.type("/model fast")
    t.keys("Enter")
    t.wait_for("model replay/llama-fast · provider replay")
    assert "from /model, alias fast" in t.wait_prompt()
    t.type("hi")
    t.keys("Enter")
    t.wait_for("Still.")
    body = replay.requests(name)[-1].body
    assert body["model"] == "llama-fast" and "tools" not in body
    t.leave_with_ctrl_d()


def test_role_names_complete_with_tab(chat, replay, tmp_path):
    name, url = replay.new_script([Reply.text("ok")], prefix="ctxrepl")
    env = CliEnv(tmp_path / "home", url, extra_config=ROLES)
    t = chat(env, tmp_path, "--no-context-files")
    t.type("/role te")
    t.wait_for("terse")  # the completion menu offers it
    t.keys("Tab")
    t.keys("Enter")
    t.wait_for('role terse: system "One word."')
    t.leave_with_ctrl_d()
