#!/usr/bin/env python3
"""Streaming Markdown on a terminal: what rendering an answer as it streams costs, against
Rich rendering the whole answer once. Both render to a Console writing to an in-memory file
(force_terminal=True, 100x40). The answer is the test corpus (tests/data/markdown: headings,
lists, tables, a 300-line code block, CJK) repeated to the size wanted.

- "fast stream": the chunks arrive as fast as they can (the live tail is redrawn at most
  every 80 ms of wall time, as on a terminal). Target: 2,000 lines in 20,000 chunks ≤ 2x once.
- "slow stream": a clock that moves 8 ms per chunk (125 chunks/s, a redraw every 10 chunks):
  the CPU it takes, as a share of the time such a stream lasts.

Usage: python scripts/bench_render.py [--lines 2000] [--chunks 20000] [--quick]"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loomex_cli.cli.live_markdown import MarkdownStream  # noqa: E402
from loomex_cli.cli.live_region import LiveStream  # noqa: E402

WIDTH, HEIGHT = 100, 40


def answer(lines: int) -> str:
    corpus = [p.read_text() for p in sorted((ROOT / "tests" / "data" / "markdown").glob("*.md"))]
    parts: list[str] = []
    n = 0
    while n < lines:
        for doc in corpus:
            parts.append(doc)
            n += doc.count("\n") + 1
            if n >= lines:
                break
    text = "\n".join(parts)
    return "\n".join(text.split("\n")[:lines]) + "\n"


def console() -> object:
    from rich.console import Console
    return Console(file=io.StringIO(), force_terminal=True, width=WIDTH, height=HEIGHT,
                   highlight=False)


def once(text: str) -> float:
    from rich.markdown import Markdown
    c = console()
    t0 = time.perf_counter()
    c.print(Markdown(text))  # type: ignore[attr-defined]
    return time.perf_counter() - t0


class SlowClock:
    """125 chunks a second: the clock moves 8 ms per chunk fed."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def streamed(text: str, chunks: int, slow: bool = False) -> float:
    c = console()
    size = max(1, len(text) // chunks)
    pieces = [text[i:i + size] for i in range(0, len(text), size)]
    clock = SlowClock() if slow else time.monotonic
    live = LiveStream(c, MarkdownStream(c), clock=clock)
    t0 = time.perf_counter()
    for p in pieces:
        if slow:
            clock.t += 0.008  # type: ignore[union-attr]
        live.feed(p)
    live.close()
    return time.perf_counter() - t0


def median(fn: object, repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))  # type: ignore[operator]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--chunks", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (CI: the script runs)")
    a = ap.parse_args()
    if a.quick:
        a.lines, a.chunks, a.repeat = 100, 500, 1
    print("| answer | chunks | render once | streamed, fast | ratio | streamed, slow (125 chunks/s) | CPU share of that stream |")
    print("|---|---|---|---|---|---|---|")
    sizes = [a.lines // 4, a.lines // 2, a.lines, a.lines * 2] if not a.quick else [a.lines]
    for lines in sizes:
        text = answer(lines)
        chunks = a.chunks * lines // a.lines
        base = median(lambda: once(text), a.repeat)
        fast = median(lambda: streamed(text, chunks), a.repeat)
        slow = streamed(text, chunks, slow=True)
        duration = chunks * 0.008
        print(f"| {lines:,} lines | {chunks:,} | {base * 1000:.0f} ms ({base / lines * 1e6:.0f} µs/line) "
              f"| {fast * 1000:.0f} ms ({fast / lines * 1e6:.0f} µs/line) | {fast / base:.2f}x "
              f"| {slow * 1000:.0f} ms | {slow / duration:.1%} of {duration:.0f} s |")


if __name__ == "__main__":
    main()
