"""Keys typed while no prompt is on screen (start-up, an answer streaming, a question coming),
in a real terminal: tmux send-keys, capture-pane and ``stty -a`` in the pane after the REPL
exits. The loopback replay server slows the answers down."""

from __future__ import annotations

import os
import re
import signal
import termios
from pathlib import Path

import pytest

from cli_support import CliEnv, Term, loomex_bin
from replay_server import Reply
from test_repl_tmux import user_texts, wait_requests


def slow(n: int = 60) -> Reply:
    return Reply.text(*[f"tick{i} " for i in range(n)], delay=0.05)


@pytest.fixture
def chat(tmux, tmp_path):
    """``loomex chat ARGS`` in a pane, through a wrapper that prints the REPL's pid first and
    the terminal's settings (``stty -a``, on one line) once it has exited."""
    made: list[Term] = []
    wrapper = tmp_path / "chat.sh"
    # (the wrapper survives the Ctrl-Cs sent to the pane's process group)
    wrapper.write_text('#!/bin/sh\ntrap : INT\n'
                       'sh -c \'echo "PID=$$"; exec "$0" chat "$@"\' "$@"\ncode=$?\n'
                       'printf "STTY: %s :STTY\\n" "$(stty -a | tr "\\n" " ")"\nexit $code\n')
    wrapper.chmod(0o755)

    def start(env: CliEnv, *args: str) -> Term:
        t = Term(tmux, env.env(), [str(wrapper), loomex_bin(), *args])
        made.append(t)
        return t
    yield start
    for t in made:
        t.close()


def sane_after_exit(t: Term) -> str:
    """The terminal's settings after the REPL exited: line mode and echo are back."""
    screen = t.wait_for(":STTY")
    flags = re.search(r"STTY: (.*?) :STTY", screen.replace("\n", ""), re.S).group(1).split()
    assert "icanon" in flags and "echo" in flags and "isig" in flags, flags
    assert "-icanon" not in flags and "-echo" not in flags
    return screen


def pid_of(t: Term) -> int:
    return int(re.search(r"PID=(\d+)", t.wait_for("PID=")).group(1))


