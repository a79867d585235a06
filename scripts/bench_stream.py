#!/usr/bin/env python3
"""Streaming throughput: loomex's full assembly of a long stream vs the floor.

    python scripts/bench_stream.py [--chunks 20000] [--reps 7] [--quick] [--profile]

The replay server runs in a subprocess and streams an OpenAI-style completion of N text
chunks. Measured in the same process, interleaved, several repetitions each:

- floor: httpx2 ``aiter_lines`` + ``json.loads`` + joining ``delta.content``: the least any
  Python client can do;
- loomex chat(): ``loomex_cli.wire.client.chat`` with an Assembler whose callbacks build the
  engine's events (TextDelta ...) into a no-op sink: SSE + JSON + deltas + events;
- loomex arun(): the whole agent loop for one step (``arun(..., max_steps=1)``);
- the same with saving as the CLI does it: a Recorder sink that writes the answer to the WAL
  SQLite database while it streams (at most every 250 ms), then the finished message;
- the openai SDK, when it is installed.

Prints a Markdown table: median and range per stream, chunks/s, and the ratio to the floor
(floor time / its time: 1.0x is as fast as the floor; the target for loomex is >= 0.9x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _benchlib import ServerProcess, machine, summary, table  # noqa: E402


def _deltas(n: int) -> list[str]:
    words = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", "."]
    return [words[i % len(words)] for i in range(n)]


BODY = {"model": "m", "messages": [{"role": "user", "content": "Tell me a long story."}],
        "stream": True, "stream_options": {"include_usage": True}}


async def floor(url: str, client) -> str:
    parts = []
    async with client.stream("POST", url + "/chat/completions", json=BODY,
                             headers={"authorization": "Bearer x"}) as r:
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            choices = json.loads(data).get("choices")
            if choices:
                t = choices[0]["delta"].get("content")
                if t:
                    parts.append(t)
    return "".join(parts)


async def loomex_chat(url: str, _client) -> str:
    from loomex_cli.engine.events import (ReasoningDelta, TextDelta, ToolCallDelta,
                                          ToolCallStart)
    from loomex_cli.engine.sinks import Dispatcher
    from loomex_cli.wire import client as wire
    from loomex_cli.wire.assemble import Assembler
    from loomex_cli.wire.providers import Route

    emit = Dispatcher(lambda ev: None).emit  # a no-op sink, behind the sink guard
    step = 1
    asm = Assembler(lambda t: emit(TextDelta(t, step)),
                    lambda t: emit(ReasoningDelta(t, step)),
                    lambda i, cid, name: emit(ToolCallStart(cid, name, i, step)),
                    lambda i, cid, piece: emit(ToolCallDelta(cid, i, piece, step)),
                    "bench")
    route = Route("bench", "m", url, api_key="x")
    turn = await wire.chat(route, BODY, asm)
    return turn.content or ""


async def loomex_arun(url: str, _client) -> str:
    from loomex_cli import Agent, arun
    agent = Agent(model="bench/m", base_url=url, api_key="x", temperature=None)
    res = await arun(agent, "Tell me a long story.", max_steps=1, sink=lambda ev: None)
    return res.text


_DB_DIR: list[str] = []


async def loomex_arun_saved(url: str, _client) -> str:
    """arun with the CLI's Recorder as its sink (in place of the no-op one): it saves the
    answer to the WAL database while it streams (every 250 ms), then the whole message.
    Opening and closing the database (once per process in the CLI) is left out."""
    import tempfile
    from loomex_cli import Agent, Message, arun
    from loomex_cli.engine.recorder import Recorder
    from loomex_cli.engine.store import Store
    if not _DB_DIR:  # one store for the process, as in the CLI; a new conversation each time
        _DB_DIR.append(tempfile.mkdtemp(prefix="loomex-bench-db-"))
        _DB_DIR.append(Store.open(Path(_DB_DIR[0]) / "conversations.db"))
    rec = Recorder("bench/m", "run", store=_DB_DIR[1])
    user = Message.user("Tell me a long story.")
    rec.add(user)  # the conversation exists before the request, as in the CLI
    agent = Agent(model="bench/m", base_url=url, api_key="x", temperature=None)
    try:
        res = await arun(agent, [user], max_steps=1, sink=rec)
    finally:
        rec.close()
    return res.text


async def openai_sdk(url: str, sdk_client) -> str:
    parts = []
    stream = await sdk_client.chat.completions.create(
        model="m", messages=BODY["messages"], stream=True,
        stream_options={"include_usage": True})
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return "".join(parts)


async def measure(url: str, chunks: int, reps: int, profile: bool) -> list[list[str]]:
    import httpx2
    expected = "".join(_deltas(chunks))
    impls = {"floor (httpx2 aiter_lines + json.loads)": floor,
             "loomex chat() (SSE + JSON + assembly + events)": loomex_chat,
             "loomex arun(max_steps=1) (the whole loop)": loomex_arun,
             "loomex arun + saving while streaming (Recorder, WAL SQLite)": loomex_arun_saved}
    clients = {name: None for name in impls}
    floor_client = httpx2.AsyncClient(timeout=60)
    clients["floor (httpx2 aiter_lines + json.loads)"] = floor_client
    try:
        import openai  # optional: pip install '.[bench]'
        sdk = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        impls[f"openai SDK {openai.__version__}"] = openai_sdk
        clients[f"openai SDK {openai.__version__}"] = sdk
    except ImportError:
        pass
    times: dict[str, list[float]] = {name: [] for name in impls}
    cpu: dict[str, list[float]] = {name: [] for name in impls}  # this process's CPU time
    names = list(impls)
    for name in names:  # warm-up: imports, connections
        got = await impls[name](url, clients[name])
        assert got == expected, f"{name}: wrong text ({len(got)} vs {len(expected)} chars)"
    for rep in range(reps):
        order = names[rep % len(names):] + names[:rep % len(names)]  # rotate who goes first
        for name in order:
            t0, c0 = time.perf_counter(), time.process_time()
            got = await impls[name](url, clients[name])
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            assert len(got) == len(expected)
    if profile:
        import cProfile
        import pstats
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(3):
            await loomex_chat(url, None)
        pr.disable()
        pstats.Stats(pr, stream=sys.stderr).sort_stats("tottime").print_stats(18)
    await floor_client.aclose()
    for name, client in clients.items():
        if name.startswith("openai SDK"):
            await client.close()
    from loomex_cli.wire.client import close_client
    await close_client()
    if _DB_DIR:
        import shutil
        _DB_DIR.pop().close()
        shutil.rmtree(_DB_DIR.pop(), ignore_errors=True)
    floor_median = summary(times[names[0]])[0]
    rows = []
    for name in names:
        med, lo, hi = summary(times[name])
        rows.append([name, f"{med * 1000:.1f}", f"{lo * 1000:.1f}–{hi * 1000:.1f}",
                     f"{chunks / med:,.0f}", f"{floor_median / med:.2f}x"])
    plain_name = "loomex arun(max_steps=1) (the whole loop)"
    saved_name = "loomex arun + saving while streaming (Recorder, WAL SQLite)"
    plain, saved = summary(times[plain_name])[0], summary(times[saved_name])[0]
    plain_cpu, saved_cpu = summary(cpu[plain_name])[0], summary(cpu[saved_name])[0]
    SAVE_NOTE.append(f"Saving while streaming costs {(saved / plain - 1) * 100:+.1f}% over "
                     f"arun alone in wall time ({saved * 1000:.1f} vs {plain * 1000:.1f} ms "
                     f"median) and {(saved_cpu / plain_cpu - 1) * 100:+.1f}% in client CPU "
                     f"time ({saved_cpu * 1000:.1f} vs {plain_cpu * 1000:.1f} ms, less "
                     "sensitive to other load on the machine); target ≤ +5%.")
    return rows


SAVE_NOTE: list[str] = []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke run)")
    ap.add_argument("--profile", action="store_true", help="cProfile loomex chat() to stderr")
    a = ap.parse_args()
    if a.quick:
        a.chunks, a.reps = 300, 2
    spec = [{"text": _deltas(a.chunks),
             "usage": {"prompt_tokens": 12, "completion_tokens": a.chunks,
                       "total_tokens": a.chunks + 12}}]
    with ServerProcess(scripts={"stream": spec}) as srv:
        rows = asyncio.run(measure(srv.url("stream"), a.chunks, a.reps, a.profile))
    print(f"## Streaming {a.chunks:,} chunks ({a.reps} repetitions, {machine()})\n")
    print(table(["client", "median ms", "range ms", "chunks/s", "vs floor"], rows))
    print("\n" + " ".join(SAVE_NOTE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
