"""Aliases and short names in the one model resolution (wire/model_names.py through
resolve_model), and the library getting them: ``run(Agent(model="fast"))``."""

from __future__ import annotations

import pytest

from helpers import FAKE_KEY
from loomex_cli.wire.errors import ConfigError
from loomex_cli.wire.model_names import expand
from loomex_cli.wire.resolve import resolve_model
from replay_server import Reply

NO_KEYS: dict[str, str] = {}


def config(**providers: list[str]) -> dict:
    return {"aliases": {"fast": "groq/llama-3.3-70b-versatile", "mini": "gpt-4.1-mini"},
            "providers": {n: {"base_url": f"http://127.0.0.1:9/{n}", "api_key": "k",
                              "models": m} for n, m in providers.items()}}


def test_full_names_are_left_alone() -> None:
    assert expand("openrouter/anthropic/claude-sonnet-4", config(), NO_KEYS, {}) == \
        "openrouter/anthropic/claude-sonnet-4"


def test_alias_and_alias_to_a_short_name() -> None:
    c = config(mine=["gpt-4.1-mini"])
    assert expand("fast", c, NO_KEYS, {}) == "groq/llama-3.3-70b-versatile"
    assert expand("mini", c, NO_KEYS, {}) == "mine/gpt-4.1-mini"


def test_short_name_by_a_providers_default_model_and_key() -> None:
    env = {"OPENAI_API_KEY": "x"}
    assert expand("gpt-4.1-mini", {}, NO_KEYS, env) == "openai/gpt-4.1-mini"
    assert expand("gpt-4.1-mini", {}, {"openai": "stored"}, {}) == "openai/gpt-4.1-mini"
    with pytest.raises(ConfigError, match="unknown model 'gpt-4.1-mini'"):
        expand("gpt-4.1-mini", {}, NO_KEYS, {})  # no key: openai is not configured


def test_ambiguous_lists_every_choice() -> None:
    c = config(a=["m1"], b=["m1"], c=["other"])
    with pytest.raises(ConfigError) as e:
        expand("m1", c, NO_KEYS, {})
    assert str(e.value).startswith("model 'm1' is served by 2 configured providers: a/m1, b/m1;")


def test_a_caller_with_its_own_base_url_gets_no_short_name_lookup() -> None:
    with pytest.raises(ConfigError, match="not of the form provider/model-name"):
        resolve_model("m1", config=config(a=["m1"]), keys=NO_KEYS, env={},
                      base_url="http://127.0.0.1:9/v1", api_key="k")


def test_resolve_model_returns_the_full_name() -> None:
    r = resolve_model("m1", config=config(a=["m1"]), keys=NO_KEYS, env={})
    assert r.model == "a/m1" and r.route.provider == "a" and r.route.model == "m1"


def test_the_library_takes_an_alias(replay, tmp_path, monkeypatch) -> None:
    from loomex_cli import Agent, run
    from loomex_cli.wire import config as wconfig
    name, url = replay.new_script([Reply.text("lib ok")], prefix="libalias")
    d = tmp_path / "config"
    d.mkdir()
    (d / "config.toml").write_text(
        '[aliases]\nquick = "rp/served-model"\n\n'
        f'[providers.rp]\nbase_url = "{url}"\napi_key = "{FAKE_KEY}"\n')
    monkeypatch.setenv("LOOMEX_CONFIG_DIR", str(d))
    monkeypatch.setattr(wconfig, "_cache", {})
    result = run(Agent(model="quick", temperature=None), "hi")
    assert result.text == "lib ok"
    assert replay.requests(name)[0].body["model"] == "served-model"
