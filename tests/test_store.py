"""engine/store.py on real SQLite files: lossless round trips, idempotent sync, several
processes writing at once, and a SIGKILL mid-run."""

from __future__ import annotations

from loomex_cli.cli.exits import code_for

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from loomex_cli.engine.messages import Message, ToolCall
from loomex_cli.engine.store import (SCHEMA_VERSION, Conversation, Store, StoreError,
                                     UnknownConversation, conversation_markdown, default_path)


def rich_conversation() -> list[Message]:
    """Every shape a message can take: tool calls, reasoning, extras, content parts, unicode."""
    return [
        Message.system("You are loomex."),
        Message.user("Fix the bug in café.py\nthen run the tests"),
        Message.assistant(
            "Let me look.",
            [ToolCall("call_1", "read_file", '{"path": "café.py"}'),
             ToolCall("call_2", "bash", '{"command":"pytest -q"}')],
            reasoning="The user wants a fix.\nFirst read the file."),
        Message.tool("call_1", "print('hé')\n```\nfence inside\n```", name="read_file"),
        Message("tool", "2 passed", tool_call_id="call_2"),
        Message("assistant", None, [ToolCall("call_3", "edit_file", "")],
                reasoning="", extra={"reasoning_details": [{"type": "reasoning.encrypted",
                                                            "data": "abc=", "n": 1.5}],
                                     "refusal": None}),
        Message("tool", "", tool_call_id="call_3", name="edit_file"),
        Message.user([{"type": "text", "text": "and this image"},
                      {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]),
        Message("assistant", "Done ✓ — all good.", name="loomex", extra={"x": {"nested": [1, 2]}}),
    ]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "conversations.db"


@pytest.fixture
def store(db: Path):
    s = Store.open(db)
    yield s
    s.close()


# -- round trip -------------------------------------------------------------------------
def test_round_trip_is_lossless(store: Store, db: Path) -> None:
    msgs = rich_conversation()
    cid = store.create("openrouter/x/y", "run", cwd="/tmp/proj")
    for m in msgs[:3]:
        store.append(cid, [m])
    store.append(cid, msgs[3:])

    conv = store.get(cid)
    assert isinstance(conv, Conversation)
    assert conv.messages == msgs
    assert [m.to_dict() for m in conv.messages] == [m.to_dict() for m in msgs]
    assert conv.message_count == len(msgs)
    assert conv.model == "openrouter/x/y" and conv.source == "run" and conv.cwd == "/tmp/proj"
    assert conv.title == "Fix the bug in café.py"

    # a second connection (another process would see the same) reads the same thing
    with Store.open(db) as other:
        assert other.get(cid).messages == msgs

    doc = json.loads(store.export_json(cid))
    assert doc["id"] == cid and doc["model"] == "openrouter/x/y"
    assert [Message.from_dict(d) for d in doc["messages"]] == msgs
    assert doc["messages"] == [m.to_dict() for m in msgs]

    md = store.export_markdown(cid)
    assert "## user" in md and "## assistant" in md and "**tool call** `bash`" in md
    assert "````\nprint('hé')" in md  # a longer fence around a result that holds one
    assert "The user wants a fix." in md
    assert md == conversation_markdown(conv)


def test_messages_table_rows(store: Store, db: Path) -> None:
    cid = store.create("m", "chat")
    store.append(cid, rich_conversation())
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT seq, role, message FROM messages WHERE conversation_id = ? "
                         "ORDER BY seq", (cid,)).fetchall()
    assert [r[0] for r in rows] == list(range(len(rich_conversation())))
    assert [r[1] for r in rows] == [m.role for m in rich_conversation()]
    assert json.loads(rows[2][2]) == rich_conversation()[2].to_dict()


def test_sync_is_idempotent(store: Store) -> None:
    msgs = rich_conversation()
    cid = store.create("m", "chat")
    assert store.sync(cid, msgs[:4]) == 4
    assert store.sync(cid, msgs[:4]) == 0
    assert store.sync(cid, msgs[:2]) == 0  # a shorter list writes nothing
    assert store.sync(cid, msgs) == len(msgs) - 4
    assert store.sync(cid, msgs) == 0
    store.append(cid, [Message.user("more")])
    assert store.sync(cid, [*msgs, Message.user("more")]) == 0
    assert store.get(cid).messages == [*msgs, Message.user("more")]
    assert store.sync(cid, []) == 0


