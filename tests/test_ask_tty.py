"""Reading an answer from a terminal (a real pty standing in for /dev/tty): a line, end of
input, type-ahead discarded, and a pending question that can always be cancelled."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from loomex_cli.cli import ask
from loomex_cli.engine import terminal

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="ptys are POSIX")


@pytest.fixture(params=["watched", "polled"])
def tty(request, monkeypatch):
    """(master fd, the name of the pty's terminal end, now what ask.TTY opens)."""
    master, slave = os.openpty()
    name = os.ttyname(slave)
    monkeypatch.setattr(terminal, "TTY", name)
    if request.param == "polled":  # as on macOS, where kqueue cannot watch a terminal
        def refuse(self, fd, cb, *args):
            raise OSError(22, "Invalid argument")
        monkeypatch.setattr(asyncio.SelectorEventLoop, "add_reader", refuse)
    yield master
    os.close(slave)
    os.close(master)


def read_screen(master: int) -> bytes:
    os.set_blocking(master, False)
    try:
        return os.read(master, 65536)
    except BlockingIOError:
        return b""


async def type_when_asked(master: int, keys: bytes) -> None:
    for _ in range(400):
        await asyncio.sleep(0.01)
        if b"> " in read_screen(master):
            break
    os.write(master, keys)


def test_a_line_is_read_and_type_ahead_is_discarded(tty):
    os.write(tty, b"y\n")  # typed before the question: must not answer it

    async def main():
        asker = asyncio.ensure_future(ask.exchange("question\n  > "))
        await type_when_asked(tty, b"no thanks\n")
        return await asyncio.wait_for(asker, 30)

    assert asyncio.run(main()) == "no thanks"


def test_end_of_input_is_no_answer(tty):
    async def main():
        asker = asyncio.ensure_future(ask.exchange("question\n  > "))
        await type_when_asked(tty, b"\x04")  # Ctrl-D on an empty line
        return await asyncio.wait_for(asker, 30)

    assert asyncio.run(main()) is None


def test_a_pending_question_is_cancelled_at_once(tty):
    async def main():
        asker = asyncio.ensure_future(ask.exchange("question\n  > "))
        await asyncio.sleep(0.2)
        asker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asker, 30)  # a guard against a hang, not a timing

    asyncio.run(main())  # and asyncio.run returns: no worker thread is left blocked


def test_a_library_run_asks_the_human_tool_on_the_terminal(tty, replay):
    """arun without ask_human: the human tool's question goes to the terminal (cleaned of
    control characters), and the typed answer is the tool's result."""
    from helpers import make_agent
    from replay_server import Reply

    from loomex_cli import arun
    from loomex_cli.tools.human import HumanTool
    name, url = replay.new_script([
        Reply.tool_calls([("h1", "human", {"question": "Which DB?\x1b[2J"})]),
        Reply.text("ok")], prefix="lib-human")
    seen = bytearray()

    async def main():
        run = asyncio.ensure_future(arun(make_agent(url, tools=[HumanTool()]), "go"))
        for _ in range(1000):
            await asyncio.sleep(0.01)
            seen.extend(read_screen(tty))
            if b"> " in seen:
                break
        os.write(tty, b"Postgres\n")
        return await asyncio.wait_for(run, 30)

    res = asyncio.run(main())
    assert res.text == "ok"
    assert b"Which DB?" in seen and b"\x1b[2J" not in seen
    tool_msg = replay.requests(name)[1].body["messages"][-1]
    assert tool_msg == {"role": "tool", "content": "Postgres", "tool_call_id": "h1"}
