"""``--schema`` and ``--effort`` end to end: the installed ``loomex`` against the loopback server,
with the models.dev snapshot as the registry (what it says of each model decides the request).

Models used, as the snapshot has them: openai/gpt-4.1-mini (structured output, no reasoning),
openrouter/anthropic/claude-sonnet-4 (no structured output), openai/gpt-5 and
openrouter/openai/gpt-5 (reasoning: minimal, low, medium, high), openai/gpt-5-pro (high only).
"""

from __future__ import annotations

import json
import shutil

import pytest

from cli_support import CliEnv
from replay_server import Reply
from test_calls_as_text import undefined_calls

from loomex_cli.engine.store import Store

KEYS = {"OPENAI_API_KEY": "sk-test-openai-1234567890", "OPENROUTER_API_KEY": "sk-or-test-123456"}
CONCISE = "name str, age int: in years, tags list[str]"
CONCISE_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"},
                   "age": {"type": "integer", "description": "in years"},
                   "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["name", "age", "tags"], "additionalProperties": False}
ANSWER = {"name": "Ada", "age": 36, "tags": ["math"]}


@pytest.fixture(scope="module")
def models_cache(fixtures_dir, tmp_path_factory):
    """A cache holding the snapshot as if downloaded (LOOMEX_MODELS_URL=off reads it)."""
    d = tmp_path_factory.mktemp("models-cache")
    shutil.copy(fixtures_dir.parent / "models-dev" / "api.json", d / "models-dev-api.json")
    return d


@pytest.fixture
def cli(replay, tmp_path, models_cache):
    """``cli(replies, config="", strict=False)`` -> (env, run): ``run(*args)`` sends every
    provider to the script (``strict``: :func:`refusing_undefined_tools`); ``env.name``
    reads what it received."""
    def make(replies, config="", strict=False):
        if strict:
            name = replay.unique_name("cli-so")
            url = replay.responder(name, refusing_undefined_tools(replies))
        else:
            name, url = replay.new_script(replies, prefix="cli-so")
        env = CliEnv(tmp_path)
        (env.config / "config.toml").write_text("[retry]\nbase_delay = 0.01\n" + config)
        env.name = name
        urls = {"LOOMEX_OPENAI_BASE_URL": url, "LOOMEX_OPENROUTER_BASE_URL": url}

        def run(*args, **kw):
            return env.run(*args, LOOMEX_CACHE_DIR=str(models_cache), **KEYS, **urls, **kw)
        return env, run
    return make


def bodies(replay, env):
    return [r.body for r in replay.requests(env.name)]


def refusing_undefined_tools(replies):
    """The replies in turn, from a provider that refuses, as Anthropic does (also through
    OpenRouter), a request whose history calls a tool the request does not define."""
    replies = list(replies)

    def respond(body):
        if undefined_calls(body):
            return Reply.json({"error": {"type": "invalid_request_error", "message": (
                "Requests which include `tool_use` or `tool_result` blocks must define "
                "tools.")}}, status=400)
        return replies.pop(0)
    return respond


def saved_calls(env):
    """The tool calls of the last saved conversation, and its tool results' text."""
    with Store.open(env.data / "conversations.db", create=False) as s:
        msgs = s.last().messages
    return ([c.name for m in msgs for c in m.tool_calls or ()],
            [m.text for m in msgs if m.role == "tool"])


# -- --schema ------------------------------------------------------------------------

def test_json_schema_response_format_for_a_model_that_supports_it(cli, replay):
    env, run = cli([Reply.text('{"name": "Ada", "age": 36,', ' "tags": ["math"]}')])
    done = run("-m", "openai/gpt-4.1-mini", "--schema", CONCISE, "Who was Ada Lovelace?")
    assert done.code == 0, done.err
    assert json.loads(done.out) == ANSWER and done.out.count("\n") == 1  # one line to a pipe
    [body] = bodies(replay, env)
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "final_answer", "schema": CONCISE_SCHEMA, "strict": True}}
    assert "tool_choice" not in body and "tools" not in body


