"""The registry of built-ins, the human tool, and what importing the tools costs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest

from loomex_cli import RunContext, Tool, ToolError
from loomex_cli.engine.tools import as_tool
from loomex_cli.tools import BUILTINS, SUMMARIES, resolve_tools
from loomex_cli.tools.human import HumanTool

NAMES = ["read_file", "write_file", "edit_file", "bash", "grep", "glob", "human"]


def test_builtins_and_their_shape():
    assert list(BUILTINS) == NAMES
    risks = {name: cls.risk for name, cls in BUILTINS.items()}
    assert risks == {"read_file": "read", "write_file": "write", "edit_file": "write",
                     "bash": "exec", "grep": "read", "glob": "read", "human": "read"}
    for name, cls in BUILTINS.items():
        t = as_tool(cls())
        assert isinstance(t, Tool) and t.name == name
        assert t.description and t.parameters["type"] == "object"
        assert set(t.parameters["required"]) <= set(t.parameters["properties"])
        json.dumps(t.spec())
        assert SUMMARIES[name] and "\n" not in SUMMARIES[name]


def test_resolve_tools_forms():
    assert [t.name for t in resolve_tools("bash,grep")] == ["bash", "grep"]
    assert [t.name for t in resolve_tools(" grep , bash ,")] == ["grep", "bash"]
    assert [t.name for t in resolve_tools("all")] == NAMES
    assert [t.name for t in resolve_tools(["glob", "glob", "human"])] == ["glob", "human"]
    assert resolve_tools("") == [] and resolve_tools("none") == []
    a, b = resolve_tools("bash"), resolve_tools("bash")
    assert a[0] is not b[0]  # fresh instances


def test_resolve_tools_unknown_names():
    with pytest.raises(ValueError) as e:
        resolve_tools("bash,grpe,nope")
    msg = str(e.value)
    assert "\n" not in msg
    assert "'grpe'" in msg and "'nope'" in msg
    for name in NAMES:
        assert name in msg


# -- human -------------------------------------------------------------------------------

def ctx_with(ask) -> RunContext:
    return RunContext(agent=None, messages=[], ask_human=ask)  # type: ignore[arg-type]


def test_human_without_a_person():
    with pytest.raises(ToolError) as e:
        asyncio.run(HumanTool().execute({"question": "Which DB?"}, ctx_with(None)))
    assert "no human is available" in str(e.value)
    assert "best judgement" in str(e.value)


def test_human_sync_answer_runs_off_the_loop():
    seen = {}

    def ask(q):
        seen["q"] = q
        seen["thread"] = threading.current_thread() is threading.main_thread()
        return "Postgres"

    out = asyncio.run(HumanTool().execute({"question": "Which DB?"}, ctx_with(ask)))
    assert out == "Postgres" and seen == {"q": "Which DB?", "thread": False}


def test_human_async_answer_and_empty_answer():
    async def ask(q):
        await asyncio.sleep(0)
        return "  "

    out = asyncio.run(HumanTool().execute({"question": "Anything?"}, ctx_with(ask)))
    assert out == "(the person answered with nothing)"


def test_human_eof_means_no_answer():
    def ask(q):
        raise EOFError

    with pytest.raises(ToolError, match="did not answer"):
        asyncio.run(HumanTool().execute({"question": "Hm?"}, ctx_with(ask)))


def test_human_questions_are_asked_one_at_a_time():
    active = []
    peak = []

    def ask(q):
        active.append(q)
        peak.append(len(active))
        threading.Event().wait(0.05)
        active.remove(q)
        return q.upper()

    async def main():
        t = HumanTool()
        return await asyncio.gather(*(t.execute({"question": f"q{i}"}, ctx_with(ask))
                                      for i in range(3)))

    assert asyncio.run(main()) == ["Q0", "Q1", "Q2"]
    assert max(peak) == 1


# -- import cost -----------------------------------------------------------------------

def test_importing_the_tools_is_cheap():
    code = ("import sys; import loomex_cli.tools as t; t.BUILTINS; t.resolve_tools('all'); "
            "heavy = ['asyncio', 'difflib', 'subprocess', 'rich', 'typer', 'prompt_toolkit', "
            "'httpx2', 'tempfile']; print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
