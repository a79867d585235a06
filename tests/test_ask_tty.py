"""Reading an answer from a terminal (a real pty standing in for /dev/tty): a line, end of
input, type-ahead discarded, and a pending question that can always be cancelled."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from loomex_cli.cli import ask

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="ptys are POSIX")


@pytest.fixture(params=["watched", "polled"])
def tty(request, monkeypatch):
    """(master fd, the name of the pty's terminal end, now what ask.TTY opens)."""
    master, slave = os.openpty()
    name = os.ttyname(slave)
    monkeypatch.setattr(ask, "TTY", name)
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
