"""One resolution: a model string becomes one ResolvedModel (route + registry metadata +
derived limits) from one provider table, and a library run gets exactly what the CLI gets."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import FAKE_KEY
from replay_server import Reply
from test_registry import CatalogServer

from loomex_cli import Agent, Message, run
from loomex_cli.engine import compaction
from loomex_cli.engine.events import Compacted, StepFinish
from loomex_cli.wire import provider_table, registry
from loomex_cli.wire.resolve import FALLBACK_WINDOW, resolve_model

MODEL = "openai/gpt-4.1-mini"  # 1,047,576 tokens in the snapshot, $0.4/$1.6 per million


@pytest.fixture
def catalog(fixtures_dir, monkeypatch, tmp_path):
    srv = CatalogServer((fixtures_dir.parent / "models-dev" / "api.json").read_bytes())
    monkeypatch.setenv("LOOMEX_MODELS_URL", srv.url)
    monkeypatch.setenv("LOOMEX_CACHE_DIR", str(tmp_path / "cache"))
    registry.reset()
    yield srv
    registry.reset()
    srv.stop()


def _history() -> list[Message]:
    """About 171,000 tokens: over the 128,000 fallback, far under gpt-4.1-mini's window."""
    out = []
    for i in range(40):
        out.append(Message.user(f"part {i}: " + "lorem ipsum dolor " * 950))
        out.append(Message.assistant(f"noted {i}"))
    out.append(Message.user("Summarise all parts in one line."))
    return out


def _cli_opts(**kw):
    base = dict(model=None, tools="", system=None, allow_all=False, mcp_config=None,
                temperature=None, max_steps=None, max_cost=None, no_stream=False, yes=False)
    return SimpleNamespace(**{**base, **kw})


def test_library_run_and_cli_send_the_same_request_compact_alike_and_cost_alike(
        replay, catalog, monkeypatch):
    from loomex_cli.cli.setup import DEFAULT_SYSTEM, Setup
    from loomex_cli.engine.loop import arun
    usage = {"prompt_tokens": 171_000, "completion_tokens": 20, "total_tokens": 171_020}
    name, url = replay.new_script([Reply.text("ok", usage=usage), Reply.text("ok", usage=usage)],
                                  prefix="parity")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("LOOMEX_OPENAI_BASE_URL", url)

    # the CLI: Setup from flags + config + environment, then the run as oneshot starts it
    setup = Setup(_cli_opts(model=MODEL))
    cli_events: list = []
    import asyncio
    cli = asyncio.run(arun(setup.agent(), _history(), sink=cli_events.append,
                           model=setup.resolved))
    # the library: an Agent given only the model string
    lib_events: list = []
    lib = run(Agent(model=MODEL, system_prompt=DEFAULT_SYSTEM), _history(),
              sink=lib_events.append)

    cli_body, lib_body = [r.body for r in replay.requests(name)]
    assert cli_body == lib_body
    assert len(cli_body["messages"]) == 82  # nothing was compacted away
    assert not [e for e in cli_events + lib_events if isinstance(e, Compacted)]
    lib_resolved = resolve_model(MODEL)
    assert compaction.budget(setup.agent(), setup.resolved) == \
        compaction.budget(Agent(model=MODEL), lib_resolved)
    assert lib_resolved.context_window == 1_047_576 and lib_resolved.window_known
    want = 171_000 * 0.4 / 1e6 + 20 * 1.6 / 1e6
    assert cli.cost_usd == pytest.approx(want) and lib.cost_usd == pytest.approx(want)
    assert [e.cost_usd for e in lib_events if isinstance(e, StepFinish)] == \
        [e.cost_usd for e in cli_events if isinstance(e, StepFinish)]


