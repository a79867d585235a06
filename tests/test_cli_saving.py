"""Every conversation is saved as it happens: one-shot, -c, --no-save, a killed process, the
REPL's --resume and /compact."""

from __future__ import annotations

import signal
import subprocess

from cli_support import CliEnv, Term, loomex_bin
from loomex_cli.engine.store import Store
from replay_server import Reply
from test_compaction import summary_reply


def store(env: CliEnv) -> Store:
    return Store.open(env.data / "conversations.db", create=False)


def test_one_shot_is_saved_and_continued(replay, tmp_path):
    name, url = replay.new_script([Reply.text("Four.", usage={"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}),
                                   Reply.text("Forty.")], prefix="save")
    env = CliEnv(tmp_path, url)
    assert env.run("--json", "What is 2+2?").code == 0
    with store(env) as s:
        first = s.last()
    assert [m.role for m in first.messages] == ["system", "user", "assistant"]
    assert first.messages[-1].content == "Four." and first.usage["total_tokens"] == 11
    assert first.title == "What is 2+2?" and first.source == "run"

    done = env.run("-c", "and times ten?")
    assert done.code == 0 and done.out == "Forty.\n"
    sent = replay.requests(name)[1].body["messages"]
    assert [m["content"] for m in sent[1:]] == ["What is 2+2?", "Four.", "and times ten?"]
    with store(env) as s:
        again = s.last()
    assert again.id == first.id and len(again.messages) == 5


def test_no_save_and_the_config_switch(replay, tmp_path):
    name, url = replay.new_script([Reply.text("a"), Reply.text("b")], prefix="nosave")
    env = CliEnv(tmp_path, url)
    assert env.run("--no-save", "hi").code == 0
    assert not (env.data / "conversations.db").exists()
    with open(env.config / "config.toml", "a") as f:
        f.write("\n")
    text = (env.config / "config.toml").read_text()
    (env.config / "config.toml").write_text("save = false\n" + text)
    assert env.run("hi").code == 0
    assert not (env.data / "conversations.db").exists()
    assert env.run("-c", "more").code == 2  # nothing to continue


def test_a_killed_process_leaves_a_readable_history(replay, tmp_path):
    slow_tool = Reply.tool_calls([("c1", "bash", {"command": "sleep 30"})], text="Let me wait.")
    name, url = replay.new_script([slow_tool], prefix="killed")
    env = CliEnv(tmp_path, url)
    proc = subprocess.Popen([loomex_bin(), "-y", "-t", "bash", "--verbose", "wait for it"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env.env(), cwd=tmp_path)
    line = ""
    while "bash(" not in line:  # the tool line: the assistant message exists by now
        line = proc.stderr.readline()
        assert line, "loomex ended before the tool started"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with store(env) as s:
        conv = s.last()
        assert s._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    roles = [m.role for m in conv.messages]
    assert roles == ["system", "user", "assistant"]
    assert conv.messages[-1].tool_calls[0].name == "bash"
    assert conv.messages[-1].content == "Let me wait."


def test_repl_resume_and_compact(replay, tmp_path, tmux):
    def respond(body):
        if body.get("stream") is not True:
            return summary_reply("SUMMARY: they talked about numbers.")
        n = sum(1 for m in body["messages"] if m["role"] == "user")
        return Reply.text(f"answer {n} " + "z" * 200)
    name = replay.unique_name("compact-repl")
    url = replay.responder(name, respond)
    env = CliEnv(tmp_path, url)
    assert env.run("question one").code == 0
    with store(env) as s:
        conv_id = s.last().id

    t = Term(tmux, env.env(), [loomex_bin(), "chat", "--resume", conv_id[:5]])
    try:
        t.wait_for("resumed " + conv_id)
        for q in ("question two", "question three"):
            t.type(q)
            t.keys("Enter")
        t.wait_for("answer 3")
        t.type("/compact keep the numbers")
        t.keys("Enter")
        t.wait_for("compacted:")
        summary_req = [r.body for r in replay.requests(name) if r.body.get("stream") is not True]
        assert len(summary_req) == 1 and "keep the numbers" in summary_req[0]["messages"][0]["content"]
        t.type("question four")
        t.keys("Enter")
        t.wait_for("answer 3", after=1)  # the summary, question three, question four
        last = replay.requests(name)[-1].body["messages"]
        assert any("SUMMARY: they talked" in (m.get("content") or "") for m in last)
        t.type("/exit")
        t.keys("Enter")
        t.wait_for("EXITED=0")
    finally:
        t.close()
    with store(env) as s:
        conv = s.get(conv_id)
    users = [m.content for m in conv.messages if m.role == "user"]
    assert users == ["question one", "question two", "question three", "question four"]
    assert not any("SUMMARY" in (m.content or "") for m in conv.messages)  # full history on disk
