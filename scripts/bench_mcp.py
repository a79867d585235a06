#!/usr/bin/env python3
"""MCP costs, each beside its baseline from the same run:

1. a one-shot with one stdio MCP server configured but unused, against the same one-shot
   with no MCP configuration (target: the same);
2. the first tool list from server-everything over stdio through loomex (a fresh process's
   manager: thread, spawn, initialize, initialized, tools/list), against the server alone
   (spawned and asked ``initialize`` over raw pipes) (target: <= 1.5x);
3. one ``tools/call`` (echo) round trip through loomex from another event loop, as the
   agent loop makes it, against the same call over raw pipes (target: <= 2 ms above).

    python scripts/bench_mcp.py [--runs 15] [--calls 300] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from bench_startup import measure, start_server  # noqa: E402

EVERYTHING = ROOT / "tests" / "mcp_servers" / "node_modules" / "@modelcontextprotocol" / \
    "server-everything" / "dist" / "index.js"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {},
    "clientInfo": {"name": "bench", "version": "0"}}}


def server_cmd() -> list[str]:
    return ["node", str(EVERYTHING), "stdio"]


def raw_start() -> float:
    """ms from spawning the server to its initialize answer, over blocking pipes."""
    t0 = time.perf_counter()
    p = subprocess.Popen(server_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    p.stdin.write(json.dumps(INIT).encode() + b"\n")
    p.stdin.flush()
    p.stdout.readline()
    ms = (time.perf_counter() - t0) * 1000
    p.kill()
    p.wait()
    return ms


FIRST_LIST = r"""
import sys, time
t0 = time.perf_counter()
from loomex_cli.mcp.config import McpSettings, ServerConfig
from loomex_cli.mcp.manager import Manager
cmd = sys.argv[1:]
m = Manager(McpSettings(servers={"ev": ServerConfig("ev", command=cmd[0], args=cmd[1:])}))
tools = m.run(m.servers["ev"].list_tools())
print((time.perf_counter() - t0) * 1000, len(tools))
import os; os._exit(0)
"""


def loomex_first_list() -> float:
    out = subprocess.run([sys.executable, "-c", FIRST_LIST, *server_cmd()], capture_output=True,
                         text=True, timeout=60)
    ms, n = out.stdout.split()
    assert int(n) > 5, out
    return float(ms)


def raw_calls(n: int) -> list[float]:
    p = subprocess.Popen(server_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)

    def ask(msg: dict) -> bytes:
        p.stdin.write(json.dumps(msg).encode() + b"\n")
        p.stdin.flush()
        if "id" not in msg:
            return b""
        while True:
            line = p.stdout.readline()
            if b'"id":%d' % msg["id"] in line.replace(b" ", b""):
                return line
    ask(INIT)
    ask({"jsonrpc": "2.0", "method": "notifications/initialized"})
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        ask({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call",
             "params": {"name": "echo", "arguments": {"message": "hi"}}})
        out.append((time.perf_counter() - t0) * 1000)
    p.kill()
    p.wait()
    return out


def loomex_calls(n: int) -> list[float]:
    from loomex_cli.mcp.config import McpSettings, ServerConfig
    from loomex_cli.mcp.manager import Manager
    cmd = server_cmd()
    m = Manager(McpSettings(servers={"ev": ServerConfig("ev", command=cmd[0], args=cmd[1:])}))
    srv = m.servers["ev"]
    m.run(srv.list_tools())

    async def go() -> list[float]:  # from the caller's loop, as McpTool.execute does
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            await m.arun(srv.call("echo", {"message": "hi"}, None))
            out.append((time.perf_counter() - t0) * 1000)
        return out
    try:
        return asyncio.run(go())
    finally:
        m.shutdown()


def oneshots(runs: int) -> tuple[float, float]:
    tmp = Path(tempfile.mkdtemp(prefix="loomex-bench-mcp-"))
    server, url = start_server(tmp)
    loomex = str(Path(sys.executable).parent / "loomex")
    base = f'default_model = "replay/m"\n[providers.replay]\nbase_url = "{url}"\n'
    with_mcp = base + ("\n[mcp.servers.ev]\n"
                       f"command = {json.dumps(server_cmd()[0])}\n"
                       f"args = {json.dumps(server_cmd()[1:])}\n")
    envs = []
    for name, text in (("plain", base), ("mcp", with_mcp)):
        d = tmp / name
        d.mkdir()
        (d / "config.toml").write_text(text)
        env = dict(os.environ, LOOMEX_CONFIG_DIR=str(d), LOOMEX_DATA_DIR=str(tmp / "data"),
                   LOOMEX_CACHE_DIR=str(tmp / "cache"), LOOMEX_MODELS_URL="off",
                   REPLAY_API_KEY="k")
        envs.append(env)
    cmd = [loomex, "What is 2+2?", "--no-save"]
    times: list[list[float]] = [[], []]
    try:
        for env in envs:
            measure(cmd, env)
        for _ in range(runs):
            for i, env in enumerate(envs):
                times[i].append(measure(cmd, env)[0])
    finally:
        server.terminate()
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.runs, a.calls = 3, 30
    if not EVERYTHING.is_file():
        raise SystemExit("server-everything is not installed: cd tests/mcp_servers && npm ci")
    plain, configured = oneshots(a.runs)
    raw, ours = [], []
    raw_start(), loomex_first_list()  # warm the page cache
    for _ in range(a.runs):
        raw.append(raw_start())
        ours.append(loomex_first_list())
    rc, lc = raw_calls(a.calls), loomex_calls(a.calls)
    r_start, l_start = statistics.median(raw), statistics.median(ours)
    r_call, l_call = statistics.median(rc), statistics.median(lc)
    print("| measure | baseline | loomex | result | target |")
    print("|---|---|---|---|---|")
    print(f"| one-shot, one stdio MCP server configured but unused ({a.runs} runs, interleaved) "
          f"| {plain:.0f} ms (no MCP config) | {configured:.0f} ms | "
          f"{configured / plain:.2f}x | the same |")
    print(f"| first tool list, server-everything over stdio ({a.runs} runs) "
          f"| {r_start:.0f} ms (the server alone: spawn to initialize answer) "
          f"| {l_start:.0f} ms (import, thread, spawn, initialize, tools/list) "
          f"| {l_start / r_start:.2f}x | ≤ 1.5x |")
    print(f"| one tools/call round trip over stdio (echo, median of {a.calls}) "
          f"| {r_call:.2f} ms (raw pipes) | {l_call:.2f} ms (from another event loop) "
          f"| +{l_call - r_call:.2f} ms | ≤ +2 ms |")


if __name__ == "__main__":
    main()
