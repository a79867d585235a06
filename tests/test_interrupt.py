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


def test_silent_pipe_check_without_select(monkeypatch):
    """Where select() cannot wait on a pipe (Windows), a peeking thread decides."""
    import io
    import sys

    from loomex_cli.cli import stdin as st

    def no_select(*_a):
        raise OSError("select on a pipe is not supported here")
    monkeypatch.setattr(st.select, "select", no_select)
    r, w = os.pipe()
    try:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.FileIO(r, closefd=False))))
        assert st._data_within(0.2) is False  # silent: the writer is open and writes nothing
        os.write(w, b"late data\n")
        assert st._data_within(2.0) is True
    finally:
        os.close(w)
        os.close(r)
