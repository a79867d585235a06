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
