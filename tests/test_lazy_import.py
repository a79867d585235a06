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


#: modules of the issue-15 features (and MCP progress / tool images): none is imported by
#: ``--help`` or a plain one-shot that uses none of them (AGENTS.md discovery is always on
#: and cheap; images.py and store_blobs.py are read by compaction and the store)
FEATURES = ["loomex_cli.cli.attach", "loomex_cli.cli.mentions", "loomex_cli.cli.schema_arg",
            "loomex_cli.engine.structured", "loomex_cli.engine.concise_schema",
            "loomex_cli.engine.schema", "loomex_cli.engine.schema_check",
            "loomex_cli.engine.tool_images", "loomex_cli.engine.tool_progress",
            "loomex_cli.cli.progress_line", "loomex_cli.cli.shell_mode",
            "loomex_cli.cli.shell_prompt", "loomex_cli.cli.roles_view",
            "loomex_cli.wire.model_names", "loomex_cli.mcp"]

MAIN = ("import sys\nfrom loomex_cli.__main__ import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('MODS=' + ' '.join(sorted(m for m in sys.modules "
        "if m.startswith('loomex_cli'))))\n")


def test_feature_modules_stay_unloaded_when_unused(replay, tmp_path):
    from cli_support import CliEnv
    from replay_server import Reply
    name, url = replay.new_script([Reply.text("ok")], prefix="lazy-features", repeat_last=True)
    env = CliEnv(tmp_path, url)
    for args in (["--help"], ["run", "--help"], ["chat", "--help"], ["hi"], ["-c", "again"]):
        p = subprocess.run([sys.executable, "-c", MAIN, *args], capture_output=True, text=True,
                           env=env.env(), timeout=60, stdin=subprocess.DEVNULL)
        mods = p.stderr.rpartition("MODS=")[2].split()
        assert "loomex_cli.cli.exits" in mods, p.stderr  # loomex ran (the fast path and the
        # cached --help need no Typer tree, so cli.app is not a sign of it)
        loaded = [m for m in mods if any(m == f or m.startswith(f + ".") for f in FEATURES)]
        assert loaded == [], (args, loaded)
    assert len(replay.requests(name)) == 2  # the one-shots ran
    # and each is loaded when its feature is used
    (tmp_path / "a.txt").write_text("text\n")
    p = subprocess.run([sys.executable, "-c", MAIN, "--schema", "n int", "-f",
                        str(tmp_path / "a.txt"), "go"], capture_output=True, text=True,
                       env=env.env(), timeout=60, stdin=subprocess.DEVNULL)
    mods = p.stderr.rpartition("MODS=")[2].split()
    assert {"loomex_cli.cli.attach", "loomex_cli.engine.structured",
            "loomex_cli.engine.concise_schema"} <= set(mods), p.stderr
