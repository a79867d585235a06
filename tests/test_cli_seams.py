"""The issue-15 features used together, end to end through the installed ``loomex`` against
the loopback server: attachments with -c/--resume and /retry, titles of image-only
conversations, AGENTS.md with a resumed conversation, --schema/--effort/--role with the rest.

Which models take images comes from the models.dev snapshot served on loopback (as in
test_attach.py): openai/gpt-4.1-mini takes them, groq/llama-3.3-70b-versatile is text only.
"""

from __future__ import annotations

import json

import pytest

from cli_support import CliEnv, Term, loomex_bin
from replay_server import Reply
from test_attach import PNG, PNG_URL, catalog, vision  # noqa: F401 - the fixture


def users(replay, name, i=-1):
    return [m for m in replay.requests(name)[i].body["messages"] if m["role"] == "user"]


# -- images in a conversation that goes on ---------------------------------------------------

def test_continue_with_a_text_only_model_on_a_conversation_with_images_is_exit_3(
        replay, tmp_path, catalog):
    name, url = replay.new_script([Reply.text("a dot")], prefix="seam-c-text", repeat_last=True)
    env = CliEnv(tmp_path)
    pic = tmp_path / "p.png"
    pic.write_bytes(PNG)
    v = vision(catalog, url)
    assert env.run("-m", "openai/gpt-4.1-mini", "-a", str(pic), "what is it", **v).code == 0
    sent = len(replay.requests(name))
    done = env.run("-c", "-m", "groq/llama-3.3-70b-versatile", "and its colour?", **v)
    assert done.code == 3, done.err
    assert len(done.err.strip().splitlines()) == 1
    assert "does not take images" in done.err and "this conversation holds 1 image" in done.err
    assert len(replay.requests(name)) == sent  # nothing was sent
    done = env.run("-c", "and its colour?", **v)  # the model it had still takes it
    assert done.code == 0, done.err
    assert users(replay, name)[0]["content"][1]["image_url"]["url"] == PNG_URL


def test_an_image_only_first_message_has_a_title(replay, tmp_path, catalog):
    name, url = replay.new_script([Reply.text("a dot")], prefix="seam-title", repeat_last=True)
    env = CliEnv(tmp_path)
    pic = tmp_path / "p.png"
    pic.write_bytes(PNG)
    v = vision(catalog, url)
    assert env.run("-m", "openai/gpt-4.1-mini", "-a", str(pic), "-a", str(pic), **v).code == 0
    listed = env.run("history", "list")
    assert listed.code == 0 and "[2 images]" in listed.out, listed.out
    assert "[2 images]" in env.run("history", "show", "last").out.splitlines()[0]


@pytest.fixture
def term(tmux):
    made: list[Term] = []

    def start(env: CliEnv, *args: str, cwd=None, **extra: str) -> Term:
        """Term passes on only LOOMEX_* and REPLAY_* variables: the keys go in keys.toml."""
        keys = env.config / "keys.toml"
        keys.write_text('openai = "sk-openai-test-1234567890"\n'
                        'groq = "gsk-test-1234567890"\n')
        keys.chmod(0o600)
        cmd = [loomex_bin(), "chat", *args]
        if cwd is not None:
            cmd = ["sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", str(cwd), *cmd]
        t = Term(tmux, env.env(**extra), cmd, width=200)
        made.append(t)
        return t
    yield start
    for t in made:
        t.close()


def test_retry_after_resume_sends_an_image_only_message_again(term, replay, tmp_path, catalog):
    name, url = replay.new_script([Reply.text("a dot")], prefix="seam-retry", repeat_last=True)
    env = CliEnv(tmp_path)
    pic = tmp_path / "p.png"
    pic.write_bytes(PNG)
    v = vision(catalog, url)
    assert env.run("-m", "openai/gpt-4.1-mini", "-a", str(pic), **v).code == 0
    t = term(env, "-c", **v)
    t.wait_prompt()
    t.type("/retry")
    t.keys("Enter")
    t.wait_for("a dot")
    t.wait_prompt()
    assert "nothing to retry" not in t.screen()
    [user] = users(replay, name)  # the exchange retried is not sent twice
    assert user["content"] == [{"type": "image_url", "image_url": {"url": PNG_URL}}]
    t.type("/model groq/llama-3.3-70b-versatile")  # text only: the next turn is refused
    t.keys("Enter")
    t.wait_prompt()
    sent = len(replay.requests(name))
    t.type("and now?")
    t.keys("Enter")
    t.wait_for("this conversation holds 1 image")
    t.wait_for("› and now?")  # the line is kept to send again
    assert len(replay.requests(name)) == sent
    t.keys("C-u")
    assert "EXITED=0" in t.leave_with_ctrl_d()


