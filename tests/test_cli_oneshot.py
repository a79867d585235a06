"""One-shot runs of the installed ``loomex`` against the loopback replay server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cli_support import SECRET, CliEnv, loomex_bin
from replay_server import Reply

USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}


@pytest.fixture
def cli(replay, tmp_path):
    def make(replies, **kw):
        name, url = replay.new_script(replies, prefix="cli")
        env = CliEnv(tmp_path, url, **kw)
        env.name = name
        return env
    return make


def last_user(replay, env):
    body = replay.requests(env.name)[-1].body
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


def test_answer_on_stdout_and_nothing_else(cli, replay):
    env = cli([Reply.text("Four", ".", usage=USAGE)])
    done = env.run("What is 2+2?")
    assert done.code == 0
    assert done.out == "Four.\n"
    assert done.err == ""  # stderr is not a terminal and --verbose was not given
    req = replay.requests(env.name)[0]
    assert req.headers["authorization"] == f"Bearer {SECRET}"
    assert req.body["model"] == "test-model" and req.body["stream"] is True
    assert last_user(replay, env) == "What is 2+2?"


def test_verbose_puts_progress_and_usage_on_stderr(cli):
    env = cli([Reply.text("ok", usage=USAGE)])
    done = env.run("-v", "hi")
    assert done.out == "ok\n"
    assert "11 in / 3 out tokens" in done.err and "1 step" in done.err


def test_json_is_one_object_per_line(cli):
    env = cli([Reply.text("a", "b", usage=USAGE)])
    done = env.run("--json", "hi")
    assert done.code == 0
    objs = [json.loads(line) for line in done.out.splitlines()]
    types = [o["type"] for o in objs]
    assert types[:2] == ["start", "step_start"] and types[-1] == "result"
    assert [o["text"] for o in objs if o["type"] == "text_delta"] == ["a", "b"]
    final = objs[-1]
    assert final["text"] == "ab" and final["usage"]["total_tokens"] == 14
    assert final["finish_reason"] == "stop" and final["model"] == "replay/test-model"


def test_piped_stdin_follows_the_prompt_in_a_block(cli, replay):
    env = cli([Reply.text("reviewed")])
    done = env.run("review this", input="diff --git a b\n+x\n")
    assert done.code == 0
    assert last_user(replay, env) == "review this\n\n<stdin>\ndiff --git a b\n+x\n</stdin>"


def test_stdin_alone_is_the_prompt(cli, replay):
    env = cli([Reply.text("ok")])
    done = env.run(input="just the pipe\n")
    assert done.code == 0 and done.out == "ok\n"
    assert last_user(replay, env) == "just the pipe\n"


def test_invalid_utf8_is_replaced_with_a_warning(cli, replay):
    env = cli([Reply.text("ok")])
    p = subprocess.run([loomex_bin(), "summarise"], input=b"caf\xe9 ok\n", capture_output=True,
                       env=env.env(), timeout=30)
    assert p.returncode == 0
    assert b"not valid UTF-8" in p.stderr
    assert "caf\ufffd ok" in last_user(replay, env)


def test_dev_null_is_never_read(cli, replay):
    env = cli([Reply.text("ok")])
    with open("/dev/null") as devnull:
        done = env.run("hi", stdin=devnull)
    assert done.code == 0 and done.err == ""


def test_dash_prompt_after_double_dash(cli, replay):
    env = cli([Reply.text("yes")])
    done = env.run("--", "-x is a flag?")
    assert done.code == 0
    assert last_user(replay, env) == "-x is a flag?"


def test_options_after_the_prompt_belong_to_run(cli, replay):
    env = cli([Reply.text("ok")])
    done = env.run("hello there", "-m", "replay/other-model", "--temperature", "0.7")
    assert done.code == 0
    body = replay.requests(env.name)[0].body
    assert body["model"] == "other-model" and body["temperature"] == 0.7


def test_a_mistyped_command_gets_did_you_mean(tmp_path):
    done = CliEnv(tmp_path).run("modles")
    assert done.code == 2
    assert "Did you mean 'models'" in done.err


def test_no_prompt_is_a_usage_error(cli):
    env = cli([Reply.text("never")])
    done = env.run("run")
    assert done.code == 2 and "no prompt" in done.err


def test_input_larger_than_the_window_is_refused_before_sending(cli, replay):
    env = cli([Reply.text("never")])
    done = env.run("summarise", input="word " * 200_000)
    assert done.code == 2 and "context window" in done.err
    assert replay.requests(env.name) == []


@pytest.mark.parametrize("fixture,code,words", [
    ("openai-401-invalid-api-key", 4, "Incorrect API key"),
    ("openrouter-401-no-auth", 4, "No cookie auth credentials"),
    ("openai-404-model-not-found", 3, "does not exist"),
    ("openai-400-unsupported-system-role", 5, "Unsupported value"),
])
def test_provider_errors_map_to_exit_codes(cli, fixture, code, words):
    env = cli([Reply.fixture(fixture)])
    done = env.run("hi")
    assert done.code == code, done.err
    assert words in done.err and done.out == ""
    assert len(done.err.strip().splitlines()) <= 2


def test_rate_limited_after_retries_is_6(cli, replay):
    limited = Reply.json({"error": {"message": "slow down"}}, status=429, headers={"retry-after": "0"})
    env = cli([limited, limited, limited])
    done = env.run("hi")
    assert done.code == 6 and "slow down" in done.err
    assert len(replay.requests(env.name)) == 3


def test_server_errors_after_retries_are_5(cli, replay):
    env = cli([Reply.json({"error": "down"}, status=503)] * 3)
    done = env.run("hi")
    assert done.code == 5 and "503" in done.err


def test_unreachable_provider_is_5(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    env = CliEnv(tmp_path, f"http://127.0.0.1:{port}/v1")
    done = env.run("hi")
    assert done.code == 5 and "cannot reach" in done.err


def test_no_model_and_no_key_is_a_config_error(tmp_path):
    env = CliEnv(tmp_path)
    (env.config / "config.toml").write_text("")
    done = env.run("hi", LOOMEX_LOCAL_PROBE="0")
    assert done.code == 3
    assert "OPENROUTER_API_KEY" in done.err and len(done.err.strip().splitlines()) == 1


def test_unknown_provider_is_a_config_error(tmp_path):
    done = CliEnv(tmp_path).run("-m", "nosuch/model", "hi")
    assert done.code == 3 and "unknown provider 'nosuch'" in done.err


def test_a_config_file_that_does_not_parse_names_file_and_line(tmp_path):
    env = CliEnv(tmp_path)
    bad = 'default_model = "x/y"\n[providers\n'
    (env.config / "config.toml").write_text(bad)
    done = env.run("hi")
    assert done.code == 3
    assert "config.toml" in done.err and "line 2" in done.err
    assert (env.config / "config.toml").read_text() == bad


def test_max_steps_is_exit_7_with_the_partial_answer(cli, tmp_path):
    env = cli([Reply.tool_calls([("c1", "glob", {"pattern": "*.nothing"})], text="looking")],
              extra_config="")
    done = env.run("--max-steps", "1", "-t", "glob", "find it")
    assert done.code == 7, done.err
    assert "step limit" in done.err and "looking" in done.out


def test_the_key_only_from_the_environment_just_works(replay, tmp_path):
    # someone who only exported a preset's variable, no config file at all
    name, url = replay.new_script([Reply.text("works")], prefix="envonly")
    env = CliEnv(tmp_path)
    (env.config / "config.toml").unlink()
    done = env.run("What is 2+2?", OPENROUTER_API_KEY=SECRET, LOOMEX_OPENROUTER_BASE_URL=url)
    assert done.code == 0 and done.out == "works\n", done.err
    body = replay.requests(name)[0].body
    assert body["model"] == "anthropic/claude-sonnet-4"


def test_help_and_version_are_light():
    code = ("import sys\nfrom loomex_cli.__main__ import main\n"
            "for argv in (['--version'], ['--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('httpx2', 'prompt_toolkit', 'rich.markdown', 'pygments', 'pydantic')"
            " if m in sys.modules]\nprint('HEAVY', heavy)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "HEAVY []" in p.stdout, p.stdout + p.stderr


def test_one_shot_does_not_import_prompt_toolkit(cli, replay):
    env = cli([Reply.text("ok")])
    code = ("import sys\nfrom loomex_cli.__main__ import main\n"
            "try:\n    main(['hi'])\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('PT=' + str('prompt_toolkit' in sys.modules))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env.env(), timeout=30, stdin=subprocess.DEVNULL)
    assert p.stdout == "ok\n" and "PT=False" in p.stderr, p.stderr


def test_interrupt_exits_130_and_keeps_what_streamed(cli, replay):
    import signal
    env = cli([Reply.text(*[f"w{i} " for i in range(60)], delay=0.05)])
    proc = subprocess.Popen([loomex_bin(), "talk"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env.env())
    first = proc.stdout.read(3)  # wait until the answer has begun
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert first == "w0 "
    assert proc.returncode == 130 and "interrupted" in err
    assert "Traceback" not in err


def test_chat_without_a_terminal_is_a_usage_error(cli):
    env = cli([Reply.text("never")])
    done = env.run("chat", input="hello\n")
    assert done.code == 2 and "needs a terminal" in done.err


def test_a_lone_surrogate_from_the_model_is_replaced_not_fatal(cli, replay):
    # JSON "\ud800" decodes to a lone surrogate, which no UTF-8 stream or SQLite accepts
    env = cli([Reply.text("a\ud800b", usage=USAGE), Reply.text("ok", usage=USAGE)])
    done = env.run("hi")
    assert done.code == 0
    assert done.out == "a\ufffdb\n"
    again = env.run("-c", "and?")
    assert again.code == 0
    sent = replay.requests(env.name)[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "assistant"] == ["a\ufffdb"]
