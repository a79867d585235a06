"""Shared by the benchmark scripts: the replay server in a subprocess (so that it does not share
the client's GIL), peak RSS, statistics and Markdown tables."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tests" / "replay_server.py"


class ServerProcess:
    """``python tests/replay_server.py`` serving the given scripts / agent conversations."""

    def __init__(self, scripts: dict[str, list[dict[str, Any]]] | None = None,
                 agents: dict[str, dict[str, Any]] | None = None) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="loomex-bench-")
        d = Path(self.tmp.name)
        port_file = d / "port"
        cmd = [sys.executable, str(SERVER), "--port-file", str(port_file), "--no-record"]
        for name, spec in (scripts or {}).items():
            f = d / f"script-{name}.json"
            f.write_text(json.dumps(spec))
            cmd += ["--script", f"{name}={f}"]
        for name, spec in (agents or {}).items():
            f = d / f"agent-{name}.json"
            f.write_text(json.dumps(spec))
            cmd += ["--agent", f"{name}={f}"]
        self._log = open(d / "server.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log, cwd=ROOT)
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None:
                log = (d / "server.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError("the replay server did not start: " + log)
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the replay server did not start in 30 s")
            time.sleep(0.02)
        self.base = f"http://127.0.0.1:{int(port_file.read_text())}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        self.tmp.cleanup()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB, macOS bytes).

    On Linux, VmHWM: ru_maxrss survives exec, so a child started by a big parent (vfork shares
    its memory until the exec) would report the parent's peak when its own is lower."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def machine() -> str:
    import platform
    return (f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} CPUs")
