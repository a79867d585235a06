"""What keeps a saved conversation valid: the history repair, the answer saved while it
streams, the per-conversation writer lock, and nested signal handlers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from helpers import make_agent, run_async
from replay_server import Reply

from loomex_cli import Message, arun
from loomex_cli.engine import conversation_lock
from loomex_cli.engine.events import MessageAdded, RunFinished, StepStart, TextDelta
from loomex_cli.engine.messages import ToolCall
from loomex_cli.engine.recorder import Recorder
from loomex_cli.engine.repair import NO_RESULT, NO_TEXT, complete_history, first_change
from loomex_cli.engine.result import RunResult
from loomex_cli.engine.store import Store


def asst(*ids: str, text: str | None = None) -> Message:
    return Message.assistant(text, [ToolCall(i, "f", "{}") for i in ids])


def shape(msgs: list[Message]) -> list[str]:
    out = []
    for m in msgs:
        if m.tool_calls:
            out.append("a{" + ",".join(c.id for c in m.tool_calls) + "}")
        elif m.role == "tool":
            out.append(f"t({m.tool_call_id}){'!' if m.content == NO_RESULT else ''}")
        else:
            out.append(m.role[0])
    return out


# -- the repair ------------------------------------------------------------------------------

def test_a_valid_history_is_returned_as_is():
    msgs = [Message.user("q"), asst("1", "2"), Message.tool("2", "b"), Message.tool("1", "a"),
            Message.assistant("done")]
    assert complete_history(msgs) is msgs


def test_missing_results_are_added_right_after_their_call():
    msgs = [Message.user("q"), asst("1", "2"), Message.tool("1", "a"), Message.user("next")]
    fixed = complete_history(msgs)
    assert shape(fixed) == ["u", "a{1,2}", "t(1)", "t(2)!", "u"]
    assert fixed[2] is msgs[2] and first_change(msgs, fixed) == 3
    assert fixed[3].content.startswith("interrupted: no result")
    assert shape(complete_history([asst("x")])) == ["a{x}", "t(x)!"]


def test_interleaved_writers_are_put_back_in_order():
    # what two writers of an older loomex left: asst{1}, asst{2}, tool2, tool1
    msgs = [Message.user("q"), asst("1"), asst("2"), Message.tool("2", "b"),
            Message.tool("1", "a"), Message.tool("zz", "orphan")]
    fixed = complete_history(msgs)
    assert shape(fixed) == ["u", "a{1}", "t(1)", "a{2}", "t(2)"]
    assert fixed[2].content == "a" and fixed[4].content == "b"


def test_reused_call_ids_are_not_stolen_from_a_later_turn():
    msgs = [asst("call_0"), Message.user("again"), asst("call_0"), Message.tool("call_0", "2nd")]
    fixed = complete_history(msgs)
    assert shape(fixed) == ["a{call_0}", "t(call_0)!", "u", "a{call_0}", "t(call_0)"]
    assert fixed[-1].content == "2nd"


def test_an_answer_saved_mid_stream_is_marked_interrupted():
    partial = Message("assistant", "half an ans", extra={"streaming": True})
    fixed = complete_history([Message.user("q"), partial])
    assert fixed[1].extra == {"interrupted": "crash"} and fixed[1].content == "half an ans"
    assert partial.extra == {"streaming": True}  # the input is not changed
    thinking = Message("assistant", None, reasoning="hmm", extra={"interrupted": "cancelled"})
    fixed = complete_history([Message.user("q"), thinking])
    assert fixed[1].content == NO_TEXT and fixed[1].reasoning == "hmm"


def test_arun_sends_a_repaired_history(replay):
    """A library caller (or a session) handing over a broken history still sends a valid one."""
    from loomex_cli import tool

    @tool
    def f() -> str:
        """Offered, so its call is sent as a call (see test_calls_as_text.py)."""
        return ""
    name, url = replay.new_script([Reply.text("fine")], prefix="repair-arun")
    broken = [Message.user("q"), asst("c1"), Message.user("and now?")]
    res = run_async(lambda: arun(make_agent(url, tools=[f]), broken))
    sent = replay.requests(name)[0].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert sent[2]["tool_call_id"] == "c1" and sent[2]["content"] == NO_RESULT
    assert shape(res.messages) == ["u", "a{c1}", "t(c1)!", "u", "a"]


# -- the store and the recorder ----------------------------------------------------------------

def test_put_and_rewrite_from(tmp_path: Path):
    with Store.open(tmp_path / "c.db") as s:
        cid = s.create("m")
        s.append(cid, [Message.user("q"), asst("1"), Message.user("next")])
        seq = s.put(cid, Message.assistant("par"))
        assert s.put(cid, Message.assistant("partial, more"), seq) == seq
        assert [m.text for m in s.get(cid).messages][-1] == "partial, more"
        fixed = complete_history(s.get(cid).messages)
        s.rewrite_from(cid, 2, fixed[2:])
        assert shape(s.get(cid).messages) == ["u", "a{1}", "t(1)!", "u", "a"]


async def _stream(rec: Recorder, pieces: list[str], gap: float) -> None:
    for p in pieces:
        rec(TextDelta(p, 1))
        await asyncio.sleep(gap)


def test_the_recorder_saves_the_answer_while_it_streams(tmp_path: Path):
    db = tmp_path / "c.db"
    rec = Recorder("m", path=db, partial_every=0.05)
    rec.add(Message.user("q"))
    cid = rec.conv_id

    def on_disk() -> list[Message]:
        with Store.open(db) as s:
            return s.get(cid).messages  # type: ignore[arg-type]

    async def main() -> None:
        rec(StepStart(1, "m", 1))
        await _stream(rec, ["a", "b", "c"], 0.03)
        await asyncio.sleep(0.1)
        mid = on_disk()
        assert [m.role for m in mid] == ["user", "assistant"]
        assert mid[1].content == "abc" and mid[1].extra == {"streaming": True}
        rec(MessageAdded(Message.assistant("abcd"), 1))  # the whole one takes its place
        await asyncio.sleep(0.1)  # no timer left to write the partial again
    asyncio.run(main())
    after = on_disk()
    assert [m.content for m in after] == ["q", "abcd"] and after[1].extra == {}

    async def cut() -> None:  # a run that ends without adding what it streamed
        rec.add(Message.user("again"))
        await _stream(rec, ["x", "y"], 0.04)
        rec(RunFinished(RunResult([], finish_reason="error")))
    asyncio.run(cut())
    rec.close()
    last = on_disk()[-1]
    assert last.content == "xy" and last.extra == {"interrupted": "error"}


def test_no_write_per_chunk(tmp_path: Path, monkeypatch):
    rec = Recorder("m", path=tmp_path / "c.db", partial_every=0.2)
    rec.add(Message.user("q"))
    writes: list[int] = []
    real = Store.put
    monkeypatch.setattr(Store, "put", lambda self, *a, **k: writes.append(1) or real(self, *a, **k))

    async def main() -> None:
        for _ in range(20):
            for _ in range(1000):
                rec(TextDelta("w ", 1))
            await asyncio.sleep(0.02)
    asyncio.run(main())
    rec.close()
    assert 1 <= len(writes) <= 4  # 20,000 chunks over ~0.4 s: a write per 0.2 s


# -- the writer lock --------------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, time
    from loomex_cli.engine import conversation_lock as cl
    cl.hold(sys.argv[1], "abc123")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
""")


