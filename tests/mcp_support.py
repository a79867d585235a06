"""The real MCP servers the tests start: server-everything and server-filesystem (npm, pinned
in tests/mcp_servers with the official conformance suite, installed with ``npm ci`` when
missing) and a server written with the official Python SDK (``mcp``, a test-only dependency).
Missing node/npm/mcp skips, or FAILS under ``LOOMEX_REQUIRE_ALL=1``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import REQUIRE_ALL

HERE = Path(__file__).resolve().parent / "mcp_servers"
MODULES = HERE / "node_modules" / "@modelcontextprotocol"
EVERYTHING = MODULES / "server-everything" / "dist" / "index.js"
FILESYSTEM = MODULES / "server-filesystem" / "dist" / "index.js"
#: the official MCP conformance suite (its client scenarios check loomex's client)
CONFORMANCE = MODULES / "conformance" / "dist" / "index.js"
PY_SERVER = HERE / "py_server.py"


def _missing(msg: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(msg + "; LOOMEX_REQUIRE_ALL=1 forbids skipping", pytrace=False)
    pytest.skip(msg)


def node() -> str:
    path = shutil.which("node")
    if not path:
        _missing("node is not installed (the npm MCP servers run on it)")
    if not all(p.is_file() for p in (EVERYTHING, FILESYSTEM, CONFORMANCE)):
        npm = shutil.which("npm")
        if not npm:
            _missing("npm is not installed (it installs the pinned MCP servers)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True,
                       timeout=600, capture_output=True)
    return str(path)


def everything_cmd() -> list[str]:
    return [node(), str(EVERYTHING), "stdio"]


def filesystem_cmd(root: Path) -> list[str]:
    return [node(), str(FILESYSTEM), str(root)]


def py_cmd(kind: str = "stdio", *extra: str) -> list[str]:
    try:
        import mcp  # noqa: F401 - only to know it is installed
    except ImportError:
        _missing("the mcp Python SDK is not installed (pip install -e '.[test]')")
    return [sys.executable, str(PY_SERVER), kind, *extra]


def toml_server(name: str, cmd: list[str], **extra: str) -> str:
    lines = [f"\n[mcp.servers.{name}]", f"command = {json.dumps(cmd[0])}",
             f"args = {json.dumps(cmd[1:])}"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def http_server(cmd: list[str], port: int, env: dict[str, str] | None = None,
                path: str = "/mcp") -> Iterator[str]:
    """Starts an HTTP MCP server and yields its URL once it accepts connections."""
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None:
                raise RuntimeError(f"the MCP server exited early ({proc.returncode})")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait(10)
