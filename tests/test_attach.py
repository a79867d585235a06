"""-a/--attach, -f/--file and @path (cli/attach.py, cli/mentions.py), and images in saved
conversations (engine/store_blobs.py), end to end through the CLI against the replay server.

Which models take images comes from the models.dev snapshot served on loopback (as in
test_cost.py): openai/gpt-4.1-mini takes them, groq/llama-3.3-70b-versatile is text only, and
replay/test-model is not in the catalogue (unknown).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3

import pytest

from cli_support import CliEnv
from replay_server import Reply
from test_registry import CatalogServer

#: a 1x1 png
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQ"
                       "GAhKmMIQAAAABJRU5ErkJggg==")
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
KEYS = dict(OPENAI_API_KEY="sk-openai-test-1234567890", GROQ_API_KEY="gsk-test-1234567890")


@pytest.fixture
def catalog(fixtures_dir):
    srv = CatalogServer((fixtures_dir.parent / "models-dev" / "api.json").read_bytes())
    yield srv
    srv.stop()


def vision(catalog, url, **extra):
    """Environment for `-m openai/gpt-4.1-mini` (takes images) served by the replay server."""
    return dict(LOOMEX_MODELS_URL=catalog.url, LOOMEX_OPENAI_BASE_URL=url,
                LOOMEX_GROQ_BASE_URL=url, **KEYS, **extra)


def last_user(replay, name, i=-1):
    return [m for m in replay.requests(name)[i].body["messages"] if m["role"] == "user"][-1]


# -- images -------------------------------------------------------------------------------

def test_an_image_reaches_the_request_as_a_data_url_part(replay, tmp_path, catalog):
    name, url = replay.new_script([Reply.text("a dot")], prefix="img")
    env = CliEnv(tmp_path)
    pic = tmp_path / "shot.txt"  # the type comes from the bytes, not the name
    pic.write_bytes(PNG)
    done = env.run("-m", "openai/gpt-4.1-mini", "-a", str(pic), "-a",
                   "https://example.com/cat.jpg", "what is this?", **vision(catalog, url))
    assert done.code == 0, done.err
    assert last_user(replay, name)["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": PNG_URL}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    assert "note" not in done.err  # the model is known to take images


def test_a_text_only_model_refuses_images_with_exit_3_and_no_request(replay, tmp_path, catalog):
    name, url = replay.new_script([Reply.text("never")], prefix="img-text-only")
    env = CliEnv(tmp_path)
    pic = tmp_path / "p.png"
    pic.write_bytes(PNG)
    done = env.run("-m", "groq/llama-3.3-70b-versatile", "-a", str(pic), "what is it",
                   **vision(catalog, url))
    assert done.code == 3
    assert "does not take images" in done.err and len(done.err.strip().splitlines()) == 1
    assert replay.requests(name) == []


def test_an_unknown_model_gets_the_image_with_a_note(replay, tmp_path):
    name, url = replay.new_script([Reply.text("ok")], prefix="img-unknown")
    env = CliEnv(tmp_path, url)
    pic = tmp_path / "p.png"
    pic.write_bytes(PNG)
    done = env.run("-a", f"file://{pic}", "what is it")
    assert done.code == 0, done.err
    assert "is not known" in done.err
    assert last_user(replay, name)["content"][1]["image_url"]["url"] == PNG_URL


@pytest.mark.parametrize("content, why", [(b"just text\n", "not a png, jpeg, webp or gif"),
                                          (None, "no such file")])
def test_a_bad_attachment_is_exit_2_before_any_request(replay, tmp_path, content, why):
    name, url = replay.new_script([Reply.text("never")], prefix="img-bad")
    env = CliEnv(tmp_path, url)
    pic = tmp_path / "fake.png"
    if content is not None:
        pic.write_bytes(content)
    done = env.run("-a", str(pic), "what is it")
    assert done.code == 2 and why in done.err
    assert len(done.err.strip().splitlines()) == 1
    assert replay.requests(name) == []


@pytest.mark.parametrize("head, mime", [(PNG[:16], "image/png"), (b"\xff\xd8\xff\xe0\0\x10JFIF", "image/jpeg"),
                                        (b"GIF89a\x01\0\x01\0", "image/gif"),
                                        (b"RIFF\x24\0\0\0WEBPVP8 ", "image/webp"),
                                        (b"%PDF-1.7", None), (b"RIFF\x24\0\0\0WAVEfmt ", None)])
def test_images_are_known_by_their_first_bytes(head, mime):
    from loomex_cli.cli.attach import sniff_image
    assert sniff_image(head) == mime


# -- text files ----------------------------------------------------------------------------

def test_files_dirs_and_globs_as_labelled_blocks_with_the_walk_rules(replay, tmp_path):
    name, url = replay.new_script([Reply.text("ok")], prefix="files", repeat_last=True)
    env = CliEnv(tmp_path, url)
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "app.py").write_text("print('app')\n")
    (proj / "src" / "util.py").write_text("def u(): pass")  # no final newline
    (proj / ".gitignore").write_text("build/\n*.log\n")
    (proj / "build").mkdir()
    (proj / "build" / "out.txt").write_text("IGNORED-BUILD\n")
    (proj / "debug.log").write_text("IGNORED-LOG\n")
    (proj / "logo.png").write_bytes(PNG)
    (proj / "big.txt").write_text("B" * (1024 * 1024 + 10))
    (proj / "notes.md").write_text("# notes\n")
    (proj / "link.md").symlink_to(proj / "notes.md")
    done = env.run("-f", "src", "-f", "*.md", "-f", "src/app.py", "summarise", cwd=proj)
    assert done.code == 0, done.err
    text = last_user(replay, name)["content"]
    assert text == ("summarise\n\n"
                    '<file path="src/app.py">\nprint(\'app\')\n</file>\n\n'
                    '<file path="src/util.py">\ndef u(): pass\n</file>\n\n'
                    '<file path="notes.md">\n# notes\n</file>')  # each file once; no link
    done = env.run("-f", ".", "all of it", cwd=proj)
    assert done.code == 0, done.err
    text = last_user(replay, name)["content"]
    assert '<file path=".gitignore">' in text and '<file path="src/app.py">' in text
    assert "IGNORED" not in text and "BBBB" not in text and "PNG" not in text
    assert "skipped 1 binary file: logo.png" in done.err
    assert "skipped 1 file over 1,024 KiB: big.txt" in done.err


def test_file_errors_are_one_line_and_exit_2(replay, tmp_path):
    name, url = replay.new_script([Reply.text("never")], prefix="files-bad")
    env = CliEnv(tmp_path, url)
    (tmp_path / "pic.png").write_bytes(PNG)
    (tmp_path / "huge.txt").write_text("x" * (1024 * 1024 + 1))
    for args, why in ((["-f", "nope.txt"], "-f nope.txt: no such file"),
                      (["-f", "*.nothing"], "no files match"),
                      (["-f", "pic.png"], "binary file (an image: attach it with -a)"),
                      (["-f", "huge.txt"], "text files over 1 MiB are not sent")):
        done = env.run(*args, "go", cwd=tmp_path)
        assert done.code == 2 and why in done.err, (args, done.err)
        assert len(done.err.strip().splitlines()) == 1
    assert replay.requests(name) == []


def test_a_walk_skips_loomex_keys_and_credential_stores(replay, tmp_path):
    """keys.toml lives in the config directory under the walked one: left out, with a note.
    Named explicitly it is sent: -f is the user's own decision."""
    name, url = replay.new_script([Reply.text("ok")], prefix="files-keys", repeat_last=True)
    env = CliEnv(tmp_path, url)
    (env.config / "keys.toml").write_text('[keys]\nopenai = "sk-KEY-IN-KEYS-TOML"\n')
    (tmp_path / "readme.txt").write_text("visible\n")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE-KEY\n")
    done = env.run("-f", str(tmp_path), "look", cwd=tmp_path, HOME=str(home))
    assert done.code == 0, done.err
    text = last_user(replay, name)["content"]
    assert '<file path="readme.txt">\nvisible\n</file>' in text
    assert "sk-KEY-IN-KEYS-TOML" not in text and "PRIVATE-KEY" not in text
    assert "skipped config, home/.ssh: credentials or loomex's keys" in done.err
    done = env.run("-f", str(home / ".ssh" / "id_ed25519"), "look", cwd=tmp_path,
                   HOME=str(home))
    assert done.code == 0 and "PRIVATE-KEY" in last_user(replay, name)["content"]


