"""Ctrl-C while a run is in flight: cancel it (the engine keeps what was streamed)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any, Callable, Iterator


@contextlib.contextmanager
def on_interrupt(callback: Callable[[], Any]) -> Iterator[None]:
    """Calls ``callback`` on the event loop when SIGINT arrives, for the ``with`` block.
    Uses the loop's signal handling where it exists, and a plain signal handler that hands
    over to the loop elsewhere (Windows' event loops have no add_signal_handler)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, callback)
    except (NotImplementedError, RuntimeError):
        previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(callback))
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