def test_chat_resume_with_a_text_only_model_on_images_is_exit_3(term, replay, tmp_path,
                                                                 catalog):
    name, url = replay.new_script([Reply.text("a dot")], prefix="seam-resume", repeat_last=True)
    env = CliEnv(tmp_path)
    pic = tmp_path / "p.png"
    pic.write_bytes(PNG)
    v = vision(catalog, url)
    assert env.run("-m", "openai/gpt-4.1-mini", "-a", str(pic), "look", **v).code == 0
    t = term(env, "-c", "-m", "groq/llama-3.3-70b-versatile", **v)
    screen = t.wait_for("EXITED=")
    assert "EXITED=3" in screen and "this conversation holds 1 image" in screen


# -- AGENTS.md and a resumed conversation -----------------------------------------------------

def test_a_resumed_conversation_keeps_its_prompt_and_context_says_so(term, replay, tmp_path):
    name, url = replay.new_script([Reply.text("ok")], prefix="seam-ctx", repeat_last=True)
    env = CliEnv(tmp_path, url)
    proj = tmp_path / "proj"
    (proj / ".git").mkdir(parents=True)
    (proj / "AGENTS.md").write_text("Old rules.\n")
    assert env.run("first", cwd=proj).code == 0
    assert "Old rules." in replay.requests(name)[-1].body["messages"][0]["content"]
    (proj / "AGENTS.md").write_text("New rules.\n" + "z" * 40_000)  # cut: a note when used
    done = env.run("-c", "second", cwd=proj)
    assert done.code == 0, done.err
    system = replay.requests(name)[-1].body["messages"][0]["content"]
    assert "Old rules." in system and "New rules." not in system
    assert "is cut" not in done.err  # nothing is said of files that are not sent

    t = term(env, "-c", cwd=proj)
    t.wait_prompt()
    assert "is cut" not in t.screen()
    t.type("/context")
    t.keys("Enter")
    screen = "".join(t.wait_for("go in after /clear").splitlines())  # long lines wrap
    assert "keeps the system prompt it was saved with, with the project instructions it " \
           f"was started with (from {proj / 'AGENTS.md'})" in screen
    t.type("/clear")
    t.keys("Enter")
    t.wait_for("a new conversation")
    t.type("/context")
    t.keys("Enter")
    t.wait_for("context files, in the order")
    t.wait_prompt()
    assert t.screen().count("saved with") == 1  # a new conversation: the files found now
    t.type("third")
    t.keys("Enter")
    t.wait_for("ok", after=0)
    t.wait_prompt()
    assert "New rules." in replay.requests(name)[-1].body["messages"][0]["content"]
    assert "EXITED=0" in t.leave_with_ctrl_d()


# -- roles with aliases, MCP tools, --schema and --effort; serve --role -----------------------

ROLES = '''
[aliases]
fast = "replay/llama-fast"

[roles.ev]
system = "ROLE-EV: use the echo tool."
model = "fast"
tools = "ev__*"

[roles.broken]
tools = "read_file,nosuch__*"

[tools."ev__*"]
allow = ["*"]
'''


def test_a_roles_bad_tools_are_a_config_error_naming_the_role(replay, tmp_path):
    name, url = replay.new_script([Reply.text("never")], prefix="seam-role-bad")
    env = CliEnv(tmp_path, url, extra_config=ROLES)
    done = env.run("--role", "broken", "go")
    assert done.code == 3, done.err
    assert "config.toml [roles.broken] tools: unknown MCP server 'nosuch'" in done.err
    assert env.run("-t", "nosuch__*", "go").code == 2  # typed on the command line: usage
    assert replay.requests(name) == []