def pane_lflag(t: Term) -> int:
    fd = os.open(t.pane_tty(), os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        return termios.tcgetattr(fd)[3]
    finally:
        os.close(fd)


def answer_lines(t: Term) -> list[str]:
    return [ln for ln in t.scrollback() if "tick" in ln]


def test_keys_typed_right_after_start_are_kept(chat, replay, tmp_path):
    name, url = replay.new_script([Reply.text("Hello back.")], prefix="ahead-start")
    env = CliEnv(tmp_path, url)
    t = chat(env)
    t.type("hello from the start")  # no wait: the REPL may not even be running yet
    t.keys("Enter")
    t.wait_for("Hello back.")
    assert user_texts(replay, name) == ["hello from the start"]
    t.keys("C-d")  # at the prompt, or just before it is drawn: one Ctrl-D leaves
    assert "EXITED=0" in sane_after_exit(t)

    t2 = chat(env)
    t2.keys("C-d")  # sent at once: taken as typed at the first prompt
    assert "EXITED=0" in sane_after_exit(t2)


def test_a_message_typed_while_an_answer_streams_waits_in_the_next_prompt(chat, replay,
                                                                          tmp_path):
    name, url = replay.new_script([slow(), Reply.text("Second answer.")], prefix="ahead-stream")
    env = CliEnv(tmp_path, url)
    t = chat(env)
    t.type("first question")
    t.keys("Enter")
    t.wait_for("tick3")
    lflag = pane_lflag(t)  # the terminal itself: it does not echo while the answer streams
    assert not lflag & (termios.ECHO | termios.ICANON) and lflag & termios.ISIG
    t.type("typed while it streams")
    t.wait_for("tick40")  # more of the answer came after the keys: an echo would be above
    assert "typed while it streams" not in t.screen()
    t.wait_for("› typed while it streams")  # the answer ended: the next prompt holds them
    assert len(replay.requests(name)) == 1  # not sent: no Enter was typed
    lines = t.scrollback()
    at = lines.index("› typed while it streams")
    assert not any("typed while" in ln for ln in lines[:at])  # nothing echoed mid-answer
    words = " ".join(answer_lines(t)).split()
    assert words == [f"tick{i}" for i in range(60)]  # the answer on screen is intact
    t.keys("Enter")
    t.wait_for("Second answer.")
    assert user_texts(replay, name) == ["first question", "typed while it streams"]
    t.wait_prompt()
    t.keys("C-d")
    assert "EXITED=0" in sane_after_exit(t)


def test_enter_typed_ahead_sends_in_turn_and_a_paste_stays_whole(chat, replay, tmp_path):
    name, url = replay.new_script([slow(40), slow(40), Reply.text("Third.")],
                                  prefix="ahead-enter")
    env = CliEnv(tmp_path, url)
    t = chat(env)
    t.type("one")
    t.keys("Enter")
    t.wait_for("tick3")
    t.type("two")
    t.keys("Enter")  # a message queued behind the answer
    wait_requests(replay, name, 2)
    assert user_texts(replay, name) == ["one", "two"]
    assert "two" not in t.scrollback()  # not echoed on a line of its own mid-answer
    t.wait_for("tick3", after=1)
    t.paste("pasted one\npasted two")  # bracketed: its newline does not send it
    t.wait_for("  pasted two")
    assert len(replay.requests(name)) == 2
    t.keys("Enter")
    wait_requests(replay, name, 3)
    assert user_texts(replay, name)[-1] == "pasted one\npasted two"
    t.wait_for("Third.")


def test_ctrl_d_typed_while_an_answer_streams_does_not_leave(chat, replay, tmp_path):
    name, url = replay.new_script([slow(), Reply.text("Still here.")], prefix="ahead-ctrl-d")
    env = CliEnv(tmp_path, url)
    t = chat(env)
    t.type("count")
    t.keys("Enter")
    t.wait_for("tick3")
    t.keys("C-d")
    t.type("then this")
    t.wait_for("› then this")
    assert answer_lines(t)[-1].endswith("tick59")  # the whole answer, and still running
    assert "EXITED" not in t.screen()
    t.keys("Enter")
    t.wait_for("Still here.")
    assert user_texts(replay, name) == ["count", "then this"]
    t.wait_prompt()
    t.keys("C-d")
    assert "EXITED=0" in sane_after_exit(t)


def test_ctrl_c_stops_the_answer_and_drops_what_was_typed_ahead(chat, replay, tmp_path):
    name, url = replay.new_script([slow(200), Reply.text("Fresh.")], prefix="ahead-ctrl-c")
    env = CliEnv(tmp_path, url)
    t = chat(env)
    t.type("count")
    t.keys("Enter")
    t.wait_for("tick3")
    t.type("half a thought")
    t.keys("C-c")
    t.wait_for("interrupted; what was streamed is kept")
    screen = t.wait_prompt()  # an empty prompt
    assert "tick199" not in screen and "half a thought" not in screen
    t.type("fresh start")
    t.keys("Enter")
    t.wait_for("Fresh.")
    assert user_texts(replay, name)[-1] == "fresh start"
    t.keys("C-c")  # between two prompts or at one: never leaves the REPL
    t.wait_prompt()
    t.type("/usage")
    t.keys("Enter")
    t.wait_for("over 2 turns")
    os.kill(pid_of(t), signal.SIGTERM)
    assert "EXITED=143" in sane_after_exit(t)


def test_sigterm_while_streaming_restores_the_terminal(chat, replay, tmp_path):
    name, url = replay.new_script([slow(200)], prefix="ahead-term")
    t = chat(CliEnv(tmp_path, url))
    t.type("count")
    t.keys("Enter")
    t.wait_for("tick3")
    t.type("typed ahead")
    os.kill(pid_of(t), signal.SIGTERM)
    screen = sane_after_exit(t)
    assert "EXITED=143" in screen and "terminated (SIGTERM)" in screen


def test_a_question_ignores_keys_typed_before_it(chat, replay, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "bash", {"command": "echo hi > out.txt"})], head_delay=1.0),
        Reply.text("Not run, fine."),
    ], prefix="ahead-ask")
    env = CliEnv(tmp_path, url)
    t = chat(env, "-t", "bash")
    t.type("write it")
    t.keys("Enter")
    wait_requests(replay, name, 1)
    t.type("y")  # typed while the model is still answering: not an answer to what comes
    t.keys("Enter")
    screen = t.wait_for("[s] yes for this session")
    assert "keys typed before this question were dropped" in screen
    t.type("n")
    t.keys("Enter")
    t.wait_for("reason for the model")
    t.keys("Enter")
    t.wait_for("Not run, fine.")
    assert not Path(work, "out.txt").exists() and not (tmp_path / "out.txt").exists()
    t.wait_prompt()
    assert len(replay.requests(name)) == 2  # the "y" was not sent as a message either
    t.keys("C-d")
    assert "EXITED=0" in sane_after_exit(t)


