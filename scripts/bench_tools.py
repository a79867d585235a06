#!/usr/bin/env python3
"""Parallel tools: one step that calls 8 tools which each take 0.5 s, for `async def` tools
and for plain blocking `def` tools. The step's tool phase should take ~0.5 s, not 4 s.

    python scripts/bench_tools.py [--tools 8] [--seconds 0.5] [--reps 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from loomex_cli import Agent, ToolResult, arun, tool  # noqa: E402
from replay_server import ReplayServer, Reply  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tools", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.reps, a.seconds = 1, 0.1
    delay = a.seconds

    @tool
    async def wait_async(i: int) -> str:
        """Waits."""
        await asyncio.sleep(delay)
        return f"done {i}"

    @tool
    def wait_blocking(i: int) -> str:
        """Waits, blocking its thread."""
        time.sleep(delay)
        return f"done {i}"

    srv = ReplayServer().start()
    rows = []
    try:
        for t in (wait_async, wait_blocking):
            phases = []
            for rep in range(a.reps):
                calls = [(f"c{i}", t.name, {"i": i}) for i in range(a.tools)]
                url = srv.script(f"{t.name}-{rep}", [Reply.tool_calls(calls), Reply.text("ok")])
                marks: list[float] = []

                def sink(ev, marks=marks):
                    if isinstance(ev, ToolResult):
                        marks.append(time.perf_counter())
                agent = Agent(model="openai/m", base_url=url, api_key="k", tools=[t])
                t0 = [0.0]

                def start(ev, t0=t0):
                    if type(ev).__name__ == "ToolCallComplete" and not t0[0]:
                        t0[0] = time.perf_counter()
                asyncio.run(arun(agent, "go", sink=[start, sink]))
                phases.append(max(marks) - t0[0])
            rows.append((t.name, statistics.median(phases), min(phases), max(phases)))
    finally:
        srv.stop()
    serial = a.tools * delay
    print(f"| {a.tools} tools x {delay:g} s in one step | tool phase median s | range s | vs serial {serial:g} s |")
    print("|---|---|---|---|")
    for name, med, lo, hi in rows:
        kind = "async def" if name == "wait_async" else "blocking def"
        print(f"| {kind} | {med:.3f} | {lo:.3f}-{hi:.3f} | {serial / med:.1f}x faster |")


if __name__ == "__main__":
    main()