def test_a_role_with_an_alias_model_and_mcp_tools_with_schema_and_effort(replay, tmp_path):
    from mcp_support import everything_cmd, toml_server
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "ev__echo", {"message": "hi"})]),
        Reply.tool_calls([("c2", "final_answer", {"said": "Echo: hi"})]),
    ], prefix="seam-role-mcp")
    env = CliEnv(tmp_path, url, extra_config=ROLES + toml_server("ev", everything_cmd()))
    done = env.run("--role", "ev", "--schema", "said str", "--effort", "low", "--json",
                   "echo hi", timeout=90)
    assert done.code == 0, done.err
    events = [json.loads(line) for line in done.out.splitlines()]
    assert events[0]["model"] == "replay/llama-fast"
    assert events[0]["model_source"] == "role ev, alias fast"
    assert events[-1]["output"] == {"said": "Echo: hi"}
    first, second = (r.body for r in replay.requests(name))
    assert first["model"] == "llama-fast"
    assert first["messages"][0]["content"].startswith("ROLE-EV: use the echo tool.")
    names = [t["function"]["name"] for t in first["tools"]]
    assert "ev__echo" in names and "final_answer" in names  # the model's tools and the answer
    assert first.get("tool_choice") == "required"
    assert first["reasoning_effort"] == "low"  # a model the registry does not know: sent
    assert {"role": "tool", "tool_call_id": "c1", "content": "Echo: hi"}.items() <= \
        second["messages"][-1].items()