def test_append_single_message_and_empty(store: Store) -> None:
    cid = store.create("m")
    assert store.append(cid, Message.user("one")) == 1
    assert store.append(cid, []) == 0
    assert store.get(cid).messages == [Message.user("one")]


def test_unknown_conversation_on_write_and_read(store: Store) -> None:
    with pytest.raises(UnknownConversation):
        store.append("nope", [Message.user("x")])
    with pytest.raises(UnknownConversation):
        store.sync("nope", [Message.user("x")])
    with pytest.raises(UnknownConversation):
        store.update("nope", model="m")
    with pytest.raises(UnknownConversation):
        store.get("nope")
    assert store.delete("nope") is False


def test_title_is_first_line_of_first_user_message(store: Store) -> None:
    cid = store.create("m")
    store.append(cid, [Message.system("sys")])
    assert store.meta(cid).title is None
    store.append(cid, [Message.user("\n\n   " + "word " * 40 + "\nsecond line")])
    title = store.meta(cid).title
    assert title is not None and title.startswith("word word") and len(title) <= 80
    assert title.endswith("…")
    store.append(cid, [Message.user("a later message")])
    assert store.meta(cid).title == title
    store.update(cid, title="renamed")
    assert store.meta(cid).title == "renamed"


def test_update_adds_usage_and_cost(store: Store) -> None:
    cid = store.create("a/b", "run")
    assert store.meta(cid).cost_usd is None and store.meta(cid).usage == {}
    store.update(cid, usage={"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12,
                             "completion_tokens_details": {"reasoning_tokens": 1}})
    assert store.meta(cid).cost_usd is None  # unknown stays unknown
    store.update(cid, usage={"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
                 cost_usd=0.25)
    store.update(cid, model="c/d", cost_usd=0.5)
    meta = store.meta(cid)
    assert meta.usage == {"prompt_tokens": 15, "completion_tokens": 3, "total_tokens": 18,
                          "completion_tokens_details": {"reasoning_tokens": 1}}
    assert meta.cost_usd == pytest.approx(0.75)
    assert meta.model == "c/d"


def test_list_last_query_and_order(store: Store) -> None:
    a = store.create("prov/alpha", "run", cwd="/home/me/proj")
    store.append(a, [Message.user("first conversation about 100% of cats")])
    b = store.create("prov/beta", "chat")
    store.append(b, [Message.user("second one"), Message.assistant("the word zebra is here")])
    c = store.create("prov/gamma", "web")
    assert [m.id for m in store.list()] == [c, b, a]
    assert store.last().id == c  # type: ignore[union-attr]
    store.append(a, [Message.assistant("later")])
    assert [m.id for m in store.list()] == [a, c, b]
    assert store.last().id == a  # type: ignore[union-attr]
    assert [m.id for m in store.list(limit=2)] == [a, c]
    assert [m.id for m in store.list(query="ZEBRA")] == [b]  # message text, any case
    assert [m.id for m in store.list(query="beta")] == [b]  # model
    assert [m.id for m in store.list(query="100%")] == [a]  # LIKE wildcards are literal
    assert store.list(query="0_") == []
    assert [m.id for m in store.list(query="me/proj")] == [a]  # cwd
    assert [m.id for m in store.list(query=c[:6])] == [c]
    metas = {m.id: m for m in store.list()}
    assert metas[b].message_count == 2 and metas[c].message_count == 0
    assert metas[c].source == "web" and metas[c].title is None


def test_last_on_empty_store(store: Store) -> None:
    assert store.last() is None
    assert store.list() == []


def test_resolve_prefixes(store: Store) -> None:
    ids = [store.create("m") for _ in range(17)]  # 17 ids, 16 first characters: a clash
    assert all(len(i) == 8 and int(i, 16) >= 0 for i in ids)
    for i in ids:
        assert store.resolve(i) == i
        assert store.resolve(i.upper()) == i
    by_first: dict[str, list[str]] = {}
    for i in ids:
        by_first.setdefault(i[0], []).append(i)
    clash = next(v for v in by_first.values() if len(v) > 1)
    with pytest.raises(UnknownConversation, match="ambiguous") as e:
        store.resolve(clash[0][0])
    assert code_for(e.value) == 2 and clash[0] in str(e.value)
    unique = next((v[0] for v in by_first.values() if len(v) == 1), None)
    if unique:
        assert store.resolve(unique[:1]) == unique
    with pytest.raises(UnknownConversation, match="no saved conversation") as e:
        store.resolve("zzzz")
    assert code_for(e.value) == 2
    with pytest.raises(UnknownConversation):
        store.resolve("")
    with pytest.raises(UnknownConversation):
        store.resolve("%")
    store.append(ids[3], [Message.user("x")])
    assert store.resolve("last") == ids[3]


def test_delete(store: Store, db: Path) -> None:
    a = store.create("m")
    b = store.create("m")
    store.append(a, rich_conversation())
    store.append(b, [Message.user("keep")])
    assert store.delete(a) is True
    assert store.delete(a) is False
    with pytest.raises(UnknownConversation):
        store.get(a)
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?",
                         (a,)).fetchone()[0] == 0
    assert store.get(b).messages == [Message.user("keep")]


