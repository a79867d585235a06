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
