"""A closed stdout (``loomex "..." | head -1``) ends loomex quietly, like any Unix filter.

The reader went away, so nobody wants the rest of the answer: the run is stopped (as by
Ctrl-C: what was streamed is saved with the conversation), stdout is pointed at /dev/null so
no later write or the interpreter's final flush fails again, and the exit status is 141
(128 + SIGPIPE), what a shell reports for ``yes | head -1`` and what ``set -o pipefail``
scripts expect from a writer whose reader left. No message is printed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable, Iterator

#: 128 + SIGPIPE (13), the status of a writer whose reader closed the pipe
BROKEN_PIPE = 141

_state: dict[str, Any] = {"broken": False, "stop": []}


def broken() -> bool:
    """Has stdout been found closed in this process?"""
    return bool(_state["broken"])


def silence_stdout() -> None:
    """Marks stdout broken and points fd 1 at /dev/null: buffered and later writes vanish."""
    _state["broken"] = True
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def on_broken_pipe(stop: Callable[[], Any]) -> Iterator[None]:
    """While inside (in a running loop), a broken stdout calls ``stop`` (cancels the run).
    The call is deferred to the loop and dropped once the block is left: a run that ends in
    the same breath as the pipe breaks is not cancelled after the fact."""
    import asyncio
    loop = asyncio.get_running_loop()
    live = [True]

    def deferred() -> None:
        loop.call_soon(lambda: stop() if live[0] else None)
    _state["stop"].append(deferred)
    try:
        yield
    finally:
        live[0] = False
        _state["stop"].remove(deferred)


def _broke() -> None:
    first = not _state["broken"]
    silence_stdout()
    if first and _state["stop"]:
        _state["stop"][-1]()


class PipeGuard:
    """Wraps an output (a sink with ``finish`` and ``suspended``): a BrokenPipeError from it
    silences stdout and stops the run instead of escaping as an "internal error"."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def __call__(self, event: Any) -> None:
        try:
            self.out(event)
        except BrokenPipeError:
            _broke()

    def finish(self, *args: Any) -> None:
        try:
            self.out.finish(*args)
        except BrokenPipeError:
            _broke()

    def write(self, line: str) -> None:
        """One line of the output's own (``--json``'s start object)."""
        try:
            self.out.out.write(line)
            self.out.out.flush()
        except BrokenPipeError:
            _broke()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.out, name)


def flush_stdout() -> bool:
    """Flushes stdout before the interpreter does; False (and stdout silenced) when the
    reader has gone, so Python's own flush at exit finds nothing to complain about."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
        return False
    except (OSError, ValueError, AttributeError):
        pass
    return not broken()