def test_forced_tool_call_for_a_model_without_it(cli, replay):
    env, run = cli([Reply.tool_calls([("call_1", "final_answer", ANSWER)])])
    done = run("-m", "openrouter/anthropic/claude-sonnet-4", "--schema", CONCISE, "Who?")
    assert done.code == 0, done.err
    assert done.out == json.dumps(ANSWER) + "\n"
    [body] = bodies(replay, env)
    assert "response_format" not in body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "final_answer"}}
    [tool] = body["tools"]
    assert tool["function"]["name"] == "final_answer"
    assert tool["function"]["parameters"] == CONCISE_SCHEMA


# -- a structured answer, continued without --schema --------------------------------

def test_a_forced_answer_continued_without_schema_on_a_strict_provider(cli, replay):
    env, run = cli([Reply.tool_calls([("call_1", "final_answer", ANSWER)]),
                    Reply.text("In 1815.")], strict=True)
    first = run("-m", "openrouter/anthropic/claude-sonnet-4", "--schema", CONCISE, "Who?")
    assert first.code == 0 and json.loads(first.out) == ANSWER, first.err
    done = run("-c", "When was she born?")
    assert done.code == 0, done.err
    assert done.out == "In 1815.\n"
    second = bodies(replay, env)[1]
    assert "tools" not in second and undefined_calls(second) == []
    sent = second["messages"][1:]  # after the system prompt
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    header, answer = sent[1]["content"].split("\n", 1)
    assert header == "[tool call call_1: final_answer]" and json.loads(answer) == ANSWER
    assert sent[2]["content"] == ("[result of tool call call_1: final_answer]\n"
                                  "The answer was accepted.\n\nWhen was she born?")
    # the saved conversation is what happened: the call and its result stay
    assert saved_calls(env) == (["final_answer"], ["The answer was accepted."])


def test_a_repair_turn_continued_without_schema_on_a_strict_provider(cli, replay):
    env, run = cli([Reply.tool_calls([("c1", "final_answer", {"name": "Ada"})]),
                    Reply.tool_calls([("c2", "final_answer", ANSWER)]),
                    Reply.text("In 1815.")], strict=True)
    assert run("-m", "openrouter/anthropic/claude-sonnet-4", "--schema", CONCISE,
               "Who?").code == 0
    done = run("-c", "When was she born?")
    assert done.code == 0 and done.out == "In 1815.\n", done.err
    third = bodies(replay, env)[2]
    assert "tools" not in third and undefined_calls(third) == []
    sent = third["messages"][1:]
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert sent[1]["content"] == '[tool call c1: final_answer]\n{"name": "Ada"}'
    assert "missing required property 'age'" in sent[2]["content"]
    assert json.loads(sent[3]["content"].split("\n", 1)[1]) == ANSWER
    assert sent[4]["content"].endswith("The answer was accepted.\n\nWhen was she born?")


def test_a_tools_run_continued_without_tools_is_sent_the_same_way(cli, replay, tmp_path):
    env, run = cli([Reply.tool_calls([("call_b1", "bash", {"command": "echo hi"})]),
                    Reply.text("It said hi."), Reply.text("hi")], strict=True)
    assert run("-m", "openrouter/anthropic/claude-sonnet-4", "-y", "-t", "bash", "say hi",
               cwd=tmp_path).code == 0
    done = run("-c", "What did it print?", cwd=tmp_path)
    assert done.code == 0 and done.out == "hi\n", done.err
    third = bodies(replay, env)[2]
    assert "tools" not in third and undefined_calls(third) == []
    sent = third["messages"][1:]
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert sent[1]["content"] == '[tool call call_b1: bash]\n{"command": "echo hi"}'
    assert sent[2]["content"].startswith("[result of tool call call_b1: bash]\n")
    assert "hi" in sent[2]["content"] and sent[4]["content"] == "What did it print?"
    assert saved_calls(env)[0] == ["bash"]


def test_repair_turn_then_exit_8_with_the_validation_error(cli, replay):
    env, run = cli([Reply.text('{"name": "Ada", "age": "thirty-six", "tags": []}'),
                    Reply.text('{"name": "Ada", "tags": []}')])
    done = run("-m", "openai/gpt-4.1-mini", "--schema", CONCISE, "Who?")
    assert done.code == 8
    assert done.out == ""  # nothing that is not valid reaches stdout
    assert "does not match the schema" in done.err
    assert "missing required property 'age'" in done.err
    first, second = bodies(replay, env)
    repair = second["messages"][-1]
    assert repair["role"] == "user"
    assert "$.age: expected integer, got string" in repair["content"]
    assert second["response_format"] == first["response_format"]


