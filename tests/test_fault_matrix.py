"""The fault matrix: signals, crashes and concurrent writers, through the real CLI (and
``loomex serve``) as subprocesses against a scripted loopback model. Each row asserts the exit
code, one line on stderr without a traceback or the key, and a valid stored conversation
(every assistant tool call answered right after it).

Processes that a bash tool starts carry a unique marker in their command line
(``sleep 1000.<digits>``: sleep takes a fraction), so /proc says whether they survived.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from cli_support import SECRET, CliEnv, loomex_bin
from replay_server import Reply

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals and process groups")

WORDS = [f"w{i} " for i in range(80)]


# -- helpers ---------------------------------------------------------------------------------

class Live:
    """A running loomex whose stdout and stderr are read as they come (with the time each
    piece arrived)."""

    def __init__(self, env: CliEnv, *args: str, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen([loomex_bin(), *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env.env(), cwd=cwd)
        self.out: list[tuple[float, str]] = []
        self.err: list[str] = []
        self._threads = [threading.Thread(target=self._read, args=(self.proc.stdout, True),
                                          daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, False),
                                          daemon=True)]
        for t in self._threads:
            t.start()

    def _read(self, pipe: Any, is_out: bool) -> None:
        while True:
            data = os.read(pipe.fileno(), 65536)
            if not data:
                return
            text = data.decode("utf-8", "replace")
            if is_out:
                self.out.append((time.monotonic(), text))
            else:
                self.err.append(text)

    @property
    def stdout(self) -> str:
        return "".join(t for _, t in self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def wait_out(self, text: str, timeout: float = 20) -> None:
        wait_until(lambda: text in self.stdout, timeout, f"{text!r} on stdout; err: {self.stderr}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 20) -> int:
        code = self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)
        assert SECRET not in self.stdout and SECRET not in self.stderr, "the API key leaked"
        assert "Traceback" not in self.stderr, self.stderr
        return code


def wait_until(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def marker() -> str:
    """A unique ``sleep`` argument: ``1000.<digits>``."""
    return "1000." + str(uuid.uuid4().int)[:12]


def procs_with(mark: str) -> list[int]:
    """Live (not zombie) processes whose command line holds ``mark``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if mark in cmd and stat[stat.rfind(")") + 2] not in "ZX":
            found.append(int(pid))
    return found


def kill_marked(mark: str) -> None:
    for pid in procs_with(mark):
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except OSError:
            pass


def stored(env: CliEnv) -> Any:
    from loomex_cli.engine.store import Store
    with Store.open(env.data / "conversations.db", create=False) as s:
        assert s._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return s.last()


def assert_valid(messages: list[dict[str, Any]]) -> None:
    """What a strict OpenAI-style server checks: each assistant's tool calls are answered by
    the tool messages right after it, and no tool message answers nothing."""
    i, n = 0, len(messages)
    while i < n:
        m = messages[i]
        assert m["role"] != "tool", f"tool message {i} answers no call: {roles(messages)}"
        i += 1
        calls = m.get("tool_calls") or []
        if m["role"] == "assistant" and calls:
            want = sorted(c["id"] for c in calls)
            got = []
            while i < n and messages[i]["role"] == "tool":
                got.append(messages[i]["tool_call_id"])
                i += 1
            assert sorted(got) == want, f"calls {want} answered by {got}: {roles(messages)}"
        elif m["role"] == "assistant":
            assert m.get("content") is not None, f"assistant {i - 1} has neither text nor calls"


def roles(messages: list[dict[str, Any]]) -> list[str]:
    return [m["role"] + (f"{{{','.join(c['id'] for c in m['tool_calls'])}}}"
                         if m.get("tool_calls") else f"({m['tool_call_id']})"
                         if m["role"] == "tool" else "") for m in messages]


def stored_dicts(env: CliEnv) -> list[dict[str, Any]]:
    return [m.to_dict() for m in stored(env).messages]


def bash_script(replay: Any, command: str, prefix: str, after: str = "ok") -> tuple[str, str]:
    return replay.new_script([Reply.tool_calls([("call_b1", "bash", {"command": command})],
                                               text="Running it."),
                              Reply.text(after)], prefix=prefix)


# -- 1. signals in a one-shot run -------------------------------------------------------------

@pytest.mark.parametrize("sig,code,word", [(signal.SIGTERM, 143, "SIGTERM"),
                                           (signal.SIGHUP, 129, "SIGHUP"),
                                           (signal.SIGINT, 130, "interrupted")])
