"""The benchmark scripts run (tiny sizes) and print a Markdown table. Not a timing test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["bench_stream.py", "bench_agents.py", "bench_serve.py"])
def test_bench_quick(script):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--quick"],
                         capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert any(line.startswith("## ") for line in lines)
    header = next(i for i, line in enumerate(lines) if line.startswith("| "))
    assert set(lines[header + 1].replace("|", "")) == {"-"}
    rows = [line for line in lines[header + 2:] if line.startswith("| ")]
    assert len(rows) >= 2
    assert any("loomex" in row for row in rows)


def test_the_whole_suite_quick(tmp_path):
    """scripts/bench --quick runs every benchmark script at tiny sizes (startup builds its
    own installed venv) and prints the BENCHMARKS.md it would write."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench"), "--quick"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT,
                         env={**__import__("os").environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    for title in ("Startup", "Stream assembly", "loomex serve", "Agent loop", "Parallel tools",
                  "Compaction bookkeeping", "Model registry", "MCP"):
        assert f"## {title}" in out.stdout
    assert "`loomex --help`" in out.stdout and "blocking def" in out.stdout