def test_serve_with_a_role(replay, tmp_path):
    import re
    import subprocess
    import threading
    from test_web_app import chat
    from test_web_protocol import user
    name, url = replay.new_script([Reply.text("served")], prefix="seam-serve-role")
    env = CliEnv(tmp_path, url, extra_config=ROLES.replace('tools = "ev__*"', 'tools = "read_file"'))
    proc = subprocess.Popen([loomex_bin(), "serve", "--role", "ev", "--port", "0"],
                            env=env.env(), text=True, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        got: list[str] = []
        ready = threading.Event()

        def read() -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                got.append(line)
                ready.set()
        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(30), proc.stderr.read()  # type: ignore[union-attr]
        assert "(model replay/llama-fast; tools: read_file)" in got[0]
        base = "http://127.0.0.1:" + re.search(r":(\d+)/", got[0]).group(1)
        chunks = chat(base, user("hello")).chunks()
        assert any(c.get("delta") == "served" for c in chunks), chunks
    finally:
        proc.terminate()
        proc.wait(10)
    body = replay.requests(name)[0].body
    assert body["model"] == "llama-fast"
    assert body["messages"][0]["content"].startswith("ROLE-EV: use the echo tool.")


# -- --help of run and chat, and README's list of their options --------------------------------

def _help_flags(command: str) -> list[str]:
    import re
    import subprocess
    import os
    out = subprocess.run([loomex_bin(), command, "--help"], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200"}, timeout=30).stdout
    return re.findall(r"^  ((?:-\w, )?--[\w-]+(?: [A-Z|]+)?)", out, re.M)


def test_run_and_chat_help_read_well_and_match_the_readme():
    import re
    from pathlib import Path as P
    run, chat = _help_flags("run"), _help_flags("chat")
    for flags in (run, chat):
        shorts = [f[:2] for f in flags if not f.startswith("--")]
        assert len(shorts) == len(set(shorts)), flags  # no short flag twice
        assert all(" " in f or f.split()[-1] in BOOLEAN for f in flags), flags  # metavars
    for flag in ("-f, --file PATH|DIR|GLOB", "-a, --attach PATH|URL", "--role NAME",
                 "--effort LEVEL", "-m, --model MODEL"):
        assert flag in run and flag in chat, flag
    assert "--schema SCHEMA" in run and "-x, --shell" in run
    readme = (P(__file__).parent.parent / "README.md").read_text()
    para = readme.split("Options of `run` (the default command) and `chat`", 1)[1].split("\n\n")[0]
    documented = set(re.findall(r"`(-\w/--[\w-]+|--[\w-]+)", para)) - {"--help"}

    def names(flags):
        return {f.split(" ")[0].rstrip(",") if f.startswith("--") else
                f"{f[:2]}/{f.split(', ')[1].split(' ')[0]}" for f in flags} - {"-h/--help"}
    assert (names(run) | names(chat)) - {"-i/--interactive"} == documented


BOOLEAN = {"--no-stream", "--json", "--quiet", "--yes", "--dangerously-allow-all", "--no-stdin",
           "--verbose", "--no-reasoning", "--debug", "--continue", "--no-save", "--raw",
           "--no-context-files", "--shell", "--help", "--interactive"}


def test_continue_with_a_role_uses_its_model_and_says_its_prompt_is_not_used(replay, tmp_path):
    name, url = replay.new_script([Reply.text("ok")], prefix="seam-c-role", repeat_last=True)
    env = CliEnv(tmp_path, url, extra_config=ROLES.replace('tools = "ev__*"', ""))
    assert env.run("-m", "replay/first-model", "one").code == 0
    done = env.run("-c", "--json", "two")  # the conversation's model, and it says so
    assert done.code == 0, done.err
    start = json.loads(done.out.splitlines()[0])
    assert start["model"] == "replay/first-model"
    assert start["model_source"].startswith("the conversation ")
    assert done.err == ""
    done = env.run("-c", "--role", "ev", "three")  # a role given: its model wins
    assert done.code == 0, done.err
    body = replay.requests(name)[-1].body
    assert body["model"] == "llama-fast"
    assert "ROLE-EV" not in body["messages"][0]["content"]  # the saved prompt is kept
    assert "the system prompt of --role ev is not used" in done.err
    assert len(done.err.strip().splitlines()) == 1
    done = env.run("-c", "-s", "Be brief.", "four")
    assert done.code == 0 and "the system prompt of -s is not used" in done.err
    assert replay.requests(name)[-1].body["model"] == "llama-fast"  # as the last turn had


def test_tool_images_do_not_stop_a_text_only_model_from_going_on(replay, tmp_path, catalog):
    """An MCP tool's image went to a vision model as an image part; going on with a text-only
    model (-c -m) is not refused (the user attached nothing): the images message is left out,
    and the tool message still describes the image."""
    from mcp_support import everything_cmd, toml_server
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "ev__get-tiny-image", {})]),
        Reply.text("a tiny logo."), Reply.text("still a logo.")], prefix="seam-tool-img")
    env = CliEnv(tmp_path, extra_config=toml_server("ev", everything_cmd())
                 + '\n[tools."ev__*"]\nallow = ["*"]\n')
    v = vision(catalog, url)
    done = env.run("-m", "openai/gpt-4.1-mini", "-t", "ev__*", "show me", timeout=90, **v)
    assert done.code == 0, done.err
    last = replay.requests(name)[-1].body["messages"]
    assert any(p.get("type") == "image_url" for m in last if isinstance(m.get("content"), list)
               for p in m["content"])  # the vision model saw it
    done = env.run("-c", "-m", "groq/llama-3.3-70b-versatile", "and now?", timeout=90, **v)
    assert done.code == 0, done.err
    msgs = replay.requests(name)[-1].body["messages"]
    assert not any(isinstance(m.get("content"), list) for m in msgs)  # no image part left
    tool = msgs[3]["content"]  # no tools offered: the call and its result go as text
    assert tool.startswith("[result of tool call c1: ev__get-tiny-image]\n")
    assert "[image 1: image/png," in tool
    assert msgs[-1] == {"role": "user", "content": "and now?"}
    assert [m["role"] for m in msgs[1:]] == ["user", "assistant", "user", "assistant", "user"]


def test_retry_after_a_turn_whose_tool_gave_images(term, replay, tmp_path, catalog):
    """The images message a tool's result adds is not the user's: /retry forgets the whole
    exchange (the user's message is sent once), and sends it again."""
    from mcp_support import everything_cmd, toml_server
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "ev__get-tiny-image", {})]), Reply.text("a tiny logo."),
        Reply.text("retried.")], prefix="seam-retry-tool-img")
    env = CliEnv(tmp_path, extra_config=toml_server("ev", everything_cmd())
                 + '\n[tools."ev__*"]\nallow = ["*"]\n')
    t = term(env, "-m", "openai/gpt-4.1-mini", "-t", "ev__*",
             **{k: v for k, v in vision(catalog, url).items() if k.startswith("LOOMEX_")})
    t.wait_prompt()
    t.type("show me")
    t.keys("Enter")
    t.wait_for("a tiny logo.")
    t.wait_prompt()
    t.type("/retry")
    t.keys("Enter")
    t.wait_for("retried.")
    t.wait_prompt()
    msgs = replay.requests(name)[-1].body["messages"]
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[1]["content"] == "show me"
    assert "EXITED=0" in t.leave_with_ctrl_d()