def test_signal_while_streaming_saves_the_partial_answer(replay, tmp_path, sig, code, word):
    name, url = replay.new_script([Reply.text(*WORDS, delay=0.05)], prefix=f"sig{sig}")
    env = CliEnv(tmp_path, url)
    run = Live(env, "tell me a story")
    run.wait_out("w3 ")
    run.signal(sig)
    assert run.finish() == code
    assert word in one_line(run.stderr)
    msgs = stored_dicts(env)
    assert_valid(msgs)
    last = msgs[-1]
    assert last["role"] == "assistant" and last["content"].startswith("w0 w1 w2 w3 ")
    assert last["content"] in "".join(WORDS) and run.stdout.startswith(last["content"].rstrip())
    assert last["extra"] == {"interrupted": "cancelled"}


def test_sigterm_during_a_bash_tool_kills_its_process_group(replay, tmp_path):
    """One process ignores SIGTERM (so SIGKILL after the grace is needed), one does not."""
    stubborn, plain = marker(), marker()
    cmd = f"(trap '' TERM; exec sleep {stubborn}) & sleep {plain}; wait"
    name, url = bash_script(replay, cmd, "sigterm-tool")
    env = CliEnv(tmp_path, url)
    run = Live(env, "--dangerously-allow-all", "-t", "bash", "wait a while", cwd=tmp_path)
    try:
        wait_until(lambda: procs_with(stubborn) and procs_with(plain), 20, "the tool's processes")
        run.signal(signal.SIGTERM)
        assert run.finish() == 143
        assert "SIGTERM" in one_line(run.stderr.split("\n", 1)[1])  # after the allow-all warning
        assert procs_with(stubborn) == [] and procs_with(plain) == []
    finally:
        kill_marked(stubborn)
        kill_marked(plain)
    msgs = stored_dicts(env)
    assert_valid(msgs)
    assert [m["role"] for m in msgs[-2:]] == ["assistant", "tool"]
    assert msgs[-2]["tool_calls"][0]["id"] == "call_b1" and msgs[-2]["content"] == "Running it."
    assert "interrupted" in msgs[-1]["content"] and msgs[-1]["tool_call_id"] == "call_b1"
    assert len(replay.requests(name)) == 1  # nothing was sent after the signal


# -- 2. kill -9 loses at most a moment ----------------------------------------------------------

def test_kill_9_mid_answer_keeps_what_streamed_until_a_moment_before(replay, tmp_path):
    name, url = replay.new_script([Reply.text(*WORDS, delay=0.05), Reply.text("Going on.")],
                                  prefix="kill9-answer")
    env = CliEnv(tmp_path, url)
    run = Live(env, "tell me a story")
    run.wait_out("w30 ")
    killed_at = time.monotonic()
    run.signal(signal.SIGKILL)
    assert run.finish() == -signal.SIGKILL
    # what the terminal had shown half a second before the kill must be on disk
    shown_before = "".join(t for at, t in run.out if at <= killed_at - 0.5)
    assert len(shown_before) >= len("w0 w1 w2 w3 w4 w5 ")
    last = stored_dicts(env)[-1]
    assert last["role"] == "assistant" and last["content"].startswith(shown_before)
    assert "".join(WORDS).startswith(last["content"])

    # the next run sends it as an interrupted answer, and marks it so on disk
    done = env.run("-c", "go on")
    assert done.code == 0 and done.out == "Going on.\n" and done.err == "", done.err
    sent = replay.requests(name)[1].body["messages"]
    assert_valid(sent)
    assert [m["role"] for m in sent[-3:]] == ["user", "assistant", "user"]
    assert sent[-2]["content"] == last["content"]
    msgs = stored_dicts(env)
    assert_valid(msgs)
    assert msgs[-3]["extra"] == {"interrupted": "crash"}


