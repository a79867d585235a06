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
    t.wait_for("model replay/another · provider replay")
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
    assert "EXITED=0" in t.leave_with_ctrl_d()


def user_texts(replay, name, i=-1):
    return [m["content"] for m in replay.requests(name)[i].body["messages"] if m["role"] == "user"]


def no_two_users(replay, name, i=-1):
    roles = [m["role"] for m in replay.requests(name)[i].body["messages"]]
    return all(not (a == b == "user") for a, b in zip(roles, roles[1:]))


def test_failed_turn_retry_and_clear(term, replay, tmp_path):
    err = Reply.json({"error": {"message": "bad request, try later"}}, status=400)
    name, url = replay.new_script([err, Reply.text("second ok", usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}),
                                   Reply.text("retried ok")], prefix="retry")
    env = CliEnv(tmp_path, url)
    t = term(env)
    t.type("first question")
    t.keys("Enter")
    t.wait_for("bad request")
    t.type("second question")
    t.keys("Enter")
    t.wait_for("second ok")
    assert no_two_users(replay, name) and user_texts(replay, name) == ["second question"]
    t.type("/retry")
    t.keys("Enter")
    t.wait_for("retried ok")
    assert no_two_users(replay, name) and user_texts(replay, name) == ["second question"]
    t.type("/usage")
    t.keys("Enter")
    t.wait_for("over 3 turns")  # the failed one too
    t.type("/clear")
    t.keys("Enter")
    t.wait_for("a new conversation")
    t.type("/usage")
    t.keys("Enter")
    t.wait_for("0 in / 0 out tokens over 0 turns")
    assert "EXITED=0" in t.leave_with_ctrl_d()
    from loomex_cli.engine.store import Store
    with Store.open(env.data / "conversations.db", create=False) as s:
        conv = s.last()
    # the saved conversation is what happened: the failed question is there
    assert [m.content for m in conv.messages if m.role == "user"] == \
        ["first question", "second question", "second question"]


def test_model_completion_file_paste_search_and_editor(term, replay, tmp_path):
    name, url = replay.new_script([Reply.text("ok")], prefix="grown", repeat_last=True)
    env = CliEnv(tmp_path, url, extra_config='models = ["alpha-model", "beta-model"]\n')
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\n{ cat "$1"; printf "edited in the editor"; } > "$1.new" && mv "$1.new" "$1"\n')
    editor.chmod(0o755)
    env_vars = env.env(EDITOR=str(editor))
    t = Term(tmux_path(), env_vars, [loomex_bin(), "chat"])
    try:
        t.wait_for("›")
        t.type("/model replay/be")
        t.wait_for("replay/beta-model")  # the completion menu offers it
        t.keys("Tab")
        t.keys("Enter")
        t.wait_for("model replay/beta-model · provider replay")

        notes = tmp_path / "notes.txt"
        notes.write_text("hello file\n")
        t.type(f"/file {notes}")
        t.keys("Enter")
        t.wait_for("added")
        t.type("what is in it")
        t.keys("Enter")
        t.wait_for("ok")
        assert user_texts(replay, name)[-1] == f'what is in it\n\n<file path="{notes}">\nhello file\n</file>'
        assert replay.requests(name)[-1].body["model"] == "beta-model"

        sent = len(replay.requests(name))
        t.paste("pasted one\npasted two\n\npasted four")
        t.wait_for("pasted four")
        assert len(replay.requests(name)) == sent  # the newlines did not send it
        t.keys("Enter")
        t.wait_for("›", after=3)
        wait_requests(replay, name, sent + 1)
        assert user_texts(replay, name)[-1] == "pasted one\npasted two\n\npasted four"

        t.keys("C-r")  # sent while the answer may still stream: kept for the next prompt
        t.type("in it")
        t.wait_for("what is in it", after=1)
        t.keys("Enter")  # takes the match into the line
        t.keys("Enter")  # and sends it
        wait_requests(replay, name, sent + 2)
        assert user_texts(replay, name)[-1] == "what is in it"

        t.type("/edit")
        t.keys("Enter")
        t.wait_for("› edited in the editor")
        t.keys("Enter")
        wait_requests(replay, name, sent + 3)
        assert user_texts(replay, name)[-1] == "edited in the editor"

        t.type("start ")
        t.keys("C-x", "C-e")
        t.wait_for("› start edited in the editor")
        t.keys("Enter")
        wait_requests(replay, name, sent + 4)
        assert user_texts(replay, name)[-1] == "start edited in the editor"
        assert "EXITED=0" in t.leave_with_ctrl_d()
    finally:
        t.close()


def tmux_path() -> str:
    import shutil
    return shutil.which("tmux") or "tmux"


def wait_requests(replay, name, n, timeout=15):
    import time
    deadline = time.monotonic() + timeout
    while len(replay.requests(name)) < n:
        assert time.monotonic() < deadline, f"{len(replay.requests(name))} requests, wanted {n}"
        time.sleep(0.05)


def test_compact_never_makes_the_context_bigger(term, replay, tmp_path):
    from test_compaction import summary_reply

    def respond(body):
        if body.get("stream") is not True:  # a summary far longer than what it replaces
            return summary_reply("SUMMARY: " + "long-winded " * 400)
        return Reply.text(f"short {sum(m['role'] == 'user' for m in body['messages'])}")
    name = replay.unique_name("compact-grow")
    env = CliEnv(tmp_path, replay.responder(name, respond))
    t = term(env)
    for n, q in enumerate(("q one", "q two", "q three"), 1):
        t.type(q)
        t.keys("Enter")
        t.wait_for(f"short {n}")
    t.type("/compact")
    t.keys("Enter")
    t.wait_for("would not make the context smaller")
    assert "compacted:" not in t.screen()
    t.type("q four")
    t.keys("Enter")
    t.wait_for("short 4")
    last = replay.requests(name)[-1].body["messages"]
    assert [m["content"] for m in last if m["role"] == "user"] == ["q one", "q two", "q three", "q four"]
    assert not any("SUMMARY" in (m.get("content") or "") for m in last)


def test_chat_with_a_first_message_sends_it_then_prompts(term, replay, tmp_path):
    """The seed's form: `loomex chat --tools bash,grep "Find all TODOs"`."""
    name, url = replay.new_script([Reply.text("Found 2 TODOs."), Reply.text("Bye.")],
                                  prefix="repl-first")
    env = CliEnv(tmp_path, url)
    t = term(env, "--tools", "bash,grep", "Find all TODOs")
    t.wait_for("Found 2 TODOs.")
    first = replay.requests(name)[0].body
    assert first["messages"][-1] == {"role": "user", "content": "Find all TODOs"}
    assert {tl["function"]["name"] for tl in first["tools"]} == {"bash", "grep"}
    t.wait_for("›", after=1)
    t.type("thanks")
    t.keys("Enter")
    t.wait_for("Bye.")
    assert [m["role"] for m in replay.requests(name)[1].body["messages"]][-3:] == \
        ["user", "assistant", "user"]
