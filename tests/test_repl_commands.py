"""The REPL's slash commands as dispatched by cli/repl_commands.py (unit tests, on a fake REPL:
the commands in a real terminal are driven in tmux by test_repl_tmux.py and its neighbours)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from types import SimpleNamespace

from loomex_cli.cli import repl_commands
from loomex_cli.cli.repl_commands import COMMANDS, KEYS, run_command

#: what /help lists, in its order
NAMES = ["/help", "/model", "/tools", "/system", "/role", "/context", "/effort", "/retry",
         "/file", "/edit", "/clear", "/usage", "/compact", "/save", "/mcp", "/exit"]


def fake_repl(**kw):
    base = dict(usage={}, turns=0, last_text="", last_content=None)
    return SimpleNamespace(**{**base, **kw})


def run(repl, line):
    return asyncio.run(run_command(repl, line))


def test_help_lists_every_command_once_with_the_keys(capsys):
    assert run(fake_repl(), "/help") is False
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == NAMES == list(COMMANDS)
    assert lines[:-1] == [f"  {name:<9} {text}" for name, text in COMMANDS.items()]
    assert lines[-1] == f"  {KEYS}"


def test_each_listed_command_runs_and_only_those():
    assert set(repl_commands._RUN) == set(COMMANDS) | {"/quit"}


def test_exit_and_quit_leave(capsys):
    assert run(fake_repl(), "/exit") is True
    assert run(fake_repl(), "/quit") is True
    assert capsys.readouterr() == ("", "")


def test_an_unknown_command_is_one_line_and_the_repl_goes_on(capsys):
    assert run(fake_repl(), "/nope some words") is False
    err = capsys.readouterr().err
    assert err == ("loomex: unknown command /nope; /help lists them "
                   "(a message that starts with / : type //)\n")


def test_a_command_error_is_one_line(capsys):
    assert run(fake_repl(), "/retry") is False
    assert run(fake_repl(), "/save   ") is False
    assert capsys.readouterr().err == "loomex: nothing to retry yet\nloomex: /save FILE\n"


def test_usage(capsys):
    repl = fake_repl(usage={"prompt_tokens": 1234, "completion_tokens": 5}, turns=2)
    assert run(repl, "/usage") is False
    assert capsys.readouterr().out == "1,234 in / 5 out tokens over 2 turns\n"


def test_the_repl_loads_none_of_what_the_commands_need():
    code = ("import sys, loomex_cli.cli.repl\n"
            "print(' '.join(m for m in sys.modules if m.startswith('loomex_cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert "loomex_cli.cli.repl_commands" in out
    lazy = ["loomex_cli.cli.announce", "loomex_cli.cli.roles_view", "loomex_cli.cli.context_view",
            "loomex_cli.cli.mcp_cmd", "loomex_cli.cli.repl_prompt", "loomex_cli.wire.effort",
            "loomex_cli.engine.compaction", "loomex_cli.engine.transcript"]
    assert [m for m in lazy if m in out] == []
