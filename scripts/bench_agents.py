#!/usr/bin/env python3
"""Many concurrent agent runs in one process: loomex vs a hand-written floor loop (and pydantic-ai).

    python scripts/bench_agents.py [--concurrency 1,100,500] [--quick]

Each run is a 2-step agent: the model (the replay server, in a subprocess) asks for 4 tool
calls at once, the 4 async tools run in parallel, the model answers. C runs go at once; each
of the C workers does several runs back to back after one warm-up run. Every (client, C) pair
is measured in a fresh subprocess, so that the peak RSS (ru_maxrss) is its own.

The floor is the least a Python program can do for the same conversation (~60 lines below):
one httpx2 AsyncClient, stream, parse, gather the 4 tools, second call. It comes in two
flavours: ``floor`` reads each body to its end (as the openai SDK and loomex do), so that its
keep-alive connection goes back to the pool; ``floor-break`` stops reading at ``[DONE]``, so
httpcore must close the connection and the next call opens a new one. On loopback a new
connection costs almost nothing while httpcore2's pool probes every idle socket on each
request, so at high concurrency ``floor-break`` can win here; against a real provider each new
connection is a TCP + TLS handshake. "vs floor" is against the faster of the two.
Targets for loomex: >= 0.7x the floor's runs/s at C=500, and a peak RSS <= 100 MiB.

When pydantic-ai is installed (``pip install '.[bench]'``), its Agent runs the same
conversation too: ``OpenAIChatModel`` through an ``OpenAICompatibleProvider`` on the loopback
URL, the tool an async ``@agent.tool_plain``, with the same pool limits, called as pydantic-ai
is usually called: ``await agent.run(prompt)``, which does not stream (the server answers it
with one JSON completion per step; streamed, with an ``event_stream_handler``, pydantic-ai
takes about twice the CPU). Without pydantic-ai the row is left out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import time
import os
from pathlib import Path

# the loop is measured, not models.dev: "bench/m" resolves (as every run does) without a fetch
os.environ.setdefault("LOOMEX_MODELS_URL", "off")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import ServerProcess, machine, peak_rss_mib, table  # noqa: E402

TOOLS_PER_STEP = 4
CONVERSATION = {
    "tool_calls": [[f"call_{i}", "lookup", {"key": f"k{i}"}] for i in range(TOOLS_PER_STEP)],
    "text": ["The", " values", " are", " v0,", " v1,", " v2", " and", " v3."],
    "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
}
ANSWER = "".join(CONVERSATION["text"])


TOOL_CALLS = [0]  # how many times the tool ran, checked against the runs made


async def lookup_impl(key: str) -> str:
    await asyncio.sleep(0)  # an async tool that yields once (I/O would go here)
    TOOL_CALLS[0] += 1
    return "v" + key[1:]


# -- the floor: a hand-written loop ------------------------------------------------------

TOOL_SPEC = [{"type": "function", "function": {
    "name": "lookup", "description": "Looks a key up.",
    "parameters": {"type": "object", "properties": {"key": {"type": "string"}},
                   "required": ["key"]}}}]


async def _stream(client, url: str, messages: list, stop_at_done: bool) -> tuple[str, dict]:
    body = {"model": "m", "messages": messages, "tools": TOOL_SPEC, "stream": True,
            "stream_options": {"include_usage": True}}
    text, calls = [], {}
    async with client.stream("POST", url, json=body,
                             headers={"authorization": "Bearer x"}) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                if stop_at_done:
                    break
                continue
            for ch in json.loads(line[6:]).get("choices") or []:
                delta = ch.get("delta") or {}
                if delta.get("content"):
                    text.append(delta["content"])
                for tc in delta.get("tool_calls") or []:
                    c = calls.setdefault(tc["index"], {"id": "", "name": "", "args": ""})
                    fn = tc.get("function") or {}
                    c["id"] = c["id"] or tc.get("id") or ""
                    c["name"] = c["name"] or fn.get("name") or ""
                    c["args"] += fn.get("arguments") or ""
    return "".join(text), calls


async def floor_run(client, url: str, stop_at_done: bool = False) -> str:
    messages = [{"role": "user", "content": "Look up k0..k3."}]
    text, calls = await _stream(client, url, messages, stop_at_done)
    ordered = [calls[i] for i in sorted(calls)]
    results = await asyncio.gather(*(lookup_impl(**json.loads(c["args"])) for c in ordered))
    messages.append({"role": "assistant", "content": text or None, "tool_calls": [
        {"id": c["id"], "type": "function",
         "function": {"name": c["name"], "arguments": c["args"]}} for c in ordered]})
    messages += [{"role": "tool", "tool_call_id": c["id"], "content": res}
                 for c, res in zip(ordered, results)]
    text, _ = await _stream(client, url, messages, stop_at_done)
    return text


# -- loomex ------------------------------------------------------------------------------

def loomex_agent(base_url: str):
    from loomex_cli import Agent, tool

    @tool
    async def lookup(key: str) -> str:
        """Looks a key up."""
        return await lookup_impl(key)

    return Agent(model="bench/m", base_url=base_url, api_key="x", tools=[lookup],
                 temperature=None)


# -- pydantic-ai (optional) --------------------------------------------------------------

def pydantic_ai_version() -> str | None:
    """The installed pydantic-ai's version, or None (not installed, too old, or broken): asked
    of a subprocess, so that this process stays small (its peak would leak into the workers')."""
    out = subprocess.run(
        [sys.executable, "-c", "import pydantic_ai, pydantic_ai.models.openai as m; "
         "m.OpenAIChatModel; print(getattr(pydantic_ai, '__version__', '?'))"],
        capture_output=True, text=True, timeout=120)
    return out.stdout.strip() or None if out.returncode == 0 else None


def pydantic_ai_agent(base_url: str, limits):
    """(agent, its HTTP client or None) for the loopback server, with the same tool."""
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    try:  # the same pool limits as loomex's shared client (pydantic-ai keeps 100 alive)
        from pydantic_ai.models import create_async_httpx2_client
        http = create_async_httpx2_client(limits=limits)
    except ImportError:
        http = None
    try:
        from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider
        provider = OpenAICompatibleProvider("loopback", base_url=base_url, api_key="x",
                                            http_client=http)
    except ImportError:  # older pydantic-ai
        from pydantic_ai.providers.openai import OpenAIProvider
        provider = OpenAIProvider(base_url=base_url, api_key="x", http_client=http)
    agent = Agent(OpenAIChatModel("m", provider=provider))

    @agent.tool_plain
    async def lookup(key: str) -> str:
        """Looks a key up."""
        return await lookup_impl(key)

    return agent, http


# -- one measurement (in its own process) -------------------------------------------------

async def worker_main(impl: str, base_url: str, concurrency: int, per_worker: int) -> dict:
    if impl != "loomex":
        import httpx2
        # the same pool limits as loomex's shared client
        limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=200)
    if impl.startswith("floor"):
        client = httpx2.AsyncClient(timeout=120, limits=limits)
        url = base_url + "/chat/completions"
        stop_at_done = impl == "floor-break"

        async def one() -> str:
            return await floor_run(client, url, stop_at_done)
    elif impl == "pydantic-ai":
        pai, client = pydantic_ai_agent(base_url, limits)

        async def one() -> str:
            return (await pai.run("Look up k0..k3.")).output
    else:
        from loomex_cli import arun
        agent = loomex_agent(base_url)

        async def one() -> str:
            return (await arun(agent, "Look up k0..k3.")).text

    async def worker(n: int) -> None:
        for _ in range(n):
            got = await one()
            assert got == ANSWER, got

    await asyncio.gather(*(worker(1) for _ in range(concurrency)))  # warm-up: connections
    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(per_worker) for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert TOOL_CALLS[0] == TOOLS_PER_STEP * concurrency * (1 + per_worker), TOOL_CALLS
    if impl.startswith("floor"):
        await client.aclose()
    elif impl == "pydantic-ai":
        if client is not None:
            await client.aclose()
    else:
        from loomex_cli.wire.client import close_client
        await close_client()
    runs = concurrency * per_worker
    return {"impl": impl, "concurrency": concurrency, "runs": runs, "seconds": elapsed,
            "runs_per_s": runs / elapsed, "cpu_ms_per_run": cpu * 1000 / runs,
            "peak_rss_mib": peak_rss_mib()}


