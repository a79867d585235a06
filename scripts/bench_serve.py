#!/usr/bin/env python3
"""``loomex serve`` against its floor: a minimal uvicorn + httpx2 proxy of the same provider.

    python scripts/bench_serve.py [--levels 1,10,100] [--rounds 2] [--quick]

Three processes on 127.0.0.1, besides this one (the load): the replay server (a scripted
OpenAI-compatible SSE provider, tests/replay_server.py) answering every request with the same
short streamed text; ``loomex serve -m replay/x`` on it; and the floor, this script with
``--proxy``: uvicorn (same settings, TCP_NODELAY on) and one pooled httpx2 client that posts
the chat's messages to the provider and turns each streamed delta into the AI SDK UI message
stream chunk (text-start, text-delta, text-end, finish, ``[DONE]``), one write each: the
least a server speaking that protocol for that provider can do.

The load is C kept-alive HTTP/1.1 connections (raw asyncio streams, so that the client costs
little), each posting one chat after another. Per level, loomex and the floor alternate for
``--rounds`` rounds; each round runs a bounded number of requests after a warm-up. Reported
(median of the rounds): requests/s, p50/p99 latency, server CPU per request (utime+stime of
the server process, from /proc), the server's peak RSS (VmHWM). Targets: loomex ≥ 0.9x the
floor's requests/s at every level, p50 ≤ 1.2x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _benchlib import ROOT, ServerProcess, machine, table  # noqa: E402

DELTAS = ["Hello", "!", " This", " is", " a", " short", " streamed", " answer", " from", " the",
          " loopback", " provider", "."]
ANSWER = "".join(DELTAS)
CHAT = json.dumps({"id": "c1", "messages": [
    {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Say hello."}]}]}).encode()
REQUEST = (b"POST /api/chat HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
           b"content-length: %d\r\n\r\n%s" % (len(CHAT), CHAT))


# -- the floor: a minimal proxy (run in its own process with --proxy) ------------------------
def proxy_main(provider: str, port_file: str) -> None:
    import httpx2
    import uvicorn

    client: list[httpx2.AsyncClient] = []

    def sse(obj: dict) -> bytes:
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    async def app(scope, receive, send):  # noqa: ANN001
        if scope["type"] == "lifespan":
            while True:
                m = await receive()
                if m["type"] == "lifespan.startup":
                    client.append(httpx2.AsyncClient(timeout=30))
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await client[0].aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        msgs = [{"role": m["role"], "content": "".join(p.get("text", "") for p in m["parts"])}
                for m in json.loads(body)["messages"]]
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
            (b"x-vercel-ai-ui-message-stream", b"v1")]})
        await send({"type": "http.response.body", "more_body": True,
                    "body": sse({"type": "start"}) + sse({"type": "start-step"})
                    + sse({"type": "text-start", "id": "t"})})
        req = {"model": "x", "messages": msgs, "stream": True}
        async with client[0].stream("POST", provider + "/chat/completions", json=req,
                                    headers={"authorization": "Bearer x"}) as r:
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                choices = json.loads(line[6:]).get("choices")
                text = choices and choices[0].get("delta", {}).get("content")
                if text:
                    await send({"type": "http.response.body", "more_body": True,
                                "body": sse({"type": "text-delta", "id": "t", "delta": text})})
        await send({"type": "http.response.body", "more_body": False,
                    "body": sse({"type": "text-end", "id": "t"}) + sse({"type": "finish-step"})
                    + sse({"type": "finish", "finishReason": "stop"}) + b"data: [DONE]\n\n"})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    Path(port_file).write_text(str(sock.getsockname()[1]))
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False,
                            server_header=False)
    uvicorn.Server(config).run(sockets=[sock])


# -- the servers under test --------------------------------------------------------------
class Served:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path,
                 port_file: Path | None = None) -> None:
        self.name = name
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        if port_file is None:  # loomex serve prints its URL first
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            if "http://" not in line:
                raise SystemExit(f"{name} did not start: {line}{self.proc.stderr.read()}")
            self.port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        else:
            deadline = time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text().strip()):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not start: {self.proc.stderr.read()}")
                time.sleep(0.02)
            self.port = int(port_file.read_text())

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- the load ------------------------------------------------------------------------------
async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(REQUEST)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"bad response: {head[:200]!r}")
    body = []
    while True:  # chunked transfer encoding
        size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(body)
        body.append((await reader.readexactly(size + 2))[:-2])


async def load(port: int, clients: int, total: int) -> tuple[float, list[float]]:
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(clients)]
    for _r, w in conns:
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    first = await _one(*conns[0])
    if b" streamed" not in first or b"[DONE]" not in first:
        raise RuntimeError(f"unexpected answer: {first[:300]!r}")
    latencies: list[float] = []
    todo = [total]

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while todo[0] > 0:
            todo[0] -= 1
            t = time.perf_counter()
            await _one(reader, writer)
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in conns))
    wall = time.perf_counter() - t0
    for _r, w in conns:
        w.close()
    return wall, latencies


def measure(server: Served, clients: int, total: int) -> dict[str, float]:
    cpu0 = server.cpu_s()
    wall, lat = asyncio.run(load(server.port, clients, total))
    cpu = server.cpu_s() - cpu0
    lat.sort()
    return {"rps": len(lat) / wall, "p50": statistics.median(lat) * 1e3,
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
            "cpu": cpu / max(len(lat), 1) * 1e3, "rss": server.peak_mib()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="1,10,100")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="few requests (what CI runs)")
    ap.add_argument("--proxy", nargs=2, metavar=("PROVIDER", "PORT_FILE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.proxy:
        proxy_main(*a.proxy)
        return
    levels = [int(x) for x in a.levels.split(",")]
    per_level = {1: 150, 10: 400, 100: 1000}
    rounds = 1 if a.quick else a.rounds
    usage = {"prompt_tokens": 10, "completion_tokens": len(DELTAS), "total_tokens": 23}
    with ServerProcess(scripts={"s": [{"text": DELTAS, "usage": usage}]}) as provider, \
            tempfile.TemporaryDirectory(prefix="loomex-bench-serve-") as tmp:
        d = Path(tmp)
        (d / "config").mkdir()
        (d / "work").mkdir()
        (d / "config" / "config.toml").write_text(
            f'[providers.replay]\nbase_url = "{provider.url("s")}"\n\n[retry]\nmax_attempts = 1\n')
        env = {k: v for k, v in os.environ.items()
               if not k.endswith("_API_KEY") and k != "LOOMEX_MODEL"}
        env.update(LOOMEX_CONFIG_DIR=str(d / "config"), LOOMEX_DATA_DIR=str(d / "data"),
                   LOOMEX_CACHE_DIR=str(d / "cache"), NO_COLOR="1", REPLAY_API_KEY="x")
        servers = [
            Served("loomex serve", [sys.executable, "-m", "loomex_cli", "serve", "-m",
                                    "replay/x", "-t", "read_file", "--port", "0"],
                   env, d / "work"),
            Served("floor (uvicorn + httpx2 proxy)",
                   [sys.executable, __file__, "--proxy", provider.url("s"), str(d / "port")],
                   env, d / "work", port_file=d / "port"),
        ]
        try:
            rows = []
            for c in levels:
                n = max(c * 2, 30) if a.quick else per_level.get(c, 10 * c)
                got: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
                for s in servers:  # warm-up: connections, imports, pools
                    measure(s, c, max(c, 20))
                for _ in range(rounds):
                    for s in servers:
                        got[s.name].append(measure(s, c, n))
                med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                       for name, rs in got.items()}
                floor = med[servers[1].name]
                for s in servers:
                    m = med[s.name]
                    rows.append([c, s.name, n, f"{m['rps']:.0f}", f"{m['p50']:.1f}",
                                 f"{m['p99']:.1f}", f"{m['cpu']:.2f}", f"{m['rss']:.0f}",
                                 f"{m['rps'] / floor['rps']:.2f}x",
                                 f"{m['p50'] / floor['p50']:.2f}x"])
        finally:
            for s in servers:
                s.stop()
    print(f"## Serving a {len(DELTAS)}-delta answer to kept-alive clients ({rounds} rounds per "
          f"level, loomex and the floor alternated, medians; {machine()})\n")
    print(table(["clients", "server", "requests", "req/s", "p50 ms", "p99 ms",
                 "CPU ms/req", "peak RSS MiB", "req/s vs floor", "p50 vs floor"], rows))


if __name__ == "__main__":
    main()