def test_ctrl_c_stops_compact_and_the_repl_goes_on(chat, replay, tmp_path):
    from test_compaction import summary_reply

    def respond(body):
        if body.get("stream") is not True:  # the summary: slow enough to be stopped
            r = summary_reply()
            r.head_delay = 30
            return r
        return Reply.text(f"answer {sum(m['role'] == 'user' for m in body['messages'])}")
    name = replay.unique_name("ahead-compact")
    t = chat(CliEnv(tmp_path, replay.responder(name, respond)))
    for n in (1, 2, 3):
        t.type(f"question {n}")
        t.keys("Enter")
        t.wait_for(f"answer {n}")
    t.type("/compact")
    t.keys("Enter")
    wait_requests(replay, name, 4)  # the summary was asked for
    t.keys("C-c")
    t.wait_for("interrupted; the conversation is kept as it was")
    t.type("question 4")
    t.keys("Enter")
    t.wait_for("answer 4")
    last = replay.requests(name)[-1].body["messages"]
    assert [m["content"] for m in last if m["role"] == "user"] == \
        [f"question {n}" for n in (1, 2, 3, 4)]
    t.wait_prompt()
    t.keys("C-d")
    assert "EXITED=0" in sane_after_exit(t)


# -- the terminal mode itself, on a pty -------------------------------------------------------

@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def test_quiet_between_prompts_and_restored_exactly(pty_pair):
    import termios

    from loomex_cli.cli.typeahead import QuietTerminal
    master, slave = pty_pair
    before = termios.tcgetattr(slave)
    q = QuietTerminal(slave)
    q.start()
    quiet = termios.tcgetattr(slave)
    assert not quiet[3] & (termios.ECHO | termios.ICANON) and quiet[3] & termios.ISIG
    assert not quiet[0] & termios.ICRNL  # Enter arrives as the prompt reads it (CR)
    with q.cooked() as dropped:
        assert termios.tcgetattr(slave) == before and dropped == 0  # an editor, a question
    assert termios.tcgetattr(slave) == quiet
    q.close()
    assert termios.tcgetattr(slave) == before


def test_keys_typed_in_cooked_mode_before_start_are_kept_ctrl_d_too(pty_pair):
    from loomex_cli.cli.typeahead import QuietTerminal
    master, slave = pty_pair
    os.write(master, b"hi\x7fey\x04")  # cooked: the line discipline edits; Ctrl-D ends it
    import select
    assert select.select([slave], [], [], 10)[0]  # the line is complete (read() would get it)
    q = QuietTerminal(slave)
    q.start()
    try:
        assert bytes(q.data) == b"hey\x04"
    finally:
        q.close()


class _Input:
    """What prompt_toolkit's typeahead store needs of an input."""

    def typeahead_hash(self) -> str:
        return "test-typeahead-input"


def test_ctrl_d_is_dropped_only_while_answering_and_keys_reach_the_prompt(pty_pair):
    import asyncio

    from prompt_toolkit.input.typeahead import get_typeahead
    from prompt_toolkit.keys import Keys

    from loomex_cli.cli.typeahead import QuietTerminal
    master, slave = pty_pair

    async def main() -> list:
        q = QuietTerminal(slave)
        q.start()
        try:
            q.listen()
            with q.answer():
                os.write(master, b"a\x04b")
                while len(q.data) < 2:
                    await asyncio.sleep(0.01)
            os.write(master, b"\x1b[200~p1\rp2\x1b[201~\r\x04")
            while not q.data.endswith(b"\x04"):
                await asyncio.sleep(0.01)
            inp = _Input()
            q.to_prompt(inp)
            return get_typeahead(inp)
        finally:
            q.close()
    keys = asyncio.run(main())
    assert [k.data for k in keys[:2]] == ["a", "b"]  # the Ctrl-D typed mid-answer is gone
    assert keys[2].key == Keys.BracketedPaste and keys[2].data == "p1\rp2"  # one paste
    assert [k.key for k in keys[3:]] == [Keys.ControlM, Keys.ControlD]  # Enter, then leave


def test_a_question_drops_what_was_typed_before_it(pty_pair):
    import asyncio

    from loomex_cli.cli.typeahead import QuietTerminal
    master, slave = pty_pair

    async def main() -> tuple[int, bytes]:
        q = QuietTerminal(slave)
        q.start()
        try:
            q.listen()
            os.write(master, b"y\r")
            while len(q.data) < 2:  # collected: the question comes after
                await asyncio.sleep(0.01)
            with q.cooked(drop=True) as dropped:
                os.write(master, b"n\n")  # the answer, typed once the question is up
                answer = os.read(slave, 100)
            return dropped, answer
        finally:
            q.close()
    dropped, answer = asyncio.run(main())
    assert dropped == 2 and answer == b"n\n"