def measure(impl: str, base_url: str, concurrency: int, min_runs: int) -> dict:
    per_worker = max(2, math.ceil(min_runs / concurrency))
    out = subprocess.run(
        [sys.executable, __file__, "--worker", impl, "--url", base_url,
         "--concurrency", str(concurrency), "--per-worker", str(per_worker)],
        capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{impl} C={concurrency} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", default="1,100,500")
    ap.add_argument("--min-runs", type=int, default=300,
                    help="measured runs per (client, C), at least 2 per worker")
    ap.add_argument("--rounds", type=int, default=3,
                    help="measurements per (client, C), alternating clients; the median is shown")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke run)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--per-worker", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(asyncio.run(worker_main(a.worker, a.url, int(a.concurrency),
                                                 a.per_worker))))
        return 0
    if a.quick:
        a.concurrency, a.min_runs, a.rounds = "1,10", 10, 1
    levels = [int(c) for c in a.concurrency.split(",") if c.strip()]
    rows = []
    peers = pydantic_ai_version()
    with ServerProcess(agents={"agent": CONVERSATION}) as srv:
        url = srv.url("agent")
        for c in levels:
            impls = ["floor", "floor-break", "loomex"] + (["pydantic-ai"] if peers else [])
            got: dict[str, list[dict]] = {impl: [] for impl in impls}
            for i in range(a.rounds):
                for impl in (impls if i % 2 == 0 else impls[::-1]):
                    got[impl].append(measure(impl, url, c, a.min_runs))
            med = {impl: {k: statistics.median(r[k] for r in rs)
                          for k in ("runs_per_s", "cpu_ms_per_run", "peak_rss_mib")}
                   for impl, rs in got.items()}
            f = max((med["floor"], med["floor-break"]), key=lambda m: m["runs_per_s"])
            for impl in impls:
                m = med[impl]
                rps = [r["runs_per_s"] for r in got[impl]]
                rows.append([c, impl, got[impl][0]["runs"] * a.rounds,
                             f"{m['runs_per_s']:,.0f}", f"{min(rps):,.0f}–{max(rps):,.0f}",
                             f"{m['runs_per_s'] / f['runs_per_s']:.2f}x",
                             f"{m['cpu_ms_per_run']:.2f}",
                             f"{f['cpu_ms_per_run'] / m['cpu_ms_per_run']:.2f}x",
                             f"{max(r['peak_rss_mib'] for r in got[impl]):.1f}"])
    print(f"## Concurrent 2-step agent runs ({TOOLS_PER_STEP} parallel async tools per run; "
          f"{machine()}; median of {a.rounds} rounds)\n")
    print(table(["C", "client", "runs", "runs/s", "range", "vs floor", "client CPU ms/run",
                 "CPU vs floor", "peak RSS MiB"], rows))
    print("\n(vs floor: against the faster floor flavour; CPU: the client process's CPU time "
          "per run, less sensitive to other load on the machine than runs/s"
          + (f"; pydantic-ai {peers}: its Agent's agent.run(), which does not stream (one JSON "
             "completion per step), OpenAIChatModel over the openai SDK, the same pool limits"
             if peers else "")
          + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
