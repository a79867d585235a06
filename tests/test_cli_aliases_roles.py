"""Aliases, short model names and roles end to end: the installed ``loomex`` against the
loopback server, checked on the request it received (provider = which script got it)."""

from __future__ import annotations

import json

import pytest

from cli_support import CliEnv
from replay_server import Reply


@pytest.fixture
def cli(replay, tmp_path):
    def make(replies, extra_config: str = "", top: str = ""):
        name, url = replay.new_script(replies, prefix="names")
        env = CliEnv(tmp_path, url, extra_config=extra_config)
        if top:  # top-level keys go before CliEnv's tables
            path = env.config / "config.toml"
            path.write_text(top + "\n" + path.read_text())
        env.name = name
        env.url = url
        return env
    return make


def body(replay, name: str) -> dict:
    return replay.requests(name)[-1].body


def other_provider(replay, name: str = "other", models: str = "") -> tuple[str, str]:
    script, url = replay.new_script([Reply.text("from other")], prefix=name)
    table = f'\n[providers.{name}]\nbase_url = "{url}"\napi_key = "k"\n'
    if models:
        table += f"models = [{models}]\n"
    return script, table


# -- aliases and short names -------------------------------------------------------------

def test_alias_resolves_to_its_provider_and_model(cli, replay):
    env = cli([Reply.text("ok")], extra_config='\n[aliases]\nfast = "replay/llama-fast"\n')
    done = env.run("--json", "-m", "fast", "hi")
    assert done.code == 0, done.err
    start = json.loads(done.out.splitlines()[0])
    assert start["model"] == "replay/llama-fast" and start["provider"] == "replay"
    assert start["model_source"] == "--model, alias fast"
    assert body(replay, env.name)["model"] == "llama-fast"


def test_alias_as_default_model(cli, replay):
    env = cli([Reply.text("ok")], extra_config='\n[aliases]\nfast = "replay/llama-fast"\n')
    cfg = env.config / "config.toml"
    cfg.write_text(cfg.read_text().replace('default_model = "replay/test-model"',
                                           'default_model = "fast"'))
    assert env.run("hi").code == 0
    assert body(replay, env.name)["model"] == "llama-fast"


def test_short_name_finds_the_one_provider_that_lists_it(cli, replay):
    other, table = other_provider(replay, models='"other-model"')
    env = cli([Reply.text("ok")],
              extra_config='models = ["gpt-4.1-mini"]\n' + table)
    done = env.run("-v", "-m", "gpt-4.1-mini", "hi")
    assert done.code == 0, done.err
    assert body(replay, env.name)["model"] == "gpt-4.1-mini"
    assert "model replay/gpt-4.1-mini · provider replay" in done.err
    assert "short name gpt-4.1-mini" in done.err
    assert env.run("-m", "other-model", "hi").code == 0
    assert body(replay, other)["model"] == "other-model"


def test_ambiguous_short_name_exits_3_listing_the_choices(cli, replay):
    other, table = other_provider(replay, models='"gpt-4.1-mini"')
    env = cli([Reply.text("ok")], extra_config='models = ["gpt-4.1-mini"]\n' + table)
    done = env.run("-m", "gpt-4.1-mini", "hi")
    assert done.code == 3 and done.out == ""
    assert done.err == ("loomex: model 'gpt-4.1-mini' is served by 2 configured providers: "
                        "replay/gpt-4.1-mini, other/gpt-4.1-mini; give one of them as "
                        "provider/model (or add an alias in config.toml [aliases])\n")
    assert replay.requests(env.name) == [] and replay.requests(other) == []


def test_unknown_short_name_says_so(cli, replay):
    env = cli([])
    done = env.run("-m", "no-such-model", "hi")
    assert done.code == 3 and len(done.err.splitlines()) == 1
    assert done.err.startswith("loomex: unknown model 'no-such-model': no configured provider "
                               "serves it (the models.dev catalogue is not available")