def test_the_total_cap_stops_adding_with_a_note(tmp_path, monkeypatch, capsys):
    from loomex_cli.cli import attach
    monkeypatch.setattr(attach, "TOTAL", 25)
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text("0123456789\n")
    extra = attach.Extra()
    attach.add_files(extra, ".", str(tmp_path))
    assert extra.labels == ["f0.txt", "f1.txt"] and extra.full
    assert "stopped at f2.txt" in capsys.readouterr().err


# -- saved conversations -------------------------------------------------------------------

def test_continue_resends_the_image_and_the_store_keeps_it_once(replay, tmp_path, catalog):
    name, url = replay.new_script([Reply.text("a dot")], prefix="img-save", repeat_last=True)
    env = CliEnv(tmp_path)
    pic = tmp_path / "p.png"
    pic.write_bytes(PNG)
    v = vision(catalog, url)
    assert env.run("-m", "openai/gpt-4.1-mini", "-a", str(pic), "what is it", **v).code == 0
    done = env.run("-c", "and its colour?", **v)
    assert done.code == 0, done.err
    users = [m for m in replay.requests(name)[-1].body["messages"] if m["role"] == "user"]
    assert users[0]["content"][1] == {"type": "image_url", "image_url": {"url": PNG_URL}}
    assert users[1]["content"] == "and its colour?"
    assert env.run("-m", "openai/gpt-4.1-mini", "-a", str(pic), "again", **v).code == 0

    db = sqlite3.connect(env.data / "conversations.db")
    sha = hashlib.sha256(PNG).hexdigest()
    assert db.execute("SELECT sha256, mime, size FROM blobs").fetchall() == [(sha, "image/png", len(PNG))]
    stored = [r[0] for r in db.execute("SELECT message FROM messages WHERE role = 'user'")]
    assert all(PNG_URL[30:60] not in s for s in stored)  # no base64 in the message rows
    assert sum(f"sha256:{sha}" in s for s in stored) == 2

    shown = env.run("history", "show", "last")
    assert shown.code == 0
    assert f"[image: image/png, 70 B, sha256:{sha[:12]}…]" in shown.out
    assert PNG_URL[22:50] not in shown.out
    exported = json.loads(env.run("history", "export", "last", "--format", "json").out)
    assert exported["messages"][1]["content"][1]["image_url"]["url"] == PNG_URL

    ids = [r[0] for r in db.execute("SELECT id FROM conversations")]
    assert env.run("history", "rm", ids[0]).code == 0
    assert db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 1  # still used
    assert env.run("history", "rm", ids[1]).code == 0
    assert db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 0