def test_the_repair_turn_can_succeed(cli, replay):
    env, run = cli([Reply.tool_calls([("c1", "final_answer", {"name": "Ada"})]),
                    Reply.tool_calls([("c2", "final_answer", ANSWER)])])
    done = run("-m", "openrouter/anthropic/claude-sonnet-4", "--schema", CONCISE, "Who?")
    assert done.code == 0, done.err
    assert json.loads(done.out) == ANSWER
    repair = bodies(replay, env)[1]["messages"][-1]
    assert repair["role"] == "tool" and repair["tool_call_id"] == "c1"
    assert "missing required property 'age'" in repair["content"]


def test_json_result_event_carries_the_parsed_value(cli, replay):
    env, run = cli([Reply.text(json.dumps(ANSWER))])
    done = run("--json", "-m", "openai/gpt-4.1-mini", "--schema", CONCISE, "Who?")
    assert done.code == 0, done.err
    final = json.loads(done.out.splitlines()[-1])
    assert final["type"] == "result" and final["output"] == ANSWER


def test_schema_from_a_file_and_inline(cli, replay, tmp_path):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(schema))
    env, run = cli([Reply.text('{"ok": true}'), Reply.text('{"ok": false}')])
    assert run("-m", "openai/gpt-4.1-mini", "--schema", str(path), "ok?").out == '{"ok": true}\n'
    done = run("-m", "openai/gpt-4.1-mini", "--schema", json.dumps(schema), "ok?")
    assert done.out == '{"ok": false}\n'
    for body in bodies(replay, env):
        rf = body["response_format"]["json_schema"]
        assert rf["schema"] == schema and rf["strict"] is False  # extra properties allowed