def test_without_metadata_the_fallback_window_applies(monkeypatch):
    monkeypatch.setenv("LOOMEX_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    r = resolve_model(MODEL, config={}, keys={}, env={"OPENAI_API_KEY": "k"})
    assert r.info is None and r.context_window == FALLBACK_WINDOW and r.reserve_tokens is None
    assert r.cost({"prompt_tokens": 10}) is None
    assert r.route.api_key == "k" and r.route.key_source == "env:OPENAI_API_KEY"


def test_the_environment_is_an_argument():
    r = resolve_model("openai/x", config={}, keys={},
                      env={"OPENAI_API_KEY": "from-env", "LOOMEX_OPENAI_BASE_URL": "http://h:1/v"})
    assert r.route.base_url == "http://h:1/v" and r.route.api_key == "from-env"


def test_one_provider_table_derives_the_rest():
    t = provider_table
    assert t.DEFAULT_MODELS["openai"] == "gpt-4.1-mini"
    assert list(t.DEFAULT_MODELS) == [n for n, p in t.PRESETS.items() if p.default_model]
    assert t.ALIASES == {"fireworks": "fireworks-ai", "together": "togetherai",
                         "moonshot": "moonshotai"}
    assert t.NO_ENTRY == {"ollama", "llamacpp", "vllm"}
    assert t.LOCAL_PROVIDERS == ("ollama", "lmstudio", "llamacpp")
    from loomex_cli.cli import choose_model
    from loomex_cli.wire import providers
    assert choose_model.DEFAULT_MODELS is t.DEFAULT_MODELS
    assert providers.PRESETS is t.PRESETS and registry.NO_ENTRY is t.NO_ENTRY


def test_a_base_url_ending_in_chat_completions_is_used_as_is():
    r = resolve_model("x/m", config={"providers": {"x": {"base_url":
                                                         "http://h:1/v1/chat/completions/"}}},
                      keys={}, env={})
    assert r.route.url == "http://h:1/v1/chat/completions"
    r = resolve_model("x/m", config={"providers": {"x": {"base_url": "http://h:1/v1"}}},
                      keys={}, env={})
    assert r.route.url == "http://h:1/v1/chat/completions"


def test_extra_body_is_not_shared_between_agents():
    a, b = Agent(), Agent()
    assert a.extra_body is None
    a.extra_body = {"x": 1}
    assert b.extra_body is None and Agent.extra_body is None


# -- the import graph ------------------------------------------------------------------

PKG = Path(__file__).resolve().parents[1] / "loomex_cli"
FLOOR = {"wire": 0, "engine": 1, "tools": 1, "mcp": 1, "cli": 2, "web": 2}
#: a lazy import that closes a circle, with the reason it is allowed
KNOWN_LAZY_CIRCLES: set[frozenset[str]] = {
    # the MCP HTTP transport falls back to the legacy SSE transport, which reuses its helpers
    frozenset({"loomex_cli.mcp.http", "loomex_cli.mcp.sse_legacy"}),
}


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if pkg else parts)] = (p, pkg)
    return out


def _imports(name: str, mods: dict, import_time_only: bool) -> set[str]:
    path, is_pkg = mods[name]
    tree = ast.parse(path.read_text())
    pkg = name if is_pkg else name.rpartition(".")[0]
    nodes, stack = [], list(tree.body)
    while stack:
        n = stack.pop()
        if import_time_only and isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            continue
        nodes.append(n)
        stack.extend(ast.iter_child_nodes(n))
    out = set()
    for n in nodes:
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = pkg.split(".")[:len(pkg.split(".")) - (n.level - 1)]
                m = ".".join(base + ([n.module] if n.module else []))
            else:
                m = n.module or ""
            out |= {f"{m}.{a.name}" if f"{m}.{a.name}" in mods else m for a in n.names}
    return {o for o in out if o in mods and o != name}


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_upward_or_in_a_circle():
    mods = _modules()
    lazy = {m: _imports(m, mods, False) for m in mods}
    eager = {m: _imports(m, mods, True) for m in mods}
    assert _circles(eager) == []
    assert [c for c in _circles(lazy) if frozenset(c) not in KNOWN_LAZY_CIRCLES] == []
    upward = [(m, d) for m, deps in lazy.items() for d in deps
              if m.count(".") and d.count(".")
              and FLOOR.get(d.split(".")[1], -1) > FLOOR.get(m.split(".")[1], 99)]
    assert upward == []
    # the walk sees real edges (a broken walker would pass vacuously)
    assert "loomex_cli.wire.registry" in lazy["loomex_cli.wire.resolve"]
    assert "loomex_cli.wire.providers" not in lazy["loomex_cli.wire.registry"]


def test_settings_may_be_methods_as_in_the_seed(replay):
    from helpers import run_async
    from loomex_cli import arun, tool

    @tool
    def ping() -> str:
        """Pings."""
        return "pong"
    name, url = replay.new_script([Reply.text("ok")], prefix="callbacks")

    class Dynamic(Agent):
        base_url = url
        api_key = FAKE_KEY

        def model(self, ctx):
            return f"test/{ctx.deps['size']}"

        def tools(self, ctx):
            return [ping]

        def temperature(self, ctx):
            return 0.7

    agent = Dynamic()
    res = run_async(lambda: arun(agent, "hi", context={"size": "large"}))
    assert res.text == "ok"
    body = replay.requests(name)[0].body
    assert body["model"] == "large" and body["temperature"] == 0.7
    assert [t["function"]["name"] for t in body["tools"]] == ["ping"]
    assert callable(agent.model)  # the agent itself is untouched