def test_a_schema_1_database_gains_the_blob_tables(tmp_path):
    from loomex_cli.engine import store as st
    from loomex_cli.engine.messages import Message
    path = tmp_path / "c.db"
    db = sqlite3.connect(path)
    for stmt in st._SCHEMA.split(";"):
        if stmt.strip():
            db.execute(stmt)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with st.Store.open(path) as s:
        cid = s.create("m")
        part = {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "low"}}
        s.append(cid, [Message.user([{"type": "text", "text": "hi"}, part])])
        assert s.get(cid).messages[0].content[1] == part  # as it was sent
        bare = {"type": "image_url", "image_url": PNG_URL}  # the URL alone, as some send it
        s.append(cid, [Message.user([bare])])
        assert s.get(cid).messages[1].content == [bare]
        assert s._conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 1
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == st.SCHEMA_VERSION


def test_the_estimate_counts_an_image_not_its_base64():
    from loomex_cli.engine.compaction import estimate_message
    from loomex_cli.engine.images import IMAGE_TOKENS, image_part
    from loomex_cli.engine.messages import Message
    big = image_part("image/png", b"\x89PNG" + bytes(3_000_000))
    m = Message.user([{"type": "text", "text": "x" * 350}, big])
    assert estimate_message(m) == 100 + IMAGE_TOKENS + 4


# -- @path in the REPL ---------------------------------------------------------------------

def test_at_path_in_the_repl_with_completion(tmux, replay, tmp_path):
    from cli_support import Term, loomex_bin
    name, url = replay.new_script([Reply.text("seen both")], prefix="repl-at", repeat_last=True)
    env = CliEnv(tmp_path, url)
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("hello notes\n")
    (work / "pic.png").write_bytes(PNG)
    t = Term(tmux, env.env(), ["sh", "-c", f"cd '{work}' && exec '{loomex_bin()}' chat"])
    try:
        t.wait_prompt()
        t.type("read @no")
        t.wait_for("notes.txt")  # the completion menu offers it
        t.keys("Tab")
        t.wait_for("› read @notes.txt")
        t.type(" and @pic.png, then mail a@b.com")
        t.keys("Enter")
        t.wait_for("seen both")
        typed = "read @notes.txt and @pic.png, then mail a@b.com"
        assert last_user(replay, name)["content"] == [
            {"type": "text", "text": f'{typed}\n\n<file path="notes.txt">\nhello notes\n</file>'},
            {"type": "image_url", "image_url": {"url": PNG_URL}}]
        t.wait_prompt()
        t.type("what about @missing/file.txt")  # not a file: sent as typed, with a note
        t.keys("Enter")
        t.wait_for("seen both", after=1)
        assert last_user(replay, name)["content"] == "what about @missing/file.txt"
        assert "@missing/file.txt: no such file here" in t.screen()
        assert "EXITED=0" in t.leave_with_ctrl_d()
    finally:
        t.close()