def test_kill_9_mid_tool_then_continue_sends_a_valid_conversation(replay, tmp_path):
    mark = marker()
    name, url = bash_script(replay, f"sleep {mark}", "kill9-tool", after="It was interrupted.")
    env = CliEnv(tmp_path, url)
    run = Live(env, "-y", "-t", "bash", "wait a while", cwd=tmp_path)
    try:
        wait_until(lambda: procs_with(mark), 20, "the tool's process")
        run.signal(signal.SIGKILL)
        assert run.finish() == -signal.SIGKILL
    finally:
        kill_marked(mark)  # a kill -9 leaves no chance to clean up: the test does it
    before = stored_dicts(env)
    assert before[-1]["role"] == "assistant" and before[-1]["tool_calls"]

    done = env.run("-c", "-t", "bash", "what happened?")  # bash offered: its call stays one
    assert done.code == 0 and done.out == "It was interrupted.\n" and done.err == "", done.err
    sent = replay.requests(name)[1].body["messages"]
    assert_valid(sent)
    assert [m["role"] for m in sent[-3:]] == ["assistant", "tool", "user"]
    assert sent[-2]["tool_call_id"] == "call_b1"
    assert sent[-2]["content"].startswith("interrupted: no result")
    msgs = stored_dicts(env)
    assert_valid(msgs)
    assert [m["role"] for m in msgs[-4:]] == ["assistant", "tool", "user", "assistant"]


# -- 3. one turn at a time per conversation -----------------------------------------------------

def test_two_concurrent_continues_keep_a_valid_order(replay, tmp_path):
    mark = marker().replace("1000.", "2.")  # a 2-second tool in the first one

    def respond(body: Any) -> Reply:
        last = body["messages"][-1]
        if last["role"] == "tool":
            return Reply.text(f"done {last['tool_call_id']}")
        text = last["content"]
        if text == "job A":
            return Reply.tool_calls([("call_A", "bash", {"command": f"sleep {mark}; echo A"})])
        if text == "job B":
            return Reply.tool_calls([("call_B", "bash", {"command": "echo B"})])
        return Reply.text("first answer")
    name = replay.unique_name("two-writers")
    url = replay.responder(name, respond)
    env = CliEnv(tmp_path, url)
    assert env.run("hello").code == 0

    a = Live(env, "-c", "-y", "-t", "bash", "job A", cwd=tmp_path)
    try:
        wait_until(lambda: procs_with(mark), 20, "job A's tool")
        b = Live(env, "-c", "-y", "-t", "bash", "job B", cwd=tmp_path)
        assert a.finish(30) == 0, a.stderr
        assert b.finish(30) == 0, b.stderr
    finally:
        kill_marked(mark)
    assert a.stdout == "done call_A\n" and b.stdout == "done call_B\n"
    assert a.stderr == ""
    assert "waiting" in one_line(b.stderr)
    for r in replay.requests(name):
        assert_valid(r.body["messages"])
    msgs = stored_dicts(env)
    assert_valid(msgs)
    assert roles(msgs)[1:] == ["user", "assistant", "user", "assistant{call_A}", "tool(call_A)",
                               "assistant", "user", "assistant{call_B}", "tool(call_B)",
                               "assistant"]


def test_sigterm_while_waiting_for_the_conversation_exits_143(replay, tmp_path):
    mark = marker()
    name, url = replay.new_script([Reply.text("first answer"),
                                   Reply.tool_calls([("call_A", "bash", {"command": f"sleep {mark}"})]),
                                   Reply.text("A is done")], prefix="wait-term")
    env = CliEnv(tmp_path, url)
    assert env.run("hello").code == 0
    a = Live(env, "-c", "-y", "-t", "bash", "job A", cwd=tmp_path)
    try:
        wait_until(lambda: procs_with(mark), 20, "job A's tool")
        b = Live(env, "-c", "job B")
        wait_until(lambda: "waiting" in b.stderr, 20, "the waiting note")
        b.signal(signal.SIGTERM)
        assert b.finish() == 143
        note, last = b.stderr.splitlines()
        assert "in use by another loomex" in note and last == "loomex: terminated (SIGTERM)"
        assert a.proc.poll() is None  # the writer goes on
    finally:
        kill_marked(mark)
    assert a.finish() == 0 and a.stdout == "A is done\n"
    msgs = stored_dicts(env)
    assert_valid(msgs)
    assert "job B" not in [m["content"] for m in msgs]


