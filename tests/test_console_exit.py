"""The console entry ends the process without the interpreter's teardown (``__main__.leave``)
and pauses the cycle collector during start-up (``pause_collector``): what a command wrote,
the atexit handlers and the exit status all survive, and work in another thread is waited
for."""

from __future__ import annotations

import subprocess
import sys

import pytest

PRELUDE = "import atexit, sys\nfrom loomex_cli import __main__ as entry\n"


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


def test_the_console_entry_leaves_through_leave_and_a_caller_keeps_its_system_exit():
    p = run("atexit.register(lambda: print('atexit ran'))\n"
            "entry.leave = lambda code: (print('leave', code), sys.exit(code))\n"
            "sys.argv = ['loomex', 'no-such-command-word', '--no-such-flag']\n"
            "try:\n    entry.main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    print('caller got', e.code)\n"
            "entry.main()\n")
    assert p.stdout.splitlines() == ["caller got 2", "leave 2", "atexit ran"], p.stderr
    assert p.returncode == 2


def test_the_collector_is_paused_at_start_and_back_on_soon_after():
    p = run("import gc, time\nentry.COLLECTOR_PAUSE_S = 0.05\nentry.pause_collector()\n"
            "paused = not gc.isenabled()\n"
            "deadline = time.monotonic() + 10\n"
            "while not gc.isenabled() and time.monotonic() < deadline:\n    time.sleep(0.01)\n"
            "print(paused, gc.isenabled())\n")
    assert p.stdout.split() == ["True", "True"], p.stderr
