"""The console entry ends the process without the interpreter's teardown (``lifecycle.leave``)
and a one-shot pauses the cycle collector while it starts (``pause_collector``): what a command wrote,
the atexit handlers and the exit status all survive, and work in another thread is waited
for."""

from __future__ import annotations

import subprocess
import sys

import pytest

PRELUDE = ("import atexit, sys\nfrom loomex_cli import __main__ as main_module\n"
           "from loomex_cli.cli import lifecycle as entry\n")


def run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PRELUDE + code, *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("code, status, err", [(0, 0, ""), (None, 0, ""), (7, 7, ""),
                                               ("'bad input'", 1, "bad input\n")])
def test_leave_keeps_the_status_the_output_and_the_atexit_handlers(code, status, err):
    p = run("atexit.register(lambda: print('atexit ran'))\n"
            "sys.stdout.write('partial line, unflushed')\n"
            f"entry.leave({code})\nprint('not reached')\n")
    assert p.returncode == status, p.stderr
    assert p.stdout == "partial line, unflushedatexit ran\n"
    assert p.stderr == err


def test_leave_waits_for_a_running_non_daemon_thread(tmp_path):
    done = tmp_path / "done"
    p = run("import threading, time, pathlib\n"
            "def work():\n    time.sleep(0.3)\n"
            f"    pathlib.Path({str(done)!r}).write_text('written')\n"
            "threading.Thread(target=work).start()\n"
            "entry.leave(3)\n")
    assert p.returncode == 3, p.stderr
    assert done.read_text() == "written"  # os._exit would have killed the thread first


def test_leave_skips_the_teardown_even_after_a_thread_pool_ran():
    """An idle executor worker (asyncio's host name lookups leave one) is stopped as Python's
    own exit stops it, and the teardown (which would run __del__ here) is still skipped."""
    p = run("from concurrent.futures import ThreadPoolExecutor\n"
            "pool = ThreadPoolExecutor(2)\npool.submit(print, 'work ran').result()\n"
            "class Noisy:\n    def __del__(self):\n        print('teardown ran')\n"
            "keep = Noisy()\nentry.leave(4)\n")
    assert p.returncode == 4, p.stderr
    assert p.stdout == "work ran\n"


def test_the_console_entry_leaves_through_leave_and_a_caller_keeps_its_system_exit():
    p = run("atexit.register(lambda: print('atexit ran'))\n"
            "entry.leave = lambda code: (print('leave', code), sys.exit(code))\n"
            "sys.argv = ['loomex', 'no-such-command-word', '--no-such-flag']\n"
            "try:\n    main_module.main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    print('caller got', e.code)\n"
            "main_module.main()\n")
    assert p.stdout.splitlines() == ["caller got 2", "leave 2", "atexit ran"], p.stderr
    assert p.returncode == 2


def test_the_collector_is_paused_at_start_and_back_on_soon_after():
    p = run("import gc, time\nentry.COLLECTOR_PAUSE_S = 0.05\nentry.pause_collector()\n"
            "paused = not gc.isenabled()\n"
            "deadline = time.monotonic() + 10\n"
            "while not gc.isenabled() and time.monotonic() < deadline:\n    time.sleep(0.01)\n"
            "print(paused, gc.isenabled())\n")
    assert p.stdout.split() == ["True", "True"], p.stderr
