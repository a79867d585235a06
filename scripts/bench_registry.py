#!/usr/bin/env python3
"""How much the model registry costs: parsing the raw models.dev api.json against loading
the compact index, and lookups once loaded.

    .venv/bin/python scripts/bench_registry.py [path/to/api.json]

The default catalog is ``$LOOMEX_FIXTURES/models-dev/api.json`` (``../shared/fixtures``
beside the repository). Nothing is fetched: a cache is built in a temporary directory and
the registry runs with ``LOOMEX_MODELS_URL=off``. Times are the median of several runs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loomex_cli.wire import registry  # noqa: E402
from loomex_cli.wire import registry_index as ri  # noqa: E402

KEYS = ["openrouter/anthropic/claude-sonnet-4", "fireworks/accounts/fireworks/models/kimi-k2p6",
        "openai/gpt-5", "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "openrouter/no-such/model", "deepseek/deepseek-chat", "groq/groq/compound",
        "zai/glm-4.6"]

CHILD = r"""
import sys, time
t0 = time.perf_counter()
from loomex_cli.wire import config, registry  # the CLI has loaded config by then
t1 = time.perf_counter()
info = registry.lookup(sys.argv[1])
t2 = time.perf_counter()
assert info is not None
print(f"{(t1 - t0) * 1e3:.3f} {(t2 - t1) * 1e3:.3f}")
"""


def median_ms(fn, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def child(cache: Path, model: str, runs: int = 7) -> tuple[float, float]:
    """(import ms, first lookup ms) in a fresh interpreter, bytecode cached (in a private
    prefix, after one warm-up run) as it is for an installed loomex."""
    env = {**os.environ, "LOOMEX_CACHE_DIR": str(cache), "LOOMEX_MODELS_URL": "off",
           "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(cache / "pyc")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    imports, lookups = [], []
    for _ in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", CHILD, model], capture_output=True,
                             text=True, env=env, check=True).stdout.split()
        imports.append(float(out[0]))
        lookups.append(float(out[1]))
    return statistics.median(imports[1:]), statistics.median(lookups[1:])


def main() -> None:
    fixtures = Path(os.environ.get("LOOMEX_FIXTURES", ROOT.parent / "shared" / "fixtures"))
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else fixtures / "models-dev" / "api.json"
    raw = path.read_bytes()
    api = json.loads(raw)
    index = ri.build_index(api, None)
    print(f"catalog {path} ({len(raw):,} bytes); index {len(index):,} bytes "
          f"({len(index) / len(raw):.0%})")

    print(f"raw api.json parse (json.loads)       {median_ms(lambda: json.loads(raw)):8.2f} ms")
    build = median_ms(lambda: ri.build_index(api, None), 5)
    print(f"index build from parsed catalog       {build:8.2f} ms")
    print(f"index load: header + 1 provider       "
          f"{median_ms(lambda: ri.Index(index).models('openrouter')):8.2f} ms")
    print(f"index load: header + every provider   "
          f"{median_ms(lambda: ri.Index(index).all_models()):8.2f} ms")

    with tempfile.TemporaryDirectory(prefix="loomex-bench-") as tmp:
        cache = Path(tmp)
        (cache / ri.RAW_NAME).write_bytes(raw)
        (cache / ri.INDEX_NAME).write_bytes(index)
        os.environ["LOOMEX_CACHE_DIR"] = str(cache)
        os.environ["LOOMEX_MODELS_URL"] = "off"

        def first_lookup() -> None:
            registry.reset()
            assert registry.lookup(KEYS[0]) is not None

        print(f"first lookup in a process (disk + parse) {median_ms(first_lookup):5.2f} ms")
        registry.reset()
        for k in KEYS:
            registry.lookup(k)
        n = 10_000
        t = time.perf_counter()
        for i in range(n):
            registry.lookup(KEYS[i % len(KEYS)])
        dt = time.perf_counter() - t
        print(f"{n:,} lookups (loaded)                {dt * 1e3:8.2f} ms  "
              f"({dt / n * 1e6:.2f} µs each)")
        t = time.perf_counter()
        hits = registry.search("claude")
        print(f"search('claude'), first in process    {(time.perf_counter() - t) * 1e3:8.2f} ms "
              f"({len(hits)} hits)")

        imp, look = child(cache, KEYS[0])
        print(f"new process: import registry+config {imp:.2f} ms, "
              f"first lookup via index {look:.2f} ms")
        (cache / ri.INDEX_NAME).unlink()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", CHILD, KEYS[0]], capture_output=True,
                             text=True, env=env, check=True).stdout.split()
        look_raw = float(out[1])  # parses the raw file and rebuilds the index, once
        print(f"new process without index (parse raw + rebuild + write): {look_raw:.2f} ms")


if __name__ == "__main__":
    main()
