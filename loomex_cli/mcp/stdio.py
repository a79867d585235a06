"""The stdio transport: a child process speaking newline-delimited JSON-RPC.

The child leads its own process group (so Ctrl-C at the terminal reaches loomex, which then
cancels the call politely, and not the server), its stderr goes to a log file, and it sees
only a small safe environment plus the ``env`` of its configuration (loomex's own API keys
are not handed to third-party programs). Closing follows the specification: stdin is
closed, then SIGTERM to the whole group, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import Any, Callable

from .jsonrpc import encode

#: the variables a server inherits from loomex's environment (as the reference SDKs do)
INHERIT = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "LC_CTYPE",
           "TMPDIR", "TZ", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
           "XDG_DATA_HOME", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE",
           "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
           # Windows
           "APPDATA", "HOMEDRIVE", "HOMEPATH", "LOCALAPPDATA", "PATHEXT", "PROCESSOR_ARCHITECTURE",
           "SYSTEMDRIVE", "SYSTEMROOT", "TEMP", "USERNAME", "USERPROFILE", "PROGRAMFILES")
#: the longest line read from a server (a big tool result arrives as one line)
MAX_LINE = 64 * 1024 * 1024
#: seconds the server gets to exit after stdin closes (the polite way), and after SIGTERM
EOF_GRACE = 0.2
GRACE = 1.0

#: process groups alive now (pid -> pgid), for the exit handler; see manager.kill_all
LIVE: dict[int, int] = {}


def child_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in INHERIT}
    env.update(extra or {})
    return env


class StdioTransport:
    def __init__(self, command: str, args: list[str], *, env: dict[str, str] | None = None,
                 cwd: str | None = None, log_path: str | None = None) -> None:
        self.command = command
        self.args = list(args)
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._closing = False

    def describe(self) -> str:
        return " ".join([self.command, *self.args])

    async def start(self, on_message: Callable[[Any], None],
                    on_close: Callable[[str], None]) -> None:
        log: Any = asyncio.subprocess.DEVNULL
        if self.log_path:
            os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
            log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {self.describe()}\n".encode())
            log.flush()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                self.command, *self.args, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=log, env=child_env(self.env),
                cwd=self.cwd or None, limit=MAX_LINE,
                start_new_session=sys.platform != "win32")
        except FileNotFoundError:
            raise OSError(f"command not found: {self.command}") from None
        except PermissionError:
            raise OSError(f"cannot run {self.command}: permission denied") from None
        finally:
            if log is not asyncio.subprocess.DEVNULL:
                log.close()
        LIVE[self.proc.pid] = self.proc.pid
        self._reader = asyncio.get_running_loop().create_task(self._read(on_message, on_close))

    async def _read(self, on_message: Callable[[Any], None],
                    on_close: Callable[[str], None]) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        why = "the server closed its output"
        try:
            while True:
                try:
                    line = await self.proc.stdout.readline()
                except ValueError:  # longer than MAX_LINE
                    why = f"the server sent a message over {MAX_LINE // 2**20} MiB"
                    break
                if not line:
                    break
                line = line.strip()
                if not line:
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue  # a stray log line on stdout: not ours to read
                on_message(msg)
        except asyncio.CancelledError:
            return
        except Exception as e:  # noqa: BLE001
            why = f"reading from the server failed: {e}"
        if self._closing:
            return
        try:
            code = await asyncio.wait_for(self.proc.wait(), GRACE)
            why = f"the server exited with code {code}" if code >= 0 else \
                f"the server was killed by {signal.Signals(-code).name}"
        except (TimeoutError, ValueError):
            pass
        on_close(why)

    async def send(self, message: dict[str, Any]) -> None:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            raise ConnectionError("the server is not running")
        async with self._write_lock:
            proc.stdin.write(encode(message))
            await proc.stdin.drain()

    async def close(self) -> None:
        self._closing = True
        proc = self.proc
        if proc is None:
            return
        if self._reader is not None:
            self._reader.cancel()
        try:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), EOF_GRACE)
                except TimeoutError:
                    pass
        finally:
            await kill_group(proc)

    def kill_now(self) -> None:
        """Synchronous, for the exit handler: SIGKILL to the group."""
        if self.proc is not None:
            signal_group(self.proc.pid, signal.SIGKILL)
            LIVE.pop(self.proc.pid, None)


def signal_group(pgid: int, sig: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - no process groups
        return False
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


async def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the whole group, SIGKILL after GRACE (members may outlive the leader)."""
    pgid = proc.pid
    if signal_group(pgid, signal.SIGTERM):
        deadline = time.monotonic() + GRACE
        while time.monotonic() < deadline and group_alive(pgid):
            await asyncio.sleep(0.02)
        signal_group(pgid, signal.SIGKILL)
    if proc.returncode is None:
        try:
            await asyncio.wait_for(proc.wait(), GRACE)
        except TimeoutError:
            pass
    LIVE.pop(pgid, None)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError, OSError):
        return False
