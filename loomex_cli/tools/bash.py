"""The ``bash`` tool: one shell command in the working directory, in its own process group.

stdout and stderr share one pipe (so they stay interleaved as they came); on a timeout or a
cancellation the whole group is killed (SIGTERM, then SIGKILL). Long output keeps its head and
its tail, and the whole of it is saved to a file named in the result.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from ..engine.tools import Tool, ToolError
from ._common import work_dir

DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 600.0
#: output above either limit is cut (head + tail) and saved whole to a file
MAX_LINES = 2000
MAX_BYTES = 50_000
#: seconds between SIGTERM and SIGKILL
TERM_GRACE = 2.0
#: seconds to keep reading after bash exited (background processes may hold the pipe)
DRAIN_GRACE = 1.0


class BashTool(Tool):
    name = "bash"
    summary = "run a shell command (bash -c) in the working directory"
    description = (
        "Runs a shell command with `bash -c` in the working directory and returns its output "
        "(stdout and stderr interleaved) and exit code. No terminal and no input: commands "
        "must not wait for the keyboard. Default timeout 120 s, at most 600; on a timeout the "
        "command and every process it started are killed. Long output keeps the head and the "
        "tail, and the whole of it is saved to a file named in the result. To leave a process "
        "running in the background, redirect its output: `cmd > log 2>&1 &`. Prefer the "
        "read_file, grep and glob tools to cat, grep and find.")
    parameters = {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "the command line, run by bash -c"},
            "timeout": {"type": "number",
                        "description": "seconds before the command is killed (default 120, "
                                       "at most 600)"},
        },
        "required": ["command"],
    }
    #: above MAX_TIMEOUT so that the tool's own timeout (which kills the group) fires first
    timeout = MAX_TIMEOUT + 10
    risk = "exec"
    #: the approval policy matches rules against a command line
    subject_kind = "command"

    def __init__(self, *, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES,
                 output_dir: str | None = None) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.output_dir = output_dir

    def approval_subject(self, args: dict[str, Any], ctx: Any = None) -> str:
        return str(args.get("command", ""))

    async def execute(self, args: dict[str, Any], ctx: Any) -> str:
        import asyncio
        import subprocess
        command = str(args.get("command") or "")
        if not command.strip():
            raise ToolError("command is empty")
        limit = _timeout(args.get("timeout"))
        cwd = work_dir(ctx)
        if not os.path.isdir(cwd):
            raise ToolError(f"the working directory does not exist: {cwd}")
        deps = getattr(ctx, "deps", None) or {}
        out_dir = self.output_dir or deps.get("output_dir") or None
        env = {**os.environ, "PAGER": "cat", "GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0"}
        # our own pipe (not asyncio's): bash's exit is then seen when bash exits, even if a
        # process it left in the background still holds the pipe, and we can close it
        rfd, wfd = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                "bash", "-c", command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=wfd, stderr=subprocess.STDOUT, start_new_session=True)
        except BaseException:
            os.close(rfd)
            raise
        finally:
            os.close(wfd)
        loop = asyncio.get_running_loop()
        cap = _Capture(self.max_lines, self.max_bytes, out_dir)
        transport: Any = None
        reader: Any = None
        timed_out = lingering = False
        rfile = os.fdopen(rfd, "rb", buffering=0)
        try:
            stream = asyncio.StreamReader(limit=2 ** 20)
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(stream), rfile)
            reader = asyncio.ensure_future(_pump(stream, cap))
            try:
                await asyncio.wait_for(proc.wait(), limit)
            except TimeoutError:
                timed_out = True
                await kill_group(proc)
            try:
                await asyncio.wait_for(asyncio.shield(reader), DRAIN_GRACE)
            except TimeoutError:
                lingering = True
        except BaseException:  # cancelled (or broken): nothing may outlive the call
            if reader is not None:
                reader.cancel()
            await kill_group(proc)
            cap.close()
            raise
        finally:
            if reader is not None and not reader.done():
                reader.cancel()
            if transport is not None:
                transport.close()
            else:
                rfile.close()
        cap.close()
        text = cap.render()
        notes = []
        if lingering:
            notes.append("(bash exited but processes it left in the background still hold "
                         "the output open; what they print later is not captured — redirect "
                         "their output to a file)")
        if timed_out:
            notes.append(f"(timed out after {limit:g} s: the command and every process it "
                         "started were killed)")
        elif proc.returncode is not None and proc.returncode < 0:
            notes.append(f"(killed by signal {_signame(-proc.returncode)})")
        else:
            notes.append(f"(exit code {proc.returncode})")
        body = text if text else "(no output)"
        if not body.endswith("\n"):
            body += "\n"
        return body + "\n".join(notes)


def _timeout(value: Any) -> float:
    if value is None or value == "":
        return DEFAULT_TIMEOUT
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ToolError(f"timeout must be a number of seconds, got {value!r}") from None
    if t != t or t <= 0:
        return DEFAULT_TIMEOUT
    return min(t, MAX_TIMEOUT)


def _signame(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return str(n)


async def _pump(stream: Any, cap: "_Capture") -> None:
    while True:
        data = await stream.read(65536)
        if not data:
            return
        cap.feed(data)


# -- killing the group ---------------------------------------------------------------

def group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is still in process group ``pgid``."""
    if os.path.isdir("/proc/self"):
        try:
            names = os.listdir("/proc")
        except OSError:
            names = []
        for n in names:
            if not n.isdigit():
                continue
            try:
                with open(f"/proc/{n}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2:].split()
            if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def kill_group(proc: Any, grace: float = TERM_GRACE) -> None:
    """SIGTERM to the process's whole group (it leads its own session), then SIGKILL to
    whatever is left after ``grace`` seconds (at once if this is cancelled while waiting);
    waits until the group is gone."""
    import asyncio
    import time
    pgid = proc.pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    try:
        while group_alive(pgid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:  # also when cancelled again while waiting (a second Ctrl-C, a shutdown)
        _signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 1.0
    while group_alive(pgid) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    try:
        await asyncio.wait_for(proc.wait(), 1.0)
    except TimeoutError:  # pragma: no cover - the leader is dead by now
        pass


# -- capturing output ----------------------------------------------------------------

class _Capture:
    """Keeps output in memory while it is small; past a limit, spills it all to a file and
    keeps only the head and the tail in memory."""

    def __init__(self, max_lines: int, max_bytes: int, out_dir: str | None) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.head_lines, self.tail_lines = max_lines // 2, max_lines - max_lines // 2
        self.head_bytes, self.tail_bytes = max_bytes // 2, max_bytes - max_bytes // 2
        self.out_dir = out_dir
        self.buf: bytearray | None = bytearray()
        self.head = b""
        self.tail = bytearray()
        self.total = 0
        self.newlines = 0
        self.file: Any = None
        self.path: str | None = None

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        self.newlines += data.count(b"\n")
        if self.buf is not None:
            self.buf += data
            if len(self.buf) > self.max_bytes or self.newlines > self.max_lines:
                self._spill()
            return
        self.file.write(data)
        self.tail += data
        if len(self.tail) > 4 * self.tail_bytes:
            del self.tail[:-self.tail_bytes]

    def _spill(self) -> None:
        import tempfile
        assert self.buf is not None
        try:
            fd, self.path = tempfile.mkstemp(prefix="loomex-bash-", suffix=".log",
                                             dir=self.out_dir)
        except OSError:  # an unusable output_dir: the system's temp directory then
            fd, self.path = tempfile.mkstemp(prefix="loomex-bash-", suffix=".log")
        self.file = os.fdopen(fd, "wb")
        self.file.write(self.buf)
        self.head = bytes(self.buf[:self.head_bytes])
        self.tail = bytearray(self.buf[-self.tail_bytes:])
        self.buf = None

    def close(self) -> None:
        if self.file is not None and not self.file.closed:
            self.file.close()

    def _lines(self) -> int:
        return self.newlines + (1 if self.total and not self._ends_nl() else 0)

    def _ends_nl(self) -> bool:
        last = self.buf if self.buf is not None else self.tail
        return bool(last) and last[-1:] == b"\n"

    def render(self) -> str:
        if self.buf is not None:
            return self.buf.decode("utf-8", "replace")
        head = _first_lines(self.head, self.head_lines)
        tail = _last_lines(bytes(self.tail[-self.tail_bytes:]), self.tail_lines)
        head_n = head.count(b"\n") + (0 if not head or head.endswith(b"\n") else 1)
        tail_n = tail.count(b"\n") + (0 if not tail or tail.endswith(b"\n") else 1)
        lines = self._lines()
        cut_bytes = self.total - len(head) - len(tail)
        cut_lines = max(0, lines - head_n - tail_n)
        marker = (f"[... {cut_lines:,} lines ({cut_bytes:,} bytes) cut here; the whole output "
                  f"({self.total:,} bytes, {lines:,} lines) is saved in {self.path} — read "
                  "it with read_file (offset/limit) or search it with grep ...]\n")
        h = head.decode("utf-8", "replace")
        if h and not h.endswith("\n"):
            h += "\n"
        return h + marker + tail.decode("utf-8", "replace")


def _first_lines(data: bytes, n: int) -> bytes:
    """At most ``n`` whole lines from the start (a partial last line is dropped unless it is
    all there is)."""
    pos = count = 0
    while count < n:
        j = data.find(b"\n", pos)
        if j == -1:
            break
        pos, count = j + 1, count + 1
    return data[:pos] if pos else data


def _last_lines(data: bytes, n: int) -> bytes:
    """At most ``n`` whole lines from the end (a partial first line is dropped unless it is
    all there is)."""
    end = len(data) - (1 if data.endswith(b"\n") else 0)
    pos, count = end, 0
    while count < n:
        j = data.rfind(b"\n", 0, pos)
        if j == -1:
            break
        pos, count = j, count + 1
    return data[pos + 1:] if count else data
