"""``loomex`` console entry point. ``--version`` answers before anything heavy is imported, and a
plain ``loomex PROMPT`` runs without building the Typer tree (cli/fast_run.py)."""

from __future__ import annotations

import sys
from typing import Any, NoReturn


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        from ._version import __version__
        print(f"loomex {__version__}")
        if argv is None:
            leave(0)
        return
    from .cli.fast_run import main as cli_main  # a plain one-shot without Typer, else Typer
    if argv is not None:  # called from a program: its SystemExit is the caller's
        cli_main(args)
    pause_collector()
    try:
        cli_main(args)
    except SystemExit as e:
        leave(e.code)


#: how long the cycle collector stays off at start (see pause_collector)
COLLECTOR_PAUSE_S = 1.0


def pause_collector() -> None:
    """Turns the cycle collector off for the first second of the process. Start-up is
    imports, which make hundreds of thousands of objects that all live to the end, and the
    collector walks them again and again to find nothing: about 70 collections, 5-10 ms of a
    one-shot. A daemon timer turns it back on, so a REPL, ``serve`` or a long run collects
    as always, and what one second can leave uncollected stays small."""
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
    flushed stdout); the atexit handlers still run (telemetry and logging flush there), and
    the standard streams are flushed. Only the console entry does this, and not while another
    non-daemon thread runs: then Python's own exit waits for it, as before."""
    threading = sys.modules.get("threading")
    if threading is not None and any(t.is_alive() and not t.daemon and
                                     t is not threading.main_thread()
                                     for t in threading.enumerate()):
        raise SystemExit(code)
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


if __name__ == "__main__":
    main()