# -- serve -------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_serve_stops_during_a_tool_kills_it_and_exits_promptly(replay, tmp_path, sig):
    mark = marker()
    name, url = bash_script(replay, f"sleep {mark}", "serve-term")
    env = CliEnv(tmp_path, url, extra_config='\n[tools.bash]\nallow = ["sleep *"]\n')
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen([loomex_bin(), "serve", "-t", "bash", "--port", "0"], cwd=work,
                            env=env.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        port = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert port, first + proc.stderr.read()  # type: ignore[union-attr]
        body = json.dumps({"id": "c", "trigger": "submit-message", "messages": [
            {"id": "u", "role": "user", "parts": [{"type": "text", "text": "wait"}]}]}).encode()

        def post() -> None:
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", int(port.group(1)), timeout=30)
            try:
                c.request("POST", "/api/chat", body, {"content-type": "application/json"})
                c.getresponse().read()
            except (OSError, http.client.HTTPException):
                pass  # the server went away mid-answer: expected
        threading.Thread(target=post, daemon=True).start()
        wait_until(lambda: procs_with(mark), 20, "the tool's process")
        proc.send_signal(sig)
        try:
            code = proc.wait(8)  # "within a few seconds"
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"loomex serve did not stop within 8 s of {sig!r}")
        err = proc.stderr.read()  # type: ignore[union-attr]
        assert procs_with(mark) == []
        assert code == 0, err
        assert "Traceback" not in err and SECRET not in err
        assert err.splitlines()[-1] == "loomex: stopped", err
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_marked(mark)


# -- the REPL ------------------------------------------------------------------------------------

def _repl(tmux: str, env: CliEnv, mark: str) -> Any:
    from cli_support import Term
    return Term(tmux, env.env(), [loomex_bin(), "chat", "-s", f"system {mark}"])


def _loomex_pid(mark: str) -> int:
    """The REPL's own process (not the shell tmux runs it from)."""
    def find() -> list[int]:
        return [p for p in procs_with(mark)
                if b"EXITED" not in Path(f"/proc/{p}/cmdline").read_bytes()]
    wait_until(find, 20, "the REPL process")
    return find()[0]


def test_repl_sigterm_while_streaming_saves_and_exits_143(replay, tmp_path, tmux):
    name, url = replay.new_script([Reply.text(*WORDS, delay=0.05)], prefix="repl-term")
    env = CliEnv(tmp_path, url)
    mark = marker()
    t = _repl(tmux, env, mark)
    try:
        t.wait_for("›")
        t.type("tell me a story")
        t.keys("Enter")
        t.wait_for("w5")
        os.kill(_loomex_pid(mark), signal.SIGTERM)
        screen = t.wait_for("EXITED=")
        assert "EXITED=143" in screen and "loomex: terminated (SIGTERM)" in screen
        assert "Traceback" not in screen
    finally:
        t.close()
    msgs = stored_dicts(env)
    assert_valid(msgs)
    assert msgs[-1]["content"].startswith("w0 w1 w2 w3 w4 w5")
    assert msgs[-1]["extra"] == {"interrupted": "cancelled"}


def test_repl_sighup_at_the_prompt_exits_129(replay, tmp_path, tmux):
    name, url = replay.new_script([Reply.text("Hello there.")], prefix="repl-hup")
    env = CliEnv(tmp_path, url)
    mark = marker()
    t = _repl(tmux, env, mark)
    try:
        t.wait_for("›")
        t.type("hi")
        t.keys("Enter")
        t.wait_for("Hello there.")
        t.wait_for("›", after=1)
        os.kill(_loomex_pid(mark), signal.SIGHUP)
        screen = t.wait_for("EXITED=")
        assert "EXITED=129" in screen and "loomex: hung up (SIGHUP)" in screen
        assert "Traceback" not in screen
    finally:
        t.close()
    assert [m["role"] for m in stored_dicts(env)] == ["system", "user", "assistant"]


def test_sigterm_at_the_approval_prompt_exits_at_once(replay, tmp_path, tmux):
    """The question waits on the terminal in a thread: that thread must not keep loomex
    alive after SIGTERM (it would until someone pressed Enter)."""
    from cli_support import Term
    name, url = replay.new_script([Reply.tool_calls([("c1", "bash", {"command": "echo hi"})]),
                                   Reply.text("never")], prefix="ask-term")
    env = CliEnv(tmp_path, url)
    mark = marker()
    t = Term(tmux, env.env(), [loomex_bin(), "-t", "bash", "-s", mark, "run it"])
    try:
        t.wait_for("[s] yes for this session")
        os.kill(_loomex_pid(mark), signal.SIGTERM)
        screen = t.wait_for("EXITED=", timeout=5)  # the watchdog alone would take 10 s
        assert "EXITED=143" in screen and "loomex: terminated (SIGTERM)" in screen
        assert "Traceback" not in screen
    finally:
        t.close()
    msgs = stored_dicts(env)
    assert_valid(msgs)
    assert msgs[-1]["role"] == "tool" and "cancelled" in msgs[-1]["content"]
    assert len(replay.requests(name)) == 1
