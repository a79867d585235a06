#!/usr/bin/env python3
"""Compaction bookkeeping for a 1,000-message conversation (no summarisation call): the
estimate, the split point, and the whole compaction with an instant summariser.
Target: well under 10 ms. Usage: python scripts/bench_compaction.py [--messages N] [--quick]"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from loomex_cli import Message, ToolCall
from loomex_cli.engine import compaction


def conversation(n: int) -> list[Message]:
    msgs = [Message.system("You are a helpful agent.")]
    i = 0
    while len(msgs) < n:
        msgs += [Message.user(f"question {i} " * 20),
                 Message.assistant(None, [ToolCall(f"c{i}", "read_file", '{"path": "src/x.py"}')]),
                 Message.tool(f"c{i}", "line\n" * 80), Message.assistant(f"answer {i} " * 30)]
        i += 1
    return msgs[:n]


async def instant(text: str, extra: str | None) -> str:
    return "summary"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.messages, a.repeat = 100, 3
    msgs = conversation(a.messages)
    keep = compaction.estimate(msgs) // 4
    rows = []
    for label, fn in (("estimate", lambda: compaction.estimate(msgs)),
                      ("split point", lambda: compaction.split_point(msgs, 1, keep)),
                      ("compact (instant summary)", lambda: asyncio.run(compaction.compact(msgs, keep, instant)))):
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        rows.append((label, statistics.median(times), min(times), max(times)))
    print(f"| compaction bookkeeping, {a.messages} messages | median ms | range ms |")
    print("|---|---|---|")
    for label, med, lo, hi in rows:
        print(f"| {label} | {med:.2f} | {lo:.2f}-{hi:.2f} |")


if __name__ == "__main__":
    main()
