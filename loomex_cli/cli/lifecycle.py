"""The process around a command: the cycle collector paused while a one-shot starts, and the
exit without the interpreter's teardown. Standard library only: the console entry
(``__main__``) and the one-shot fast path (fast_run.py) use it before anything heavy."""

from __future__ import annotations

import sys
from typing import Any, NoReturn


#: how long the cycle collector stays off at start (see pause_collector)
COLLECTOR_PAUSE_S = 1.0


def pause_collector() -> None:
    """Turns the cycle collector off for the first second of a one-shot (fast_run.py).
    Start-up is imports, which make hundreds of thousands of objects that all live to the
    end, and the collector walks them again and again to find nothing: about 70
    collections, 5-10 ms of a one-shot. A daemon timer turns it back on, so a long run
    collects as always. Not for the REPL: it would keep what its own start-up leaves
    (about 1 MiB more at its peak)."""
    import gc
    import threading
    gc.disable()
    timer = threading.Timer(COLLECTOR_PAUSE_S, gc.enable)
    timer.daemon = True
    timer.start()


def leave(code: Any) -> NoReturn:
    """Ends the process once a command is over, without the interpreter's teardown (freeing
    every module and object: about 30 ms, an eighth of a one-shot). Every command has already
    written what it must (conversations are committed as they happen; exits.exit_flushed
    flushed stdout). What Python's own exit does first still happens, in its order: other
    threads are waited for (idle executor workers are stopped: a host name's lookup leaves
    one), then the atexit handlers run (telemetry and logging flush there); the standard
    streams are flushed last. Only the console entry (``__main__``) calls it."""
    threading = sys.modules.get("threading")
    if threading is not None:
        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is None:  # not CPython's threading: exit as Python does
            raise SystemExit(code)
        shutdown()  # what Python's exit runs first: joins the non-daemon threads
    import atexit
    import os
    atexit._run_exitfuncs()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1 (as Python does it)
        sys.stderr.write(f"{code}\n")
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed, gone, or None (no console)
            pass
    os._exit(status & 0xFF)
