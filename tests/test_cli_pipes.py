"""Pipes through the real CLI: a slow producer is waited for, a reader that leaves (``| head``)
ends loomex quietly with the conversation saved, and the run says which model it used."""

from __future__ import annotations

import json
import os
import shlex
import subprocess

import pytest

from cli_support import SECRET, CliEnv, loomex_bin
from loomex_cli.engine.store import Store
from replay_server import Reply

USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
NOTE = "waiting for stdin; Ctrl-D or --no-stdin to skip"


@pytest.fixture
def cli(replay, tmp_path):
    def make(replies, **kw):
        name, url = replay.new_script(replies, prefix="pipes")
        env = CliEnv(tmp_path, url, **kw)
        env.name = name
        return env
    return make


def sh(env: CliEnv, line: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A real shell pipeline; ``$LOOMEX`` is the installed console script."""
    p = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=timeout,
                       env=env.env(LOOMEX=loomex_bin()), stdin=subprocess.DEVNULL)
    assert SECRET not in p.stdout + p.stderr and "Traceback" not in p.stderr, p.stderr
    return p


def users(replay, env, i: int = -1) -> list[str]:
    body = replay.requests(env.name)[i].body
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


def test_a_slow_producer_is_waited_for_with_one_note(cli, replay):
    env = cli([Reply.text("seen")])
    p = sh(env, '(sleep 4; echo data) | "$LOOMEX" "what is this"')
    assert p.returncode == 0 and p.stdout == "seen\n"
    assert p.stderr.count(NOTE) == 1
    assert users(replay, env) == ["what is this\n\n<stdin>\ndata\n</stdin>"]


def test_a_quick_producer_gets_no_note(cli, replay):
    env = cli([Reply.text("ok")])
    p = sh(env, 'echo data | "$LOOMEX" "what is this"')
    assert p.returncode == 0 and p.stderr == ""
    assert users(replay, env) == ["what is this\n\n<stdin>\ndata\n</stdin>"]


def test_no_stdin_skips_an_open_pipe_and_stdin_flag_is_accepted(cli, replay):
    env = cli([Reply.text("went on"), Reply.text("again")])
    r, w = os.pipe()  # the write end stays open and silent
    try:
        p = subprocess.run([loomex_bin(), "--no-stdin", "hi"], stdin=r, capture_output=True,
                           text=True, env=env.env(), timeout=30)
    finally:
        os.close(r)
        os.close(w)
    assert p.returncode == 0 and p.stdout == "went on\n" and p.stderr == ""
    assert users(replay, env) == ["hi"]
    done = env.run("--stdin", "hi", input="piped\n")  # the old flag: no effect, no error
    assert done.code == 0 and users(replay, env) == ["hi\n\n<stdin>\npiped\n</stdin>"]


def test_ctrl_c_while_waiting_exits_130_quietly(cli, replay):
    env = cli([Reply.text("never")])
    r, w = os.pipe()
    proc = subprocess.Popen([loomex_bin(), "hi"], stdin=r, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env.env())
    os.close(r)
    try:
        err = ""
        import select
        # the note comes after 3 s of silence: then loomex is surely waiting
        while NOTE not in err:
            ready = select.select([proc.stderr], [], [], 20)[0]
            assert ready, "no note within 20 s"
            err += os.read(proc.stderr.fileno(), 4096).decode()
        proc.send_signal(2)
        out, rest = proc.communicate(timeout=20)
    finally:
        proc.kill()
        os.close(w)
    assert proc.returncode == 130 and out == ""
    assert "Traceback" not in rest and "error" not in rest
    assert replay.requests(env.name) == []


def long_answer() -> Reply:
    return Reply.text(*[f"line {i}\n" for i in range(400)], delay=0.005, usage=USAGE)


def saved(env: CliEnv):
    with Store.open(env.data / "conversations.db", create=False) as s:
        return s.last()


@pytest.mark.parametrize("flags", ["", "--json"])
def test_head_1_exits_quietly_and_the_conversation_is_saved(cli, replay, flags):
    env = cli([long_answer()])
    p = sh(env, f'set -o pipefail; "$LOOMEX" {flags} "count to 400" | head -1; '
                'echo "status=${PIPESTATUS[0]}" >&2')
    assert "status=141" in p.stderr, p.stderr
    assert p.stderr.replace("status=141", "").strip() == ""  # no message, no warning
    first = p.stdout.splitlines()
    assert len(first) == 1
    if flags:
        start = json.loads(first[0])
        assert start["type"] == "start" and start["model"] == "replay/test-model"
    else:
        assert first == ["line 0"]
    conv = saved(env)
    assert conv is not None and conv.title == "count to 400"
    assert [m.role for m in conv.messages][:2] == ["system", "user"]


@pytest.mark.parametrize("args", [["hi"], ["--json", "hi"], ["tools"], ["history"],
                                  ["models"], ["config", "show"]])
def test_a_reader_gone_before_the_first_write(cli, replay, args):
    """stdout is a pipe whose reader has already closed: every write fails, including the
    interpreter's final flush of what print() buffered."""
    env = cli([Reply.text("a\n" * 3)])
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([loomex_bin(), *args], stdin=subprocess.DEVNULL, stdout=w,
                           stderr=subprocess.PIPE, text=True, env=env.env(), timeout=30)
    finally:
        os.close(w)
    if args == ["models"]:  # offline with no cache: it says so on stderr, as always
        assert p.stderr.startswith("(model metadata unavailable")
        p.stderr = ""
    assert (p.returncode, p.stderr) == (141, "")


def test_model_and_provider_are_said(cli, replay):
    env = cli([Reply.text("a"), Reply.text("b"), Reply.text("c")])
    done = env.run("-v", "hi")
    host = replay.base.split("//")[1].split("/")[0]
    line = f"model replay/test-model · provider replay ({host}) · from config.toml default_model"
    assert line in done.err.splitlines()
    quiet = env.run("hi")  # stderr is not a terminal and no -v: nothing
    assert quiet.err == ""
    done = env.run("--json", "-m", "replay/other", "hi")
    start = json.loads(done.out.splitlines()[0])
    assert start == {"type": "start", "model": "replay/other", "provider": "replay",
                     "endpoint": host, "model_source": "--model"}
    assert json.loads(done.out.splitlines()[1])["type"] == "step_start"


def test_config_show_masks_secret_headers(tmp_path):
    extra = ("[providers.acme]\n"
             'base_url = "https://acme.example/v1"\n'
             'api_key = "sk-acme-0123456789abcdef"\n'
             "[providers.acme.headers]\n"
             'Authorization = "Bearer tok-0123456789abcdef"\n'
             '"x-api-key" = "xk-0123456789abcdef"\n'
             '"X-Session-Token" = "st-0123456789abcdef"\n'
             '"X-Title" = "loomex"\n')
    env = CliEnv(tmp_path, "http://127.0.0.1:9/v1", extra_config=extra)
    done = env.run("config", "show")
    assert done.code == 0
    for secret in ("sk-acme-0123456789abcdef", "tok-0123456789abcdef", "xk-0123456789abcdef",
                   "st-0123456789abcdef"):
        assert secret not in done.out
    assert 'X-Title = "loomex"' in done.out  # not secret-looking: shown as it is
    assert "Authorization" in done.out and "x-api-key" in done.out


def test_a_failed_turn_is_not_sent_twice_with_continue(cli, replay):
    err = Reply.json({"error": {"message": "bad request, try later"}}, status=400)
    env = cli([err, Reply.text("fine")])
    first = env.run("first question")
    assert first.code != 0
    done = env.run("-c", "second question")
    assert done.code == 0 and done.out == "fine\n"
    roles = [m["role"] for m in replay.requests(env.name)[1].body["messages"]]
    assert all(not (a == b == "user") for a, b in zip(roles, roles[1:])), roles
    assert users(replay, env) == ["second question"]
    conv = saved(env)  # the saved conversation says what happened: both questions
    assert [m.content for m in conv.messages if m.role == "user"] == \
        ["first question", "second question"]


def test_history_query_and_n_work_as_the_readme_says(cli, replay):
    env = cli([Reply.text("one"), Reply.text("two"), Reply.text("three")])
    for q in ("apples please", "pears please", "apples again"):
        assert env.run(q).code == 0
    found = env.run("history", "apples")
    assert found.code == 0 and "apples again" in found.out and "apples please" in found.out
    assert "pears" not in found.out
    assert len(env.run("history", "-n", "1").out.splitlines()) == 1
    assert len(env.run("history", "apples", "-n", "1").out.splitlines()) == 1
    assert env.run("history", "list", "pears").out.count("pears please") == 1


def test_no_help_mentions_the_seed(tmp_path):
    env = CliEnv(tmp_path)
    cmds = [[], ["run"], ["chat"], ["serve"], ["keys"], ["keys", "set"], ["keys", "list"],
            ["keys", "remove"], ["config"], ["config", "show"], ["config", "path"], ["models"],
            ["tools"], ["history"], ["history", "list"], ["history", "show"],
            ["history", "export"], ["history", "rm"]]
    for c in cmds:
        done = env.run(*c, "--help")
        assert done.code == 0, (c, done.err)
        assert "seed" not in done.out.lower(), shlex.join(c)


def test_the_model_line_in_a_terminal(cli, replay, tmux):
    from cli_support import Term
    env = cli([Reply.text("hello there")])
    t = Term(tmux, env.env(), [loomex_bin(), "say hello"])
    try:
        screen = t.wait_for("EXITED=0")
        lines = screen.splitlines()
        assert any(ln.startswith("model replay/test-model · provider replay (") for ln in lines)
        assert "hello there" in screen
    finally:
        t.close()


def test_drop_unanswered_keeps_a_compaction_note_in_a_live_conversation():
    from loomex_cli.cli.saving import drop_unanswered
    from loomex_cli.engine.messages import Message
    note, q3, a3 = Message.user("[summary]"), Message.user("q3"), Message.assistant("a3")
    live = [Message.system("s"), note, q3, a3, Message.user("failed")]
    assert drop_unanswered(live) == live[:4]  # only the trailing, unanswered one goes
    saved = [Message.system("s"), Message.user("failed"), q3, a3, Message.user("failed too")]
    assert drop_unanswered(saved, saved=True) == [saved[0], q3, a3]


def test_a_config_error_comes_before_waiting_for_stdin(cli, replay):
    """A misconfigured run fails at once, not after the build piped into it has finished."""
    env = cli([Reply.text("never")])
    r, w = os.pipe()  # a producer that has not written anything yet, and may take hours
    try:
        p = subprocess.run([loomex_bin(), "-m", "nosuchprovider/x", "why did it fail"], stdin=r,
                           capture_output=True, text=True, env=env.env(), timeout=30)
    finally:
        os.close(r)
        os.close(w)
    assert p.returncode == 3 and "nosuchprovider" in p.stderr and NOTE not in p.stderr


def test_no_prompt_and_nothing_to_read_is_a_usage_error(cli, replay):
    env = cli([Reply.text("never")])
    assert env.run("--no-stdin", "").code == 2
    done = env.run("", input="   \n")  # a pipe that brings only blanks
    assert done.code == 2 and "no prompt" in done.err