def test_the_lock_waits_for_another_process_and_dies_with_it(tmp_path: Path):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "30"],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "held\n"  # type: ignore[union-attr]
        assert conversation_lock.hold(tmp_path, "abc123", wait=False) is False
        notes: list[int | None] = []
        p.kill()  # kill -9: the OS frees the lock with the process
        p.wait()
        assert conversation_lock.hold(tmp_path, "abc123", on_wait=notes.append)
        assert conversation_lock.hold(tmp_path, "abc123")  # again, in the same process: counted
        conversation_lock.release(tmp_path, "abc123")
        assert conversation_lock.is_held_here(tmp_path, "abc123")
        conversation_lock.release(tmp_path, "abc123")
        assert not conversation_lock.is_held_here(tmp_path, "abc123")
        assert not conversation_lock.lock_path(tmp_path, "abc123").exists()
    finally:
        if p.poll() is None:
            p.kill()


def test_a_waiter_is_told_who_holds_it(tmp_path: Path):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "0.5"],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "held\n"  # type: ignore[union-attr]
        notes: list[int | None] = []
        t0 = time.monotonic()
        assert conversation_lock.hold(tmp_path, "abc123", on_wait=notes.append)
        assert notes == [p.pid] and time.monotonic() - t0 > 0.1
        conversation_lock.release(tmp_path, "abc123")
    finally:
        p.wait(10)


# -- nested signal handlers --------------------------------------------------------------------

def test_signal_handlers_nest_and_say_which_signal_came():
    from loomex_cli.cli.interrupt import ENDING, on_interrupt

    async def main() -> tuple[int | None, int | None, int | None]:
        outer_hits: list[int] = []
        inner = asyncio.Event()
        with on_interrupt(lambda: outer_hits.append(1), ENDING) as outer:
            with on_interrupt(inner.set) as turn:
                os.kill(os.getpid(), signal.SIGINT)
                await asyncio.wait_for(inner.wait(), 5)
                first = turn.signum
                inner.clear()
                os.kill(os.getpid(), signal.SIGHUP)
                await asyncio.wait_for(inner.wait(), 5)
            assert outer_hits == [] and turn.code == 129 and turn.ends_process
            os.kill(os.getpid(), signal.SIGHUP)  # back to the outer one
            for _ in range(100):
                if outer_hits:
                    break
                await asyncio.sleep(0.01)
        return first, turn.signum, outer.signum

    import loomex_cli.cli.interrupt as it
    before = signal.getsignal(signal.SIGHUP)
    try:
        it.HARD_EXIT_S = 60.0
        assert asyncio.run(main()) == (signal.SIGINT, signal.SIGHUP, signal.SIGHUP)
    finally:
        for t in it._watchdog:
            t.cancel()
        it._watchdog.clear()
    assert signal.getsignal(signal.SIGHUP) == before