# -- the file -----------------------------------------------------------------------------
def test_file_modes_pragmas_and_schema(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "deeper" / "conversations.db"
    with Store.open(db) as s:
        s.append(s.create("m"), [Message.user("hi")])
        assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert s._conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert db.stat().st_mode & 0o777 == 0o600
    assert db.parent.stat().st_mode & 0o777 == 0o700
    for side in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if side.exists():
            assert side.stat().st_mode & 0o077 == 0
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"conversations", "messages"} <= tables
        cols = {r[1] for r in c.execute("PRAGMA table_info(conversations)")}
        assert {"id", "created_at", "updated_at", "model", "title", "source", "usage",
                "cost_usd", "cwd"} <= cols


def test_loose_mode_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    Store.open(db).close()
    os.chmod(db, 0o644)
    Store.open(db).close()
    assert db.stat().st_mode & 0o777 == 0o600


def test_default_path_honours_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOMEX_DATA_DIR", str(tmp_path / "dd"))
    assert default_path() == tmp_path / "dd" / "conversations.db"
    assert not Store.exists()
    with pytest.raises(UnknownConversation):
        Store.open(create=False)
    assert not (tmp_path / "dd").exists()  # reading never creates anything
    with Store.open() as s:
        s.create("m")
    assert Store.exists() and (tmp_path / "dd" / "conversations.db").is_file()
    with Store.open(create=False) as s:
        assert len(s.list()) == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    Store.open(db).close()
    with sqlite3.connect(db) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer loomex"):
        Store.open(db)


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    db.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError):
        Store.open(db)


