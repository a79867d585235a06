"""Cost per step and per run from registry prices; --max-cost stops before the call that
would go over; unknown prices say so instead of inventing a number."""

from __future__ import annotations

import asyncio
import json

import pytest

from cli_support import CliEnv
from loomex_cli import Agent, ConfigError, arun, tool
from loomex_cli.engine.events import StepFinish
from loomex_cli.wire.registry import ModelInfo
from replay_server import Reply
from test_registry import CatalogServer

PRICED = ModelInfo(provider="openai", model="m", name="M", context_window=100_000, max_input=None,
                   max_output=8_000, cost={"input": 2.0, "output": 10.0, "cache_read": 0.5},
                   tool_call=True, reasoning=False, temperature=True, status=None)


@tool
def noop() -> str:
    """Does nothing."""
    return "ok"


def usage(p: int, c: int, cached: int = 0) -> dict:
    u = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    if cached:
        u["prompt_tokens_details"] = {"cached_tokens": cached}
    return u


def test_cost_per_step_and_per_run(replay):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "noop", {})], usage=usage(1000, 100)),
        Reply.text("done", usage=usage(2000, 50, cached=1000)),
    ], prefix="cost")
    events: list = []
    agent = Agent(model="openai/m", base_url=url, api_key="k", tools=[noop], model_info=PRICED)
    result = asyncio.run(arun(agent, "go", sink=events.append))
    steps = [e.cost_usd for e in events if isinstance(e, StepFinish)]
    step1 = 1000 * 2.0 / 1e6 + 100 * 10.0 / 1e6
    step2 = 1000 * 2.0 / 1e6 + 1000 * 0.5 / 1e6 + 50 * 10.0 / 1e6
    assert steps == pytest.approx([step1, step2])
    assert result.cost_usd == pytest.approx(step1 + step2)
    assert result.to_dict()["cost_usd"] == pytest.approx(step1 + step2)


def test_unknown_price_is_none_not_zero(replay):
    name, url = replay.new_script([Reply.text("hi", usage=usage(10, 1))], prefix="nocost")
    result = asyncio.run(arun(Agent(model="openai/m", base_url=url, api_key="k"), "go"))
    assert result.cost_usd is None


def test_max_cost_stops_before_the_call_that_would_exceed(replay):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "noop", {})], usage=usage(1000, 100)),
        Reply.tool_calls([("c2", "noop", {})], usage=usage(1500, 100)),
        Reply.text("never", usage=usage(2000, 10)),
    ], prefix="maxcost")
    # step 1 costs $0.003; step 2 would cost about as much again
    agent = Agent(model="openai/m", base_url=url, api_key="k", tools=[noop], model_info=PRICED,
                  max_cost=0.005)
    result = asyncio.run(arun(agent, "go"))
    assert result.finish_reason == "max_cost"
    assert len(replay.requests(name)) == 1 and result.steps == 1
    assert result.cost_usd == pytest.approx(0.003)
    assert result.messages[-1].role == "tool"  # consistent: the call got its result


def test_max_cost_with_an_unknown_price_refuses_to_run(replay):
    name, url = replay.new_script([Reply.text("never")], prefix="maxcost-unknown")
    agent = Agent(model="ollama/llama", base_url=url, api_key="k", max_cost=1.0)
    with pytest.raises(ConfigError, match="price"):
        asyncio.run(arun(agent, "go"))
    assert replay.requests(name) == []


@pytest.fixture
def catalog(fixtures_dir):
    srv = CatalogServer((fixtures_dir.parent / "models-dev" / "api.json").read_bytes())
    yield srv
    srv.stop()


def test_cli_shows_cost_and_stops_at_max_cost(replay, tmp_path, catalog):
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "glob", {"pattern": "*.none"})], usage=usage(100_000, 1_000)),
        Reply.text("never"),
    ], prefix="clicost")
    env = CliEnv(tmp_path)
    (env.config / "config.toml").write_text("[retry]\nbase_delay = 0.01\n")
    extra = dict(LOOMEX_MODELS_URL=catalog.url, OPENROUTER_API_KEY="sk-or-test-1234567890",
                 LOOMEX_OPENROUTER_BASE_URL=url)
    done = env.run("--json", "-t", "glob", "--max-cost", "0.4", "find it", **extra)
    assert done.code == 7, done.err
    assert "--max-cost" in done.err and "$0.4" in done.err
    final = json.loads(done.out.splitlines()[-1])
    # openrouter/anthropic/claude-sonnet-4 in the snapshot: $3 in, $15 out per million
    assert final["cost_usd"] == pytest.approx(100_000 * 3 / 1e6 + 1_000 * 15 / 1e6)
    assert final["finish_reason"] == "max_cost"
    assert len(replay.requests(name)) == 1

    name2, url2 = replay.new_script([Reply.text("ok", usage=usage(10, 2))], prefix="clicost2")
    done = env.run("-v", "hi", **{**extra, "LOOMEX_OPENROUTER_BASE_URL": url2})
    assert done.code == 0 and "$0.0001" in done.err
    done = env.run("-v", "-m", "ollama/llama3", "hi", LOOMEX_OLLAMA_BASE_URL=url2,
                   LOOMEX_MODELS_URL=catalog.url)
    assert "cost unknown" in done.err
