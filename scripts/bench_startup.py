#!/usr/bin/env python3
"""Startup, one-shot and peak memory of the CLI, each beside ``python -c pass`` in one run.

Measured on an installed, bytecode-compiled venv (not the editable dev one: without .pyc
files startup is 2.5x slower and says nothing about what users get), and on the frozen binary
when one is given. Runs are interleaved so that machine noise hits every command alike.

    python scripts/bench_startup.py [--runs 15] [--binary dist/loomex-linux-x86_64] [--quick]
                                    [--peers] [--compare ../checkout-of-another-commit]

Prints a Markdown table: median and range in ms, the ratio of medians to `python -c pass`,
and peak RSS (per process, from wait4). Targets: --version/--help <= 8x, one-shot <= 25x
(venv); binary --help <= 18x; REPL after ten turns <= 50 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def installed_venv(path: Path, source: Path = ROOT) -> Path:
    """A venv with loomex (from ``source``) installed as users get it (a wheel, bytecode
    compiled)."""
    py = path / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--force-reinstall", "--no-deps", str(source)], check=True, env=env)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    str(source)], check=True, env=env)
    subprocess.run([str(py), "-m", "compileall", "-q", str(path / "lib")], env=env,
                   stdout=subprocess.DEVNULL)
    return path


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    spec = tmp / "spec.json"
    spec.write_text(json.dumps([{"text": ["Four", "."], "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}]))
    port_file = tmp / "port"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "replay_server.py"),
                             "--port-file", str(port_file), "--script", f"t={spec}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if port_file.exists() and port_file.read_text():
            break
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port_file.read_text()}/t"


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int) -> None:
    import socket
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, peak RSS MiB) of one run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - t0) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024


def repl_rss(loomex: str, env: dict[str, str], turns: int) -> float | None:
    """Peak RSS (VmHWM) of `loomex chat` after `turns` questions, driven in tmux."""
    tmux = shutil.which("tmux")
    if not tmux:
        return None
    name = f"bench{os.getpid()}"
    envs = " ".join(f"{k}={v}" for k, v in env.items()
                    if k.startswith("LOOMEX_") or k.endswith("_API_KEY"))
    subprocess.run([tmux, "-L", name, "new-session", "-d", "-s", name, "-x", "100", "-y", "40",
                    f"env {envs} {loomex} chat"], check=True)
    try:
        def screen() -> str:
            return subprocess.run([tmux, "-L", name, "capture-pane", "-p", "-t", name, "-S", "-500"],
                                  capture_output=True, text=True).stdout
        for i in range(turns):
            deadline = time.monotonic() + 15
            while screen().count("›") < i + 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            subprocess.run([tmux, "-L", name, "send-keys", "-t", name, "-l", f"question {i}"])
            subprocess.run([tmux, "-L", name, "send-keys", "-t", name, "Enter"])
        deadline = time.monotonic() + 15
        while screen().count("Four.") < turns and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = subprocess.run([tmux, "-L", name, "list-panes", "-t", name, "-F", "#{pane_pid}"],
                             capture_output=True, text=True).stdout.strip()
        if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
            return None  # the REPL did not start (see its screen by running it by hand)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    finally:
        subprocess.run([tmux, "-L", name, "kill-server"], capture_output=True)
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "loomex-bench-venv")
    ap.add_argument("--binary", type=Path, help="a frozen loomex to measure too")
    ap.add_argument("--quick", action="store_true", help="3 runs (CI smoke)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--peers", action="store_true", help="install llm into the bench venv and compare")
    ap.add_argument("--compare", type=Path, help="another loomex checkout (e.g. the base commit "
                    "in a git worktree): its rows are measured in the same interleaved runs")
    a = ap.parse_args()
    runs = 3 if a.quick else a.runs
    venv = installed_venv(a.venv)
    py, loomex = str(venv / "bin" / "python"), str(venv / "bin" / "loomex")
    if a.peers:
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "llm"],
                       check=True)
    tmp = Path(tempfile.mkdtemp(prefix="loomex-bench-"))
    server, url = start_server(tmp)
    cfg = tmp / "config"
    cfg.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(LOOMEX_CONFIG_DIR=str(cfg), LOOMEX_DATA_DIR=str(tmp / "data"),
               LOOMEX_CACHE_DIR=str(tmp / "cache"), LOOMEX_LOCAL_PROBE="0",
               OPENAI_API_KEY="sk-bench-dummy", LOOMEX_OPENAI_BASE_URL=url)
    # the one-shot as users run it: a model the registry knows, its cache warm (the snapshot
    # served on loopback), so the run looks up the window and prices the answer
    catalog = Path(os.environ.get("LOOMEX_FIXTURES", ROOT.parent / "shared" / "fixtures")) / "models-dev"
    catalog_server = None
    if (catalog / "api.json").is_file():
        port = _free_port()
        catalog_server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                                           "127.0.0.1"], cwd=catalog, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        env["LOOMEX_MODELS_URL"] = f"http://127.0.0.1:{port}/api.json"
        (cfg / "config.toml").write_text('default_model = "openai/gpt-4.1-mini"\n')
        _wait_port(port)
    else:
        env["LOOMEX_MODELS_URL"] = "off"
        (cfg / "config.toml").write_text(f'default_model = "replay/m"\n[providers.replay]\nbase_url = "{url}"\n')
    cmds = {"python -c pass": [py, "-c", "pass"],
            "loomex --version": [loomex, "--version"],
            "loomex --help": [loomex, "--help"],
            "loomex 'What is 2+2?' (loopback)": [loomex, "What is 2+2?", "--no-save"]}
    if a.compare:  # the same commands from the other checkout, in a venv of its own
        other = str(installed_venv(Path(str(a.venv) + "-compare"), a.compare.resolve())
                    / "bin" / "loomex")
        cmds.update({"compare: loomex --version": [other, "--version"],
                     "compare: loomex --help": [other, "--help"],
                     "compare: loomex 'What is 2+2?' (loopback)": [other, "What is 2+2?",
                                                                   "--no-save"]})
    llm = venv / "bin" / "llm"
    if a.peers:  # the peer, configured through extra-openai-models.yaml on the same server
        user = tmp / "llm"
        user.mkdir()
        (user / "extra-openai-models.yaml").write_text(
            f'- model_id: loomex-bench\n  model_name: m\n  api_base: "{url}"\n')
        env.update(LLM_USER_PATH=str(user), OPENAI_API_KEY="sk-bench-dummy")
        cmds["llm -m loomex-bench 'What is 2+2?' (loopback)"] = [str(llm), "-m", "loomex-bench",
                                                                  "--no-log", "What is 2+2?"]
    if a.binary:
        b = str(a.binary.resolve())
        cmds.update({"binary --version": [b, "--version"], "binary --help": [b, "--help"],
                     "binary one-shot (loopback)": [b, "What is 2+2?", "--no-save"]})
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
    try:
        for cmd in cmds.values():  # warm the page cache
            measure(cmd, env)
        for label, cmd in cmds.items():  # the one-shots really get the server's answer
            if "(loopback)" in label:
                out = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                     text=True, timeout=60)
                if "Four." not in out.stdout:
                    raise SystemExit(f"{label}: no answer\n{out.stdout}\n{out.stderr}")
        for _ in range(runs):
            for label, cmd in cmds.items():
                results[label].append(measure(cmd, env))
        repl = repl_rss(loomex, env, 2 if a.quick else 10)
    finally:
        server.terminate()
        if catalog_server is not None:
            catalog_server.terminate()
    base = statistics.median(w for w, _ in results["python -c pass"])
    print(f"| command ({runs} runs, interleaved) | median ms | range ms | vs python -c pass | peak RSS MiB |")
    print("|---|---|---|---|---|")
    figures = {}
    for label, rows in results.items():
        walls = [w for w, _ in rows]
        med = statistics.median(walls)
        rss = max(r for _, r in rows)
        figures[label] = {"median_ms": med, "min_ms": min(walls), "max_ms": max(walls),
                          "ratio": med / base, "rss_mib": rss}
        print(f"| `{label}` | {med:.0f} | {min(walls):.0f}-{max(walls):.0f} | {med / base:.1f}x | {rss:.1f} |")
    if repl is not None:
        turns = 2 if a.quick else 10
        print(f"| `loomex chat` after {turns} turns (tmux) | | | | {repl:.1f} |")
        figures["repl_rss_mib"] = repl
    if a.json:
        a.json.write_text(json.dumps(figures, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
