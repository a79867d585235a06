"""The config.toml schema check: types, unknown keys with line and suggestion, the locator."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from loomex_cli.wire.config_check import SCHEMA, check_config, locate
from loomex_cli.wire.errors import ConfigError


def check(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return check_config(tomllib.loads(text), path)


def test_the_readme_example_is_clean(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    assert check(tmp_path, example) == []


@pytest.mark.parametrize("text,key,expected", [
    ('max_steps = 0', "max_steps", "an integer >= 1"),
    ('max_steps = true', "max_steps", "an integer >= 1"),
    ('temperature = -1', "temperature", "a number >= 0"),
    ('save = "no"', "save", "true or false"),
    ('[retry]\nmax_attempts = 2.5', "retry.max_attempts", "an integer >= 1"),
    ('retry = 3', "retry", "a table"),
    ('[providers]\nwork = "x"', "providers.work", "a table"),
    ('[providers.w]\nheaders = { X = 1 }', "providers.w.headers", "a table of strings"),
    ('[providers.w]\napi_key_cmd = 3', "providers.w.api_key_cmd", "a string or a list"),
    ('[tools.bash]\nallow = [1]', "tools.bash.allow", "a string or a list of strings"),
    ('[providers.w]\nidle_timeout = 0', "providers.w.idle_timeout", "a number of seconds > 0"),
])
def test_wrong_types(tmp_path, text, key, expected):
    with pytest.raises(ConfigError) as ei:
        check(tmp_path, text)
    msg = str(ei.value)
    assert f" {key} must be {expected}" in msg and str(tmp_path / "config.toml") in msg
    assert "\n" not in msg


def test_unknown_keys_give_line_and_nearest(tmp_path):
    text = ('default_modle = "a/b"\n\n[providers.work]\nbase_url = "http://x/v1"\n'
            'extra_bdy = { top_p = 1 }\n[retry]\nmax_attempt = 2\nbase_url = "x"\nzzz = 1\n')
    out = check(tmp_path, text)
    p = tmp_path / "config.toml"
    assert out == [
        f"{p}:1: unknown key default_modle is ignored (did you mean 'default_model'?)",
        f"{p}:5: unknown key providers.work.extra_bdy is ignored (did you mean 'extra_body'?)",
        f"{p}:7: unknown key retry.max_attempt is ignored (did you mean 'max_attempts'?)",
        f"{p}:8: unknown key retry.base_url is ignored (did you mean 'base_url' in "
        "[providers.NAME]?)",
        f"{p}:9: unknown key retry.zzz is ignored",
    ]


def test_free_names_and_free_tables_are_not_checked(tmp_path):
    text = ('[providers."my-llm"]\nbase_url = "http://x/v1"\nheaders = { "X-Any" = "v" }\n'
            'extra_body = { anything = [1, { deep = true }] }\n[tools.custom]\ndeny = "rm *"\n')
    assert check(tmp_path, text) == []


def test_locate_handles_dotted_keys_quotes_and_multiline_strings():
    lines = ['system_prompt = """', 'max_stepz = 3', '"""', 'providers.w.base_url = "u"',
             '[ "tools" . bash ]  # rules', "allow = []", "[providers.w.headers]", "X = 1",
             "[providers.v]", "extra_body = { a = { b = 1 } }"]
    assert locate(lines, ["max_stepz"]) is None  # inside a string: not a key
    assert locate(lines, ["providers", "w", "base_url"]) == 4
    assert locate(lines, ["tools", "bash", "allow"]) == 6
    assert locate(lines, ["tools", "bash"]) == 5
    assert locate(lines, ["providers", "w", "headers", "X"]) == 8
    assert locate(lines, ["providers", "v", "extra_body", "a", "b"]) == 10  # inside an inline table


def test_every_key_the_code_reads_is_in_the_schema():
    for key in ("default_model", "temperature", "max_steps", "max_cost", "tools_default",
                "system_prompt", "save", "providers", "retry", "tools", "idle_timeout"):
        assert key in SCHEMA
