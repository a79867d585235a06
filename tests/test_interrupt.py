"""Ctrl-C handling where the event loop has no add_signal_handler (Windows)."""

from __future__ import annotations

import asyncio
import os
import signal

from loomex_cli.cli.interrupt import on_interrupt


def _raise(*_a, **_k):
    raise NotImplementedError


def test_fallback_signal_handler_calls_back_on_the_loop(monkeypatch):
    before = signal.getsignal(signal.SIGINT)

    async def main():
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(loop, "add_signal_handler", _raise)
        hit = asyncio.Event()
        with on_interrupt(hit.set):
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.wait_for(hit.wait(), 5)
        return hit.is_set()

    assert asyncio.run(main())
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_loop_signal_handler_is_removed_afterwards():
    async def main():
        hit = asyncio.Event()
        with on_interrupt(hit.set):
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.wait_for(hit.wait(), 5)
        loop = asyncio.get_running_loop()
        return loop.remove_signal_handler(signal.SIGINT)  # False: nothing left installed

    assert asyncio.run(main()) is False


def test_stdin_is_read_to_eof_without_select(monkeypatch):
    """Where select() cannot wait on a pipe (Windows), a reading thread does the waiting: a
    silent pipe gets the note once, and the data that comes later is all read."""
    import io
    import sys
    import threading

    from loomex_cli.cli import stdin as st

    def no_select(*_a):
        raise OSError("select on a pipe is not supported here")
    monkeypatch.setattr(st.select, "select", no_select)
    monkeypatch.setattr(st, "stdin_kind", lambda: "pipe")
    r, w = os.pipe()
    notes: list[str] = []

    def late_writer() -> None:
        while not notes:  # write only once the note is out: the pipe was silent until then
            threading.Event().wait(0.02)
        os.write(w, b"late data\n")
        os.close(w)
    try:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.FileIO(r, closefd=False))))
        threading.Thread(target=late_writer, daemon=True).start()
        got = st.read_piped(lambda: notes.append("note"), note_after=0.2)
        assert got.text == "late data\n" and notes == ["note"]
    finally:
        os.close(r)
