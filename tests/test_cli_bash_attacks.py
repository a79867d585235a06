"""Held-out attacks through the real CLI: a scripted model asks the bash tool to delete a
victim directory, hidden in ways that fooled the old tokenizer; with and without ``--yes``,
with allow rules, without a terminal. The victim must survive every one. Also
``--dangerously-allow-all``, ``loomex tools check``, and that tree-sitter is not imported
by ``--help``, ``--version`` or a one-shot without tools."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cli_support import CliEnv, loomex_bin
from replay_server import Reply

ATTACKS = [
    "ls #'\nrm -rf victim #'",
    "git status $'\\'';rm -rf victim;#'",
    "ls\u00a0; rm -rf victim",
    "ls {rm,-rf,victim}; {rm,-rf,victim}",
    "ls `rm -rf victim`",
    "git status $(rm -rf victim)",
    "ls; eval 'rm -rf victim'",
    "ls; bash -c 'rm -rf victim'",
    "ls; env -S 'rm -rf victim'",
    "ls; X=rm; $X -rf victim",
    "ls; f() { rm -rf victim; }; f",
    "ls && rm -r''f victim",
    "ls; cat <<EOF | bash\nrm -rf victim\nEOF",
    "ls; rm *",
]
RULES = '\n[tools.bash]\nallow = ["ls *", "ls", "git status*", "cat *"]\n'


def _run(replay, tmp_path, command: str, *flags: str, rules: str = RULES, prefix: str = "atk"):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / "victim").mkdir(exist_ok=True)
    (work / "victim" / "precious.txt").write_text("keep me\n")
    (work / "-rf").write_text("")  # makes `rm *` a recursive delete
    name, url = replay.new_script([Reply.tool_calls([("c1", "bash", {"command": command})]),
                                   Reply.text("done")], prefix=prefix)
    env = CliEnv(tmp_path, url, extra_config=rules)
    p = subprocess.run([loomex_bin(), *flags, "-t", "bash", "tidy up"], cwd=work,
                       env=env.env(), capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert "Traceback" not in p.stderr, p.stderr
    return p, work, name


@pytest.mark.parametrize("flags", [(), ("--yes",)], ids=["no-flag", "yes"])
@pytest.mark.parametrize("command", ATTACKS)
def test_attacks_do_not_delete_the_victim(replay, tmp_path, command, flags):
    p, work, name = _run(replay, tmp_path, command, *flags)
    assert p.returncode == 0, p.stderr
    assert (work / "victim" / "precious.txt").read_text() == "keep me\n", (command, flags)
    tool = next(m["content"] for m in replay.requests(name)[1].body["messages"]
                if m["role"] == "tool")
    assert tool.startswith("Error: denied"), tool


def test_plain_allowed_commands_still_run(replay, tmp_path):
    p, work, name = _run(replay, tmp_path, "ls -a && git status --short 2>/dev/null")
    tool = next(m["content"] for m in replay.requests(name)[1].body["messages"]
                if m["role"] == "tool")
    assert "victim" in tool and not tool.startswith("Error: denied"), tool


def test_yes_runs_plain_commands_but_not_unreadable_ones(replay, tmp_path):
    p, work, name = _run(replay, tmp_path, "touch made.txt", "--yes", rules="")
    assert (work / "made.txt").exists()
    p, work, name = _run(replay, tmp_path, "touch $(echo other.txt)", "--yes", rules="",
                         prefix="atk2")
    assert not (work / "other.txt").exists()
    tool = next(m["content"] for m in replay.requests(name)[1].body["messages"]
                if m["role"] == "tool")
    assert "cannot read" in tool and "command substitution" in tool


def test_dangerously_allow_all_runs_everything_and_says_so(replay, tmp_path):
    p, work, name = _run(replay, tmp_path, "rm -rf victim && touch $(echo x.txt)",
                         "--dangerously-allow-all", rules="")
    assert p.returncode == 0, p.stderr
    assert not (work / "victim").exists() and (work / "x.txt").exists()
    warnings = [ln for ln in p.stderr.splitlines() if "--dangerously-allow-all" in ln]
    assert len(warnings) == 1 and warnings[0].startswith("loomex: warning:")


def _check(tmp_path, command: str, *flags: str) -> subprocess.CompletedProcess:
    env = CliEnv(tmp_path, extra_config='\n[tools.bash]\nallow = ["ls *"]\ndeny = ["sudo *"]\n')
    return subprocess.run([loomex_bin(), "tools", "check", *flags, command], cwd=tmp_path,
                          env=env.env(), capture_output=True, text=True, timeout=60)


def test_tools_check(tmp_path):
    p = _check(tmp_path, "ls -la")
    assert p.returncode == 0 and "plain: yes" in p.stdout and 'allow = ["ls *"]' in p.stdout
    assert "verdict: allow" in p.stdout
    p = _check(tmp_path, "ls #'\nrm -rf victim #'")
    assert p.returncode == 10, p.stdout + p.stderr
    assert "plain: no, a comment" in p.stdout and "rm -rf victim" in p.stdout
    assert "danger: recursive delete" in p.stdout and "verdict: ask" in p.stdout
    p = _check(tmp_path, "ls $(sudo id)")
    assert p.returncode == 11 and 'deny = ["sudo *"]' in p.stdout
    p = _check(tmp_path, "make", "--no-terminal")
    assert p.returncode == 11 and "verdict: deny" in p.stdout
    p = _check(tmp_path, "make", "--yes")
    assert p.returncode == 0
    listing = subprocess.run([loomex_bin(), "tools"], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and "bash" in listing.stdout
    assert "bash" in subprocess.run([loomex_bin(), "tools", "list"], capture_output=True,
                                    text=True, timeout=60).stdout


def test_tree_sitter_is_imported_only_for_a_bash_decision(replay, tmp_path):
    name, url = replay.new_script([Reply.text("ok")], prefix="lazy-ts")
    env = CliEnv(tmp_path, url)
    code = ("import sys\nfrom loomex_cli.__main__ import main\n"
            "for argv in ({argvs}):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "sys.stderr.write('TS=' + str(sorted(m for m in sys.modules "
            "if m.startswith('tree_sitter'))))\n")
    for argvs in ("['--version'], ['--help']", "['hi'],", "['-t', 'bash', 'hi'],"):
        p = subprocess.run([sys.executable, "-c", code.format(argvs=argvs)], capture_output=True,
                           text=True, env=env.env(), timeout=60, stdin=subprocess.DEVNULL)
        assert "TS=[]" in p.stderr, (argvs, p.stdout, p.stderr)
    # and it is loaded when a bash call is decided
    probe = ("import sys\nfrom loomex_cli.tools.policy import Policy\n"
             "from loomex_cli.tools.bash import BashTool\n"
             "Policy().decide(BashTool(), {'command': 'ls'})\n"
             "print('tree_sitter' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60).stdout.strip() == "True"
