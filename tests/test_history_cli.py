"""``loomex history``: the installed console script as a subprocess, over a database
populated through the Store API."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cli_support import Done, loomex_bin
from loomex_cli.engine.messages import Message, ToolCall
from loomex_cli.engine.store import Store


class History:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.db = self.data / "conversations.db"

    def run(self, *args: str) -> Done:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(LOOMEX_DATA_DIR=str(self.data), LOOMEX_CONFIG_DIR=str(self.root / "config"),
                   LOOMEX_CACHE_DIR=str(self.root / "cache"), NO_COLOR="1", COLUMNS="120")
        p = subprocess.run([loomex_bin(), "history", *args], capture_output=True, text=True,
                           env=env, timeout=60, stdin=subprocess.DEVNULL, cwd=self.root)
        assert "Traceback" not in p.stderr, p.stderr
        return Done(p.returncode, p.stdout, p.stderr)

    def store(self) -> Store:
        return Store.open(self.db)


def tool_conversation(n_result_lines: int = 30) -> list[Message]:
    return [
        Message.system("You are loomex.\nBe brief.\nUse tools.\nNever guess.\nline five"),
        Message.user("How many files are in src?\nCount them all."),
        Message.assistant("I'll list them.",
                          [ToolCall("c1", "bash", '{"command": "ls src | wc -l"}'),
                           ToolCall("c2", "glob", '{"pattern": "src/**/*.py"}')],
                          reasoning="Listing is the quickest way."),
        Message.tool("c1", "42", name="bash"),
        Message.tool("c2", "\n".join(f"src/file_{i}.py" for i in range(n_result_lines))),
        Message("assistant", "There are **42** files.",
                extra={"reasoning_details": [{"type": "reasoning.text", "text": "x"}]}),
    ]


@pytest.fixture
def hist(tmp_path: Path) -> History:
    return History(tmp_path)


@pytest.fixture
def populated(hist: History) -> tuple[History, str, str]:
    with hist.store() as s:
        old = s.create("prov/old-model", "chat", cwd="/somewhere")
        s.append(old, [Message.user("an older question about zebras"), Message.assistant("ok")])
        cid = s.create("openrouter/anthropic/claude-sonnet-4", "run", cwd=str(hist.root))
        for m in tool_conversation():
            s.append(cid, [m])
        s.update(cid, usage={"prompt_tokens": 1234, "completion_tokens": 56,
                             "total_tokens": 1290}, cost_usd=0.0123)
    return hist, cid, old


def test_list_without_a_database_creates_nothing(hist: History) -> None:
    for args in ((), ("list",), ("list", "query")):
        d = hist.run(*args)
        assert d.code == 0, d.err
        assert "no saved conversations" in d.out
    assert not hist.data.exists()


def test_list(populated: tuple[History, str, str]) -> None:
    hist, cid, old = populated
    d = hist.run()
    assert d.code == 0, d.err
    lines = d.out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(cid) and "openrouter/anthropic/claude-sonnet-4" in lines[0]
    assert "How many files are in src?" in lines[0] and "Count them all" not in lines[0]
    assert lines[1].startswith(old) and "an older question about zebras" in lines[1]
    assert hist.run("list").out == d.out
    one = hist.run("list", "--limit", "1")
    assert one.out.splitlines() == lines[:1]
    z = hist.run("list", "zebras")
    assert z.code == 0 and [ln.split()[0] for ln in z.out.splitlines()] == [old]
    none = hist.run("list", "no-such-thing-anywhere")
    assert none.code == 0 and "no saved conversations match" in none.out
    bad = hist.run("list", "--limit", "0")
    assert bad.code == 2


def test_show(populated: tuple[History, str, str]) -> None:
    hist, cid, _ = populated
    d = hist.run("show", cid)
    assert d.code == 0, d.err
    out = d.out
    assert "── user ──" in out and "── assistant ──" in out and "── system ──" in out
    assert "How many files are in src?\nCount them all." in out
    assert "openrouter/anthropic/claude-sonnet-4" in out and "1,234 in / 56 out" in out
    # tool calls: one line each
    call_lines = [ln for ln in out.splitlines() if "→" in ln]
    assert len(call_lines) == 2
    assert "bash" in call_lines[0] and "ls src | wc -l" in call_lines[0]
    assert "glob" in call_lines[1] and "src/**/*.py" in call_lines[1]
    # tool results clipped
    assert "src/file_0.py" in out and "src/file_29.py" not in out and "more lines" in out
    assert "Listing is the quickest way." in out
    assert "There are **42** files." in out
    assert "line five" not in out  # the system prompt is clipped too
    # a prefix and "last" work as well
    assert hist.run("show", cid[:5]).out == out
    assert hist.run("show", "last").out == out


def test_export_markdown(populated: tuple[History, str, str], tmp_path: Path) -> None:
    hist, cid, _ = populated
    d = hist.run("export", cid, "--format", "md")
    assert d.code == 0, d.err
    assert d.out.startswith("# How many files are in src?")
    assert "## user" in d.out and "**tool call** `bash`" in d.out and "src/file_29.py" in d.out
    assert hist.run("export", cid).out == d.out  # md is the default
    target = tmp_path / "out.md"
    w = hist.run("export", cid, "-f", "md", "-o", str(target))
    assert w.code == 0 and w.out == ""
    assert target.read_text(encoding="utf-8") == d.out


def test_export_json_is_lossless(populated: tuple[History, str, str], tmp_path: Path) -> None:
    hist, cid, _ = populated
    d = hist.run("export", cid, "--format", "json")
    assert d.code == 0, d.err
    doc = json.loads(d.out)
    assert doc["id"] == cid and doc["model"] == "openrouter/anthropic/claude-sonnet-4"
    assert doc["usage"]["prompt_tokens"] == 1234 and doc["cost_usd"] == pytest.approx(0.0123)
    assert doc["messages"] == [m.to_dict() for m in tool_conversation()]
    assert [Message.from_dict(x) for x in doc["messages"]] == tool_conversation()
    target = tmp_path / "out.json"
    assert hist.run("export", cid, "--format", "json", "-o", str(target)).code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == doc
    bad = hist.run("export", cid, "--format", "xml")
    assert bad.code == 2 and "md or json" in bad.err


def test_rm(populated: tuple[History, str, str]) -> None:
    hist, cid, old = populated
    d = hist.run("rm", cid)
    assert d.code == 0, d.err
    assert cid in d.out
    gone = hist.run("show", cid)
    assert gone.code == 2
    listed = hist.run()
    assert cid not in listed.out and old in listed.out
    assert hist.run("rm", cid).code == 2
    with Store.open(hist.db) as s:
        assert [m.id for m in s.list()] == [old]


def test_unknown_and_ambiguous_ids_exit_2(populated: tuple[History, str, str]) -> None:
    hist, cid, _ = populated
    for args in (("show", "zzzzzzzz"), ("export", "zzzzzzzz"), ("rm", "zzzzzzzz"),
                 ("export", "zzzzzzzz", "--format", "json")):
        d = hist.run(*args)
        assert d.code == 2, args
        assert d.out == ""
        assert d.err.count("\n") == 1 and "zzzzzzzz" in d.err and d.err.startswith("loomex: ")
    with hist.store() as s:
        ids = [cid, *(s.create("m") for _ in range(16))]
    first = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
    amb = hist.run("show", first)
    assert amb.code == 2 and "ambiguous" in amb.err and amb.err.count("\n") == 1


def test_unknown_id_without_a_database(hist: History) -> None:
    d = hist.run("show", "abcd1234")
    assert d.code == 2 and d.err.count("\n") == 1
    assert not hist.data.exists()


def test_history_help(hist: History) -> None:
    d = hist.run("--help")
    assert d.code == 0
    for cmd in ("list", "show", "export", "rm"):
        assert cmd in d.out