def test_a_non_object_schema_is_wrapped_and_unwrapped(cli, replay):
    env, run = cli([Reply.text('{"value": ["a", "b"]}')])
    done = run("-m", "openai/gpt-4.1-mini", "--schema",
               '{"type": "array", "items": {"type": "string"}}', "list")
    assert done.code == 0, done.err
    assert json.loads(done.out) == ["a", "b"]
    schema = bodies(replay, env)[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["value"] == {"type": "array", "items": {"type": "string"}}


@pytest.mark.parametrize("value, words", [
    ("name str, age integer", "unknown type 'integer'"),
    ('{"type": "object", "properties": {', "not valid JSON"),
    ('{"type": "object", "properties": {"a": {"not": {}}}}', "does not check"),
    (", : just a description", "has no name"),
])
def test_a_bad_schema_is_a_usage_error_before_anything_is_sent(cli, replay, value, words):
    env, run = cli([Reply.text("never")])
    done = run("-m", "openai/gpt-4.1-mini", "--schema", value, "x")
    assert done.code == 2 and words in done.err
    assert len(done.err.strip().splitlines()) == 1
    assert bodies(replay, env) == []


# -- --effort ------------------------------------------------------------------------

@pytest.mark.parametrize("model, effort, fields, note", [
    ("openai/gpt-5", "low", {"reasoning_effort": "low"}, None),
    ("openrouter/openai/gpt-5", "high", {"reasoning": {"effort": "high"}}, None),
    ("openai/gpt-4.1-mini", "high", {}, "does not reason"),
    ("openai/gpt-5-pro", "low", {"reasoning_effort": "high"},
     "takes reasoning effort high (models.dev): sending high instead of low"),
])
def test_effort_field_per_provider(cli, replay, model, effort, fields, note):
    env, run = cli([Reply.text("ok")])
    done = run("-m", model, "--effort", effort, "think")
    assert done.code == 0, done.err
    [body] = bodies(replay, env)
    assert {k: body[k] for k in ("reasoning_effort", "reasoning") if k in body} == fields
    if note:
        assert note in done.err and len(done.err.strip().splitlines()) == 1
    else:
        assert done.err == ""


def test_effort_defaults_from_config(cli, replay):
    config = ('\n[providers.openai]\neffort = "minimal"\n\n'
              '[models."openai/gpt-5-mini"]\neffort = "medium"\n')
    env, run = cli([Reply.text("ok")] * 3, config=config)
    assert run("-m", "openai/gpt-5", "a").code == 0  # the provider's default
    assert run("-m", "openai/gpt-5-mini", "b").code == 0  # the model's own
    assert run("-m", "openai/gpt-5-mini", "--effort", "high", "c").code == 0  # the flag wins
    assert [b.get("reasoning_effort") for b in bodies(replay, env)] == ["minimal", "medium",
                                                                         "high"]


def test_bad_effort_values(cli, replay):
    env, run = cli([Reply.text("never")])
    done = run("-m", "openrouter/openai/gpt-5", "--effort", "extreme", "x")
    assert done.code == 2 and "--effort 'extreme'" in done.err
    env, run = cli([Reply.text("never")], config='\n[providers.openai]\neffort = "hard"\n')
    done = run("-m", "openai/gpt-5", "x")
    assert done.code == 3 and "providers.openai.effort must be one of none, minimal" in done.err
    assert bodies(replay, env) == []


def test_effort_in_the_repl(tmux, replay, tmp_path):
    from cli_support import Term, loomex_bin
    name, url = replay.new_script([Reply.text("one"), Reply.text("two"), Reply.text("three")],
                                  prefix="repl-effort")
    env = CliEnv(tmp_path, url)  # replay/test-model: the registry does not describe it
    t = Term(tmux, env.env(), [loomex_bin(), "chat", "--effort", "low"])
    try:
        t.wait_prompt()
        t.type("a")
        t.keys("Enter")
        t.wait_for("one")
        t.wait_prompt()
        t.type("/effort xhigh")
        t.keys("Enter")
        t.wait_for("reasoning effort: xhigh")
        t.type("b")
        t.keys("Enter")
        t.wait_for("two")
        t.wait_prompt()
        t.type("/effort hard")
        t.keys("Enter")
        t.wait_for("/effort hard: use one of none, minimal")
        t.type("/effort default")
        t.keys("Enter")
        t.wait_for("reasoning effort: not sent")
        t.type("c")
        t.keys("Enter")
        t.wait_for("three")
        sent = [r.body.get("reasoning_effort") for r in replay.requests(name)]
        assert sent == ["low", "xhigh", None]
        assert "EXITED=0" in t.leave_with_ctrl_d()
    finally:
        t.close()


def test_on_a_terminal_the_json_is_indented_and_cannot_drive_it(monkeypatch, capsys):
    from loomex_cli.cli import oneshot
    monkeypatch.setattr(oneshot, "stdout_is_tty", lambda: True)
    value = {"name": "Zoë\x9b2J\u202eevil", "n": 1}
    oneshot._print_answer(value)
    out = capsys.readouterr().out
    assert out == '{\n  "name": "Zoë\\u009b2J\\u202eevil",\n  "n": 1\n}\n'
    assert json.loads(out) == value  # the same JSON
    monkeypatch.setattr(oneshot, "stdout_is_tty", lambda: False)
    oneshot._print_answer(value)
    assert capsys.readouterr().out == json.dumps(value, ensure_ascii=False) + "\n"  # the bytes


def test_a_lone_surrogate_in_the_answer_is_replaced(cli, replay):
    env, run = cli([Reply.tool_calls([("c1", "final_answer", '{"value": "a\\ud800b"}')])])
    done = run("-m", "openrouter/anthropic/claude-sonnet-4", "--schema",
               '{"type": "string"}', "x")
    assert done.code == 0, done.err
    assert json.loads(done.out) == "a\ufffdb"


def test_a_config_default_is_left_out_quietly_for_a_model_that_does_not_reason(cli, replay):
    env, run = cli([Reply.text("ok")], config='\n[providers.openai]\neffort = "low"\n')
    done = run("-m", "openai/gpt-4.1-mini", "hi")
    assert done.code == 0 and done.err == ""
    assert "reasoning_effort" not in bodies(replay, env)[0]
