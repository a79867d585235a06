#!/usr/bin/env python3
"""The approval decision on a bash command: parsing with bash's grammar (tree-sitter), the
plain check, the danger checks and the rule matching (``Policy.decide``).
Targets: ≤ 2 ms for a 200-character command once warm, ≤ 50 ms for the first decision of a
process (which loads the grammar).

    python scripts/bench_approval.py [--repeat 500] [--fresh 15] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

PLAIN = ("git status --short && ls -la src/ tests/ && grep -rn 'TODO: remove' loomex_cli/ "
         "| head -20 && python3 -m pytest -q tests/test_approval.py -k 'not slow' 2>&1 "
         "| tail -5 && echo \"all done\" > /dev/null")
OPAQUE = ("for f in $(git ls-files '*.py'); do grep -c TODO \"$f\" || true; done > todo.txt; "
          "cat todo.txt | sort -n | tail -3 && bash -c 'echo $HOME' && rm -f \"${TMPDIR:-/tmp}\"/x.log "
          "# tidy")
RULES = {"bash": {"allow": ["git status*", "ls *", "grep *", "head *", "python3 -m pytest *",
                            "tail *", "echo *"], "deny": ["sudo *", "git push*"]}}

FIRST = """
import json, time
t0 = time.perf_counter()
from loomex_cli.tools.policy import Policy
from loomex_cli.tools.bash import BashTool
t1 = time.perf_counter()
Policy(RULES).decide(BashTool(), {"command": CMD})
t2 = time.perf_counter()
print(json.dumps([(t1 - t0) * 1000, (t2 - t1) * 1000]))
"""


def first_decision(runs: int) -> tuple[list[float], list[float]]:
    imports, decisions = [], []
    code = f"RULES = {RULES!r}\nCMD = {PLAIN!r}\n" + FIRST
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout
        a, b = json.loads(out)
        imports.append(a)
        decisions.append(b)
    return imports, decisions


def warm(command: str, repeat: int) -> list[float]:
    from loomex_cli.tools.bash import BashTool
    from loomex_cli.tools.policy import Policy
    policy, tool = Policy(RULES), BashTool()
    policy.decide(tool, {"command": "ls"})
    times = []
    for i in range(repeat):
        cmd = f"{command} {i}"[-len(command):]  # a new line each time: no cached analysis
        t0 = time.perf_counter()
        policy.decide(tool, {"command": cmd})
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=500)
    ap.add_argument("--fresh", type=int, default=15)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.repeat, a.fresh = 20, 2
    imports, firsts = first_decision(a.fresh)
    rows = [(f"first decision in a process (loads the grammar), {len(PLAIN)} chars",
             firsts, "≤ 50"),
            ("  (importing the policy module before it, for reference)", imports, "")]
    for label, cmd in (("plain", PLAIN), ("not plain (loops, substitutions)", OPAQUE)):
        rows.append((f"warm decision, {label}, {len(cmd)} chars", warm(cmd, a.repeat), "≤ 2"))
    print(f"| bash approval ({a.fresh} fresh processes; {a.repeat} warm decisions) "
          "| median ms | range ms | target ms |")
    print("|---|---|---|---|")
    for label, times, target in rows:
        print(f"| {label} | {statistics.median(times):.2f} | {min(times):.2f}-{max(times):.2f} "
              f"| {target} |")


if __name__ == "__main__":
    main()