def test_short_names_through_the_registry(cli, replay, api_bytes):
    """models.dev (a loopback copy) says which configured provider has the model: groq has
    llama-3.3-70b-versatile, openai has gpt-4.1-mini; their base URLs point at the server."""
    from test_registry import CatalogServer
    srv = CatalogServer(api_bytes)
    try:
        groq, groq_url = replay.new_script([Reply.text("g")], prefix="groq")
        oai, oai_url = replay.new_script([Reply.text("o")], prefix="openai")
        env = cli([])
        keys = dict(LOOMEX_MODELS_URL=srv.url, GROQ_API_KEY="gk", OPENAI_API_KEY="ok",
                    LOOMEX_GROQ_BASE_URL=groq_url, LOOMEX_OPENAI_BASE_URL=oai_url)
        done = env.run("-m", "llama-3.3-70b-versatile", "hi", **keys)
        assert done.code == 0, done.err
        assert body(replay, groq)["model"] == "llama-3.3-70b-versatile"
        assert env.run("-m", "gpt-4.1-mini", "hi", **keys).code == 0
        assert body(replay, oai)["model"] == "gpt-4.1-mini"
        # known to models.dev, but no configured provider has it
        done = env.run("-m", "claude-sonnet-4-20250514", "hi", **keys)
        assert done.code == 3
        assert "no configured provider serves it (models.dev has it at" in done.err
        assert "anthropic/claude-sonnet-4-20250514" in done.err
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def api_bytes():
    from test_registry import SNAPSHOT
    if not SNAPSHOT.is_file():
        pytest.fail(f"the models.dev snapshot is missing at {SNAPSHOT}")
    return SNAPSHOT.read_bytes()


def test_models_listing_shows_aliases(cli):
    env = cli([], extra_config='\n[aliases]\nfast = "replay/llama-fast"\n')
    done = env.run("models")
    assert done.code == 0
    assert "alias fast = replay/llama-fast" in done.out


# -- roles -------------------------------------------------------------------------------

ROLE = '''
[roles.coder]
system = "You write Python."
model = "replay/role-model"
tools = ["read_file", "grep"]
temperature = 0.7
'''


def tool_names(b: dict) -> list[str]:
    return [t["function"]["name"] for t in b.get("tools") or []]


def test_role_sets_prompt_model_tools_and_temperature(cli, replay):
    env = cli([Reply.text("ok")], extra_config=ROLE)
    done = env.run("--no-context-files", "--role", "coder", "hi")
    assert done.code == 0, done.err
    b = body(replay, env.name)
    assert b["model"] == "role-model" and b["temperature"] == 0.7
    assert b["messages"][0] == {"role": "system", "content": "You write Python."}
    assert tool_names(b) == ["read_file", "grep"]


def test_flags_win_over_the_role(cli, replay):
    env = cli([Reply.text("ok")], extra_config=ROLE)
    done = env.run("--no-context-files", "--role", "coder", "-m", "replay/mine",
                   "--temperature", "0.2", "-t", "glob", "-s", "Mine.", "hi")
    assert done.code == 0, done.err
    b = body(replay, env.name)
    assert b["model"] == "mine" and b["temperature"] == 0.2
    assert b["messages"][0] == {"role": "system", "content": "Mine."}
    assert tool_names(b) == ["glob"]


def test_a_role_that_sets_only_the_prompt(cli, replay):
    env = cli([Reply.text("ok")], extra_config='\n[roles.terse]\nsystem = "One word."\n')
    assert env.run("--no-context-files", "--role", "terse", "hi").code == 0
    b = body(replay, env.name)
    assert b["model"] == "test-model" and b["temperature"] == 0.1 and "tools" not in b
    assert b["messages"][0]["content"] == "One word."


def test_unknown_role_exits_3_naming_the_roles(cli, replay):
    env = cli([], extra_config=ROLE)
    done = env.run("--role", "cdoer", "hi")
    assert done.code == 3
    assert done.err == "loomex: no role 'cdoer' in config.toml (roles: coder)\n"


@pytest.mark.parametrize("config, message", [
    ('\n[roles.coder]\ntemperature = "hot"\n', "roles.coder.temperature must be a number >= 0"),
    ('\n[roles.coder]\ntools = 3\n', "roles.coder.tools must be a string or a list of strings"),
    ('\n[aliases]\nfast = 3\n', "aliases must be a table of strings"),
    ('\n[roles]\ncoder = "x"\n', "roles.coder must be a table"),
])
def test_wrong_types_exit_3(cli, config, message):
    env = cli([], extra_config=config)
    done = env.run("hi")
    assert done.code == 3 and message in done.err and len(done.err.splitlines()) == 1


def test_typo_in_a_role_is_warned(cli, replay):
    env = cli([Reply.text("ok")], extra_config='\n[roles.coder]\ntemprature = 0.5\n')
    done = env.run("--role", "coder", "hi")
    assert done.code == 0
    assert "unknown key roles.coder.temprature is ignored (did you mean 'temperature'?)" \
        in done.err