def test_a_mention_of_a_credential_store_is_not_sent(tmp_path, monkeypatch, capsys):
    from loomex_cli.cli.mentions import expand
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE\n")
    (tmp_path / "ok.txt").write_text("fine\n")
    monkeypatch.setenv("HOME", str(home))
    extra = expand("see @ok.txt and @~/.ssh/id_ed25519 and @home", str(tmp_path))
    assert extra.labels == ["ok.txt"]
    assert "PRIVATE" not in "".join(extra.blocks)
    err = capsys.readouterr().err
    assert "@~/.ssh/id_ed25519: not added: it reads a credential store" in err
    assert "skipped home/.ssh" in err
    # a pasted @~ or @/ would send a whole tree from outside the working directory
    (tmp_path / "work").mkdir()
    extra = expand("see @~ and @/ and @/*", str(tmp_path / "work"))
    assert not extra and extra.labels == []
    err = capsys.readouterr().err
    assert err.count("walks a directory outside the working directory") == 3


def test_chat_files_go_with_the_first_message_and_a_refused_image_keeps_the_line(
        tmux, replay, tmp_path, catalog):
    """`chat -f`: sent with the first message that goes out. An @image for a text-only model
    sends nothing and puts the message back at the prompt."""
    from cli_support import Term, loomex_bin
    name, url = replay.new_script([Reply.text("fine")], prefix="repl-groq", repeat_last=True)
    env = CliEnv(tmp_path, extra_config='[providers.groq]\napi_key_env = "REPLAY_API_KEY"\n')
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("hello notes\n")
    (work / "pic.png").write_bytes(PNG)
    t = Term(tmux, env.env(LOOMEX_MODELS_URL=catalog.url, LOOMEX_GROQ_BASE_URL=url),
             ["sh", "-c", f"cd '{work}' && exec '{loomex_bin()}' chat "
                          "-m groq/llama-3.3-70b-versatile -f notes.txt"])
    try:
        t.wait_for("1 file (12 bytes) will go with your first message")
        t.wait_prompt()
        t.type("what is @pic.png")
        t.keys("Enter")
        t.wait_for("does not take images")
        t.wait_for("› what is @pic.png", after=1)  # back at the prompt, as typed
        assert replay.requests(name) == []
        t.keys("C-u")
        t.type("just text")
        t.keys("Enter")
        t.wait_for("fine")
        assert last_user(replay, name)["content"] == \
            'just text\n\n<file path="notes.txt">\nhello notes\n</file>'
        assert "EXITED=0" in t.leave_with_ctrl_d()
    finally:
        t.close()


def test_a_mentioned_image_has_the_image_cap_not_the_text_cap(tmp_path):
    from loomex_cli.cli import attach
    from loomex_cli.cli.mentions import expand
    (tmp_path / "big.png").write_bytes(PNG + bytes(2 * 1024 * 1024))  # over the text cap
    (tmp_path / "big.txt").write_bytes(b"x" * (2 * 1024 * 1024))
    extra = expand("see @big.png", str(tmp_path))
    assert len(extra.images) == 1 and extra.images[0]["image_url"]["url"].startswith("data:image/png;")
    with pytest.raises(attach.CliError, match="text files over 1 MiB"):
        expand("see @big.txt", str(tmp_path))
    with pytest.raises(attach.CliError, match="an image: attach it with -a"):
        attach.add_files(attach.Extra(), "big.png", str(tmp_path))


def test_files_come_before_piped_stdin_and_need_no_prompt(replay, tmp_path):
    name, url = replay.new_script([Reply.text("ok")], prefix="files-stdin", repeat_last=True)
    env = CliEnv(tmp_path, url)
    (tmp_path / "a.txt").write_text("AAA\n")
    done = env.run("-f", "a.txt", "compare", input="piped\n", cwd=tmp_path)
    assert done.code == 0, done.err
    assert last_user(replay, name)["content"] == \
        'compare\n\n<file path="a.txt">\nAAA\n</file>\n\n<stdin>\npiped\n</stdin>'
    done = env.run("-f", "a.txt", cwd=tmp_path)
    assert done.code == 0, done.err
    assert last_user(replay, name)["content"] == '<file path="a.txt">\nAAA\n</file>'
