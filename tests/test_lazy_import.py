"""``import loomex_cli`` and the public names import no HTTP client, Rich, Typer or
prompt_toolkit (checked in a clean subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ["httpx2", "httpcore2", "rich", "typer", "prompt_toolkit", "click", "pydantic"]

PROBE = """
import json, sys
import loomex_cli
after_import = sorted(m for m in sys.modules if m.split('.')[0] in HEAVY)
from loomex_cli import Agent, Tool, tool, Message
after_names = sorted(m for m in sys.modules if m.split('.')[0] in HEAVY)
print(json.dumps({"import": after_import, "names": after_names,
                  "version": loomex_cli.__version__}))
"""


def _probe() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    code = f"HEAVY = {HEAVY!r}\n" + PROBE
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # noise-free: no warnings on import
    return json.loads(out.stdout)


def test_import_is_light():
    got = _probe()
    assert got["import"] == []
    assert got["names"] == []
    assert got["version"]


def test_lazy_names_resolve():
    import loomex_cli
    for name in loomex_cli.__all__:
        assert getattr(loomex_cli, name) is not None
