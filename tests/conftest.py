"""Shared fixtures for the whole suite.

- ``fixtures_dir``: the recorded provider exchanges (``$LOOMEX_FIXTURES/providers``). Missing
  fixtures skip the test, or FAIL it when ``LOOMEX_REQUIRE_ALL=1`` (what ``scripts/test`` and CI
  set: the suite must not silently skip what it needs).
- ``replay``: one loopback :class:`replay_server.ReplayServer` for the session. Give every test
  its own script: ``name, url = replay.new_script([...], prefix="mytest")`` (or
  ``replay.unique_name("mytest")`` + ``replay.script(name, [...])``); point an agent at ``url``
  with ``base_url=url``.
- Every test runs with ``LOOMEX_CONFIG_DIR`` / ``LOOMEX_DATA_DIR`` / ``LOOMEX_CACHE_DIR`` pointing
  at a private temporary directory (unless already set), so the user's real config and keys are
  never read or written.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # replay_server / helpers importable from any test module
    sys.path.insert(0, str(TESTS))

from replay_server import FIXTURES, ReplayServer  # noqa: E402

REQUIRE_ALL = os.environ.get("LOOMEX_REQUIRE_ALL", "") not in ("", "0")


def fixtures_available() -> bool:
    return (FIXTURES / "providers" / "INDEX.md").is_file()


def require_fixtures() -> Path:
    """The providers folder; skips (or fails under LOOMEX_REQUIRE_ALL=1) when it is missing."""
    providers = FIXTURES / "providers"
    if not fixtures_available():
        msg = (f"the recorded provider fixtures are missing at {providers} "
               "(set LOOMEX_FIXTURES to the folder that holds providers/INDEX.md)")
        if REQUIRE_ALL:
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return providers


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return require_fixtures()


@pytest.fixture(scope="session")
def replay():
    srv = ReplayServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session", autouse=True)
def _private_loomex_dirs():
    made = tempfile.mkdtemp(prefix="loomex-tests-")
    saved = {}
    for var, sub in (("LOOMEX_CONFIG_DIR", "config"), ("LOOMEX_DATA_DIR", "data"),
                     ("LOOMEX_CACHE_DIR", "cache")):
        if not os.environ.get(var):
            saved[var] = None
            os.environ[var] = str(Path(made) / sub)
    if "LOOMEX_MODELS_URL" not in os.environ:  # tests never reach models.dev
        saved["LOOMEX_MODELS_URL"] = None
        os.environ["LOOMEX_MODELS_URL"] = "off"
    try:
        yield Path(made)
    finally:
        for var in saved:
            os.environ.pop(var, None)
        shutil.rmtree(made, ignore_errors=True)


@pytest.fixture(scope="session")
def tmux() -> str:
    """tmux, which drives the REPL tests in a real terminal (scripts/test installs it)."""
    path = shutil.which("tmux")
    if not path:
        if REQUIRE_ALL:
            pytest.fail("tmux is required for the REPL tests (scripts/test installs it)",
                        pytrace=False)
        pytest.skip("tmux is not installed")
    return path