def test_store_is_not_imported_by_the_package() -> None:
    code = ("import sys, loomex_cli; from loomex_cli import Message; "
            "import loomex_cli.engine.store; "
            "print('sqlite3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == "False"


# -- several processes ----------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys, time
    from loomex_cli.engine.messages import Message
    from loomex_cli.engine.store import Store
    db, own, shared, n, go, wid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
    s = Store.open(db)
    import os
    while not os.path.exists(go):
        time.sleep(0.002)
    for i in range(n):
        s.append(own, [Message.user(f"{wid} own {i}")])
        s.append(shared, [Message.assistant(f"{wid} shared {i}")])
    s.close()
    print("done", wid)
""")


def test_concurrent_writers(tmp_path: Path) -> None:
    db = tmp_path / "conversations.db"
    n, workers = 200, 4
    with Store.open(db) as s:
        shared = s.create("m", "chat")
        own = [s.create("m", "run") for _ in range(workers)]
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), own[w], shared, str(n),
                               str(go), f"w{w}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for w in range(workers)]
    time.sleep(0.3)  # let them all open the database, then start them together
    go.touch()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.startswith("done")

    with Store.open(db) as s:
        for w in range(workers):
            assert [m.text for m in s.get(own[w]).messages] == [f"w{w} own {i}" for i in range(n)]
        texts = [m.text for m in s.get(shared).messages]
        assert len(texts) == workers * n
        for w in range(workers):  # each writer's messages are all there, in its order
            assert [t for t in texts if t.startswith(f"w{w} ")] == \
                [f"w{w} shared {i}" for i in range(n)]
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        seqs = [r[0] for r in c.execute("SELECT seq FROM messages WHERE conversation_id = ? "
                                        "ORDER BY seq", (shared,))]
        assert seqs == list(range(workers * n))
        assert c.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 2 * workers * n


OPENER = textwrap.dedent("""
    import os, sys, time
    from loomex_cli.engine.messages import Message
    from loomex_cli.engine.store import Store
    db, go = sys.argv[1], sys.argv[2]
    while not os.path.exists(go):
        time.sleep(0.001)
    with Store.open(db) as s:
        cid = s.create("m", "run")
        s.append(cid, [Message.user("hello")])
    print(cid)
""")


def test_concurrent_first_use(tmp_path: Path) -> None:
    """Several processes creating the database at the same moment: one schema, no errors."""
    db = tmp_path / "new" / "conversations.db"
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, str(db), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    time.sleep(0.3)
    go.touch()
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        ids.append(out.strip())
    with Store.open(db) as s:
        assert sorted(m.id for m in s.list()) == sorted(ids)
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


LOOPER = textwrap.dedent("""
    import sys
    from loomex_cli.engine.messages import Message, ToolCall
    from loomex_cli.engine.store import Store
    s = Store.open(sys.argv[1])
    cid = s.create("m", "run")
    print(cid, flush=True)
    i = 0
    while True:
        m = (Message.assistant(f"step {i}", [ToolCall(f"c{i}", "bash", '{"command":"ls"}')],
                               reasoning="r" * 50) if i % 2 else Message.user(f"step {i}"))
        s.append(cid, [m])
        print(i, flush=True)
        i += 1
""")


def test_sigkill_mid_run_keeps_everything_committed(tmp_path: Path) -> None:
    db = tmp_path / "conversations.db"
    p = subprocess.Popen([sys.executable, "-c", LOOPER, str(db)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        cid = p.stdout.readline().strip()  # type: ignore[union-attr]
        assert cid, p.stderr.read()  # type: ignore[union-attr]
        seen = 0
        for _ in range(150):
            line = p.stdout.readline()  # type: ignore[union-attr]
            assert line.strip() == str(seen)
            seen += 1
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL

    with Store.open(db) as s:
        msgs = s.get(cid).messages
    assert len(msgs) >= seen
    assert [m.text for m in msgs] == [f"step {i}" for i in range(len(msgs))]
    assert all(m.tool_calls and m.reasoning == "r" * 50 for m in msgs[1::2])
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_write_waits_for_a_held_lock(tmp_path: Path) -> None:
    """Another process holding the write lock for a moment delays a write; it does not fail
    with "database is locked"."""
    db = tmp_path / "conversations.db"
    with Store.open(db) as s:
        cid = s.create("m")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "time.sleep(1.0)\n"
         "c.execute('COMMIT')\n", str(db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"  # type: ignore[union-attr]
        t0 = time.monotonic()  # the holder commits 1 s after this at the earliest
        with Store.open(db) as s:
            s.append(cid, [Message.user("after the lock")])
            assert time.monotonic() - t0 > 0.5
            assert s.get(cid).messages == [Message.user("after the lock")]
    finally:
        holder.wait(timeout=30)


def test_create_retries_an_id_collision(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import loomex_cli.engine.store as mod
    draws = iter([b"\xaa\xbb\xcc\xdd", b"\xaa\xbb\xcc\xdd", b"\x01\x02\x03\x04"])
    monkeypatch.setattr(mod.os, "urandom", lambda n: next(draws))
    assert store.create("m") == "aabbccdd"
    assert store.create("m") == "01020304"
    assert len(store.list()) == 2


# -- Recorder -------------------------------------------------------------------------------
def test_recorder_saves_a_real_run_as_it_happens(replay, tmp_path: Path) -> None:
    from helpers import make_agent, run_async
    from replay_server import Reply

    from loomex_cli import arun, tool
    from loomex_cli.engine.events import MessageAdded
    from loomex_cli.engine.recorder import Recorder

    db = tmp_path / "conversations.db"
    seen_during_run: list[int] = []

    @tool
    def add(a: int, b: int) -> int:
        """Adds two integers.

        Args:
            a: the first
            b: the second
        """
        with Store.open(db) as s:  # another connection sees what was saved so far
            seen_during_run.append(s.meta(s.resolve("last")).message_count)
        return a + b

    _, url = replay.new_script([
        Reply.tool_calls([("call_1", "add", {"a": 2, "b": 3})],
                         usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}),
        Reply.text("It is ", "5.", usage={"prompt_tokens": 20, "completion_tokens": 2,
                                          "total_tokens": 22}),
    ], prefix="store-recorder")
    agent = make_agent(url, tools=[add], system_prompt="Be brief.")
    rec = Recorder("test/m", "run", cwd=str(tmp_path), path=db)
    assert not db.exists()  # nothing is written before the first message
    start = [Message.system("Be brief."), Message.user("What is 2+3?")]
    rec.add(start)
    res = run_async(lambda: arun(agent, list(start), sink=[rec]))
    rec.update(usage=res.usage, cost_usd=res.cost_usd)
    rec.close()
    assert rec.error is None and rec.conv_id
    assert seen_during_run == [3]  # system, user, the assistant's tool call: already saved

    with Store.open(db) as s:
        conv = s.get(rec.conv_id)
    assert conv.messages == res.messages
    assert conv.usage == {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37}
    assert conv.title == "What is 2+3?" and conv.model == "test/m" and conv.source == "run"

    # events that are not messages are ignored; a MessageAdded is appended
    rec2 = Recorder("m", "chat", path=db)
    rec2(object())
    assert rec2.conv_id is None
    rec2(MessageAdded(Message.user("hello")))
    assert rec2.conv_id is not None
    rec2.new()
    assert rec2.conv_id is None
    rec2.close()


def test_recorder_resume_new_and_model(tmp_path: Path) -> None:
    from loomex_cli.engine.recorder import Recorder
    db = tmp_path / "c.db"
    rec = Recorder("a/b", "chat", path=db)
    rec.update(model="c/d")  # before anything is saved: remembered
    rec.add([Message.user("one"), Message.assistant("1")])
    first = rec.conv_id
    rec.new()
    rec.add(Message.user("two"))
    second = rec.conv_id
    assert second != first
    rec.resume(first)  # type: ignore[arg-type]
    rec.add(Message.user("one more"))
    rec.update(model="e/f", usage={"prompt_tokens": 1})
    rec.close()
    with Store.open(db) as s:
        a, b = s.get(first), s.get(second)  # type: ignore[arg-type]
    assert [m.text for m in a.messages] == ["one", "1", "one more"]
    assert a.model == "e/f" and a.usage == {"prompt_tokens": 1}
    assert [m.text for m in b.messages] == ["two"] and b.model == "c/d"


def test_recorder_never_raises(tmp_path: Path) -> None:
    from loomex_cli.engine.recorder import Recorder
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    errors: list[Exception] = []
    rec = Recorder("m", "run", path=blocker / "sub" / "c.db", on_error=errors.append)
    rec.add(Message.user("hi"))
    rec.add(Message.user("again"))
    rec.update(usage={"prompt_tokens": 1})
    rec.close()
    assert len(errors) == 1 and rec.error is errors[0] and not rec.active
    assert isinstance(rec.error, StoreError)

    db = tmp_path / "c.db"
    with Store.open(db) as s:
        rec = Recorder("m", "run", store=s, on_error=errors.append)
        rec.resume("deadbeef")  # not saved: the append fails, reported once
        rec.add(Message.user("x"))
        assert isinstance(rec.error, UnknownConversation) and len(errors) == 2
