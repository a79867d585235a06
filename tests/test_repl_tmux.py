"""The REPL driven in a real terminal: tmux send-keys and capture-pane."""

from __future__ import annotations

import pytest

from cli_support import CliEnv, Term, loomex_bin
from replay_server import Reply


@pytest.fixture
def term(tmux):
    made: list[Term] = []

    def start(env: CliEnv, *args: str) -> Term:
        t = Term(tmux, env.env(), [loomex_bin(), "chat", *args])
        made.append(t)
        t.wait_for("›")
        return t
    yield start
    for t in made:
        t.close()


def test_ask_follow_up_interrupt_exit_and_history(term, replay, tmp_path):
    slow = Reply.text(*[f"tick{i} " for i in range(200)], delay=0.05)
    name, url = replay.new_script([
        Reply.text("The answer is 4."),
        Reply.text("Times ten: 40."),
        slow,
        Reply.text("Still here."),
    ], prefix="repl")
    env = CliEnv(tmp_path, url)
    t = term(env)

    t.type("What is 2+2?")
    t.keys("Enter")
    t.wait_for("The answer is 4.")
    t.wait_for("›", after=1)

    t.type("Now multiply that by 10")
    t.keys("Enter")
    t.wait_for("Times ten: 40.")
    second = replay.requests(name)[1].body["messages"]
    assert [m["role"] for m in second][-3:] == ["user", "assistant", "user"]
    assert second[-2]["content"] == "The answer is 4."  # the model saw the history

    t.type("Count slowly")
    t.keys("Enter")
    t.wait_for("tick3")
    t.keys("C-c")
    t.wait_for("interrupted")
    t.wait_for("›", after=3)
    assert "tick199" not in t.screen()

    t.type("Are you there?")
    t.keys("Enter")
    t.wait_for("Still here.")
    fourth = replay.requests(name)[3].body["messages"]
    partial = fourth[-2]
    assert partial["role"] == "assistant" and partial["content"].startswith("tick0 tick1 tick2")

    t.type("/exit")
    t.keys("Enter")
    t.wait_for("EXITED=0")

    # a new REPL finds the history: Up recalls the last line typed
    t2 = term(env)
    t2.keys("Up")
    t2.wait_for("› /exit")
    t2.keys("Up")
    t2.wait_for("› Are you there?")
    t2.keys("C-u", "C-d")
    t2.wait_for("EXITED=0")


def test_multiline_and_slash_commands(term, replay, tmp_path):
    name, url = replay.new_script([Reply.text("got both lines")], prefix="repl2")
    env = CliEnv(tmp_path, url)
    t = term(env)
    t.type("first line")
    t.keys("Escape", "Enter")
    t.type("second line")
    t.keys("Enter")
    t.wait_for("got both lines")
    assert replay.requests(name)[0].body["messages"][-1]["content"] == "first line\nsecond line"

    t.type("/usage")
    t.keys("Enter")
    t.wait_for("over 1 turns")
    t.type("/model replay/another")
    t.keys("Enter")
    t.wait_for("model: replay/another")
    t.type("/model nosuch/x")
    t.keys("Enter")
    t.wait_for("unknown provider 'nosuch'")
    save = tmp_path / "talk.md"
    t.type(f"/save {save}")
    t.keys("Enter")
    t.wait_for("saved to")
    text = save.read_text()
    assert "## user\n\nfirst line\nsecond line" in text and "got both lines" in text
    t.type("/clear")
    t.keys("Enter")
    t.wait_for("a new conversation")
    t.type("partial words")
    t.keys("C-c")  # clears the line, stays in the REPL
    t.keys("C-d")
    t.wait_for("EXITED=0")
