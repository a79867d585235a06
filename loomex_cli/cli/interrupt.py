"""Ctrl-C, SIGTERM and SIGHUP while a run is in flight: cancel it (the engine keeps what was
streamed, and a cancelled bash tool kills its process group), then exit with 128 + the signal
number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP.

    with on_interrupt(task.cancel) as caught:
        ...
    if caught.signum is not None:
        say(describe(caught.signum)); return exit_code(caught.signum)

Handlers nest (the innermost ``with`` gets the signal): the REPL listens for SIGTERM/SIGHUP
for its whole life and for all three while a turn runs. After SIGTERM or SIGHUP a watchdog
ends the process if it is still alive :data:`HARD_EXIT_S` seconds later (everything is saved
as it happens, so a thread stuck on a terminal read cannot keep it alive).
"""

from __future__ import annotations

import contextlib
import signal
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:  # pragma: no cover
    import asyncio

#: the signals that end a run, where the platform has them (Windows has no SIGHUP)
SIGNALS: tuple[int, ...] = tuple(s for s in (getattr(signal, n, None) for n in
                                              ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)
#: the ones that end the process (Ctrl-C in the REPL only cancels the answer)
ENDING: tuple[int, ...] = tuple(s for s in SIGNALS if s != signal.SIGINT)
#: seconds after SIGTERM/SIGHUP before the process is ended whatever it is doing
HARD_EXIT_S = 10.0

_WHAT = {"SIGINT": "interrupted", "SIGTERM": "terminated (SIGTERM)", "SIGHUP": "hung up (SIGHUP)"}


def exit_code(signum: int | None) -> int:
    """128 + the signal number (the shell's convention); Ctrl-C when none is known."""
    return 128 + int(signum if signum is not None else signal.SIGINT)


def describe(signum: int | None) -> str:
    try:
        name = signal.Signals(signum if signum is not None else signal.SIGINT).name
    except ValueError:
        return f"stopped by signal {signum}"
    return _WHAT.get(name, f"stopped by {name}")


class Caught:
    """Which signal arrived (the first SIGTERM/SIGHUP wins over a Ctrl-C)."""

    __slots__ = ("signum",)

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def ends_process(self) -> bool:
        return self.signum is not None and self.signum != signal.SIGINT

    @property
    def code(self) -> int:
        return exit_code(self.signum)


#: per signal, the (callback, caught) of each active ``with``, innermost last
_stack: dict[int, list[tuple[Callable[[], Any], Caught]]] = {}
#: per signal, how to take our handler down again
_installed: dict[int, Callable[[], None]] = {}


def _fire(signum: int) -> None:
    entries = _stack.get(signum)
    if not entries:
        return
    callback, caught = entries[-1]
    if caught.signum is None or signum != signal.SIGINT:
        caught.signum = signum
    if signum != signal.SIGINT:
        _arm_watchdog(signum)
    callback()


def _install(loop: "asyncio.AbstractEventLoop", sig: int) -> None:
    previous = signal.getsignal(sig)
    try:
        loop.add_signal_handler(sig, _fire, sig)

        def undo() -> None:
            loop.remove_signal_handler(sig)
            if previous is not None:
                signal.signal(sig, previous)
    except (NotImplementedError, RuntimeError):
        # Windows' event loops have no add_signal_handler: a plain handler hands over to the loop
        try:
            signal.signal(sig, lambda s, _frame: loop.call_soon_threadsafe(_fire, s))
        except ValueError:  # not the main thread: signals are not ours to handle here
            _installed[sig] = lambda: None
            return

        def undo() -> None:
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
    _installed[sig] = undo


@contextlib.contextmanager
def on_interrupt(callback: Callable[[], Any],
                 signals: tuple[int, ...] = SIGNALS) -> Iterator[Caught]:
    """Calls ``callback`` on the event loop when one of ``signals`` arrives, for the ``with``
    block; yields a :class:`Caught` that says which one did."""
    import asyncio
    loop = asyncio.get_running_loop()
    caught = Caught()
    entry = (callback, caught)
    for sig in signals:
        _stack.setdefault(sig, []).append(entry)
        if sig not in _installed:
            _install(loop, sig)
    try:
        yield caught
    finally:
        for sig in signals:
            entries = _stack.get(sig, [])
            if entry in entries:
                entries.remove(entry)
            if not entries and sig in _installed:
                _installed.pop(sig)()


def exit_on_signals() -> None:
    """Outside a run (starting up, reading stdin, waiting for a conversation's lock), SIGTERM
    and SIGHUP end the command as Ctrl-C does: one line, exit 143 / 129, no traceback."""
    for sig in ENDING:
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _exit_now)


def _exit_now(signum: int, _frame: Any) -> None:
    import sys
    sys.stderr.write(f"loomex: {describe(signum)}\n")
    raise SystemExit(exit_code(signum))


_watchdog: list[Any] = []
#: run before the watchdog ends the process (the REPL puts the terminal back as it was)
last_words: list[Callable[[], Any]] = []


def _arm_watchdog(signum: int) -> None:
    if _watchdog:
        return
    import threading
    timer = threading.Timer(HARD_EXIT_S, _hard_exit, (signum,))
    timer.daemon = True
    _watchdog.append(timer)
    timer.start()


def _hard_exit(signum: int) -> None:  # pragma: no cover - only when something hangs
    import os
    import sys
    for fn in last_words:
        try:
            fn()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
    try:
        sys.stderr.write(f"loomex: still busy {HARD_EXIT_S:g} s after {describe(signum)}; "
                         "exiting now\n")
        sys.stderr.flush()
    finally:
        os._exit(exit_code(signum))
