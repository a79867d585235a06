"""Saved conversations in SQLite, so a crash or Ctrl-C never loses what happened.

One file, ``data_dir() / "conversations.db"`` (mode 0600, its directory 0700), in WAL mode
with ``synchronous=NORMAL`` and a busy timeout: several loomex processes may read and write it
at once. Every write is one short ``BEGIN IMMEDIATE`` transaction, so appending a message as
soon as it exists costs one small commit, and whatever was committed survives a SIGKILL.

    store = Store.open()
    cid = store.create("openrouter/x/y", "run", cwd=os.getcwd())
    store.append(cid, [Message.user("hi")])       # as soon as a message exists
    store.sync(cid, result.messages)                # or: whatever of the list is not stored yet
    seq = store.put(cid, partial)                   # an answer while it streams, then
    store.put(cid, final, seq)                      # replaced by the finished one
    store.update(cid, usage=result.usage)           # usage / cost are added to the totals

No terminal code here; ``sqlite3`` is imported only when a store is opened.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..errors import StoreError, UnknownConversation  # noqa: F401  (re-exported)
from .conversation import (TITLE_MAX, Conversation, ConversationMeta,  # noqa: F401
                           conversation_json, conversation_markdown, now_iso, parse_time,
                           title_of)
from . import store_blobs
from .messages import Message

if TYPE_CHECKING:  # pragma: no cover
    import sqlite3

DB_NAME = "conversations.db"
#: ``PRAGMA user_version`` of the schema this code writes
SCHEMA_VERSION = 2  # 2: images stored once by hash (store_blobs)
#: seconds a writer waits for another process's transaction before giving up
BUSY_TIMEOUT_S = 5.0
SOURCES = ("run", "chat", "web")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id          TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    model       TEXT,
    title       TEXT,
    source      TEXT NOT NULL DEFAULT 'run',
    usage       TEXT NOT NULL DEFAULT '{}',
    cost_usd    REAL,
    cwd         TEXT
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated_at);
CREATE TABLE IF NOT EXISTS messages (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    role            TEXT NOT NULL,
    message         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    UNIQUE (conversation_id, seq)
);
"""


@contextlib.contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    import sqlite3
    try:
        yield
    except sqlite3.Error as e:
        raise StoreError(f"{path}: {e}") from e


def default_path() -> Path:
    from ..wire.config import data_dir
    return data_dir() / DB_NAME


_META_COLUMNS = ("c.id, c.created_at, c.updated_at, c.model, c.title, c.source, c.usage, "
                 "c.cost_usd, c.cwd, "
                 "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)")


def _meta(row: Any, cls: type = ConversationMeta) -> Any:
    try:
        usage = json.loads(row[6]) if row[6] else {}
    except ValueError:
        usage = {}
    return cls(id=row[0], created_at=row[1], updated_at=row[2], model=row[3], title=row[4],
               source=row[5], usage=usage if isinstance(usage, dict) else {},
               cost_usd=row[7], cwd=row[8], message_count=row[9] or 0)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _is_busy(e: BaseException) -> bool:
    text = str(e).lower()
    return "locked" in text or "busy" in text


def _retry_busy(fn: Any, timeout: float = BUSY_TIMEOUT_S) -> Any:
    """``fn()``, retried with short random sleeps while SQLite says busy/locked, until
    ``timeout`` seconds have passed."""
    import random
    import sqlite3
    import time
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if not _is_busy(e) or time.monotonic() >= deadline:
                raise
            time.sleep(random.uniform(0.005, 0.03))


def _set_wal(conn: "sqlite3.Connection") -> None:
    if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


class Store:
    """One connection to the conversations database. Cheap to open; close it (or use it as a
    context manager) when done. Safe to share between threads of one process."""

    def __init__(self, conn: "sqlite3.Connection", path: Path) -> None:
        import threading
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def exists(cls, path: str | os.PathLike[str] | None = None) -> bool:
        """Whether a database file is there (reading commands check this first, so they never
        create an empty database as a side effect)."""
        return Path(path if path is not None else default_path()).is_file()

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> "Store":
        """Opens (and on first use creates) the database. ``create=False`` raises
        :class:`StoreError` instead of creating a missing file."""
        import sqlite3
        p = Path(path if path is not None else default_path()).expanduser()
        if not p.is_file():
            if not create:
                raise UnknownConversation(f"no saved conversations ({p} does not exist)")
            try:
                p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                # an empty file is a valid empty database; SQLite gives -wal/-shm its mode
                os.close(os.open(p, os.O_CREAT | os.O_RDWR | getattr(os, "O_CLOEXEC", 0), 0o600))
            except OSError as e:
                raise StoreError(f"cannot create {p}: {e.strerror or e}") from None
        try:
            mode = p.stat().st_mode & 0o777
            if mode & 0o077 and p.stat().st_uid == os.getuid():
                os.chmod(p, 0o600)
        except (OSError, AttributeError):
            pass
        try:
            conn = sqlite3.connect(str(p), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open {p}: {e}") from None
        store = cls(conn, p)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # switching to WAL (first use) can meet SQLITE_BUSY without the busy handler
            # being called, e.g. while another process is doing the same: retry it
            _retry_busy(lambda: _set_wal(conn))
            _retry_busy(store._migrate)
        except sqlite3.Error as e:
            conn.close()
            raise StoreError(f"cannot use {p}: {e}") from None
        except BaseException:
            conn.close()
            raise
        return store

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer loomex (schema {version}; "
                             f"this one knows {SCHEMA_VERSION})")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            c = self._conn
            version = c.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            for schema in (_SCHEMA, store_blobs.SCHEMA)[version:]:
                for stmt in schema.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
            c.execute(f"PRAGMA user_version = {max(version, SCHEMA_VERSION)}")
            c.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------------
    class _Tx:
        def __init__(self, store: "Store") -> None:
            self.store = store

        def __enter__(self) -> "sqlite3.Connection":
            self.store._lock.acquire()
            try:
                with _sqlite_errors(self.store.path):
                    _retry_busy(lambda: self.store._conn.execute("BEGIN IMMEDIATE"))
            except BaseException:
                self.store._lock.release()
                raise
            return self.store._conn

        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
            import sqlite3
            conn = self.store._conn
            try:
                failed_commit = False
                if exc_type is None:
                    try:
                        conn.execute("COMMIT")
                        return
                    except sqlite3.Error as e:  # nothing half-written stays pending
                        exc, failed_commit = e, True
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if failed_commit or (isinstance(exc, sqlite3.Error)
                                     and not isinstance(exc, sqlite3.IntegrityError)):
                    raise StoreError(f"{self.store.path}: {exc}") from exc
            finally:
                self.store._lock.release()

    def _write(self) -> "Store._Tx":
        """One write transaction that takes the write lock up front (no upgrade deadlocks)."""
        return Store._Tx(self)

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        with self._lock, _sqlite_errors(self.path):
            return self._conn.execute(sql, tuple(args)).fetchall()

    # -- writing --------------------------------------------------------------------------
    def create(self, model: str | None, source: str = "run", cwd: str | None = None) -> str:
        """A new, empty conversation; returns its id (8 hex characters)."""
        import sqlite3
        now = now_iso()
        for _ in range(20):
            cid = os.urandom(4).hex()
            try:
                with self._write() as c:
                    c.execute("INSERT INTO conversations (id, created_at, updated_at, model, "
                              "source, cwd) VALUES (?, ?, ?, ?, ?, ?)",
                              (cid, now, now, model, source, cwd))
                return cid
            except sqlite3.IntegrityError:
                continue
        raise StoreError("could not pick a free conversation id")  # pragma: no cover

    def append(self, conv_id: str, messages: Message | Iterable[Message]) -> int:
        """Appends messages after the stored ones, in one transaction. Returns how many."""
        if isinstance(messages, Message):
            messages = [messages]
        messages = list(messages)
        if not messages:
            return 0
        with self._write() as c:
            self._check(c, conv_id)
            self._insert(c, conv_id, self._count(c, conv_id), messages)
        return len(messages)

    def sync(self, conv_id: str, messages: list[Message]) -> int:
        """Writes whatever of ``messages`` is not stored yet, by count: with n stored, writes
        ``messages[n:]``. Idempotent; returns how many were written. The list must extend what
        is stored (after a rewrite of history, such as a new system prompt, start a new
        conversation instead)."""
        with self._write() as c:
            self._check(c, conv_id)
            n = self._count(c, conv_id)
            new = list(messages[n:])
            if new:
                self._insert(c, conv_id, n, new)
        return len(new)

    def put(self, conv_id: str, message: Message, seq: int | None = None) -> int:
        """Writes ``message`` over the stored one at ``seq`` (None: after the stored ones) and
        returns its seq: how an answer is saved while it streams, then replaced when done."""
        with self._write() as c:
            self._check(c, conv_id)
            if seq is None:
                seq = self._count(c, conv_id)
                self._insert(c, conv_id, seq, [message])
            elif c.execute("UPDATE messages SET role = ?, message = ? WHERE conversation_id = ? "
                           "AND seq = ?", (message.role, _dumps(store_blobs.dump(
                               c, conv_id, message)), conv_id, seq)).rowcount == 0:
                self._insert(c, conv_id, seq, [message])
        return seq

    def rewrite_from(self, conv_id: str, start: int, messages: list[Message]) -> None:
        """Replaces the stored messages from position ``start`` on with ``messages`` (a
        history made valid again, see ``engine.repair``); one transaction."""
        with self._write() as c:
            self._check(c, conv_id)
            seqs = [r[0] for r in c.execute("SELECT seq FROM messages WHERE conversation_id = ? "
                                            "ORDER BY seq", (conv_id,))]
            first = seqs[start] if start < len(seqs) else (seqs[-1] + 1 if seqs else 0)
            c.execute("DELETE FROM messages WHERE conversation_id = ? AND seq >= ?",
                      (conv_id, first))
            if messages:
                self._insert(c, conv_id, first, messages)

    def update(self, conv_id: str, model: str | None = None,
               usage: dict[str, Any] | None = None, cost_usd: float | None = None, *,
               title: str | None = None) -> None:
        """``model`` and ``title`` are set; ``usage`` (token counters, e.g. a run's
        ``RunResult.usage``) and ``cost_usd`` are ADDED to the stored totals. None leaves a
        field as it is (an unknown cost stays NULL)."""
        from .result import add_usage
        with self._write() as c:
            row = c.execute("SELECT usage, cost_usd FROM conversations WHERE id = ?",
                            (conv_id,)).fetchone()
            if row is None:
                raise UnknownConversation(f"no saved conversation {conv_id!r}")
            sets, args = ["updated_at = ?"], [now_iso()]
            if model is not None:
                sets.append("model = ?")
                args.append(model)
            if title is not None:
                sets.append("title = ?")
                args.append(title)
            if usage:
                try:
                    total = json.loads(row[0]) if row[0] else {}
                except ValueError:
                    total = {}
                add_usage(total, usage)
                sets.append("usage = ?")
                args.append(_dumps(total))
            if cost_usd is not None:
                sets.append("cost_usd = ?")
                args.append((row[1] or 0.0) + float(cost_usd))
            c.execute(f"UPDATE conversations SET {', '.join(sets)} WHERE id = ?", (*args, conv_id))

    def delete(self, conv_id: str) -> bool:
        """Removes a conversation and its messages; False when there was none."""
        with self._write() as c:
            c.execute("DELETE FROM messages WHERE conversation_id = ?", (conv_id,))
            found = c.execute("DELETE FROM conversations WHERE id = ?", (conv_id,)).rowcount
            store_blobs.forget(c, conv_id)  # and the images no other conversation uses
            return found > 0

    @staticmethod
    def _check(c: "sqlite3.Connection", conv_id: str) -> None:
        if c.execute("SELECT 1 FROM conversations WHERE id = ?", (conv_id,)).fetchone() is None:
            raise UnknownConversation(f"no saved conversation {conv_id!r}")

    @staticmethod
    def _count(c: "sqlite3.Connection", conv_id: str) -> int:
        row = c.execute("SELECT MAX(seq) FROM messages WHERE conversation_id = ?",
                        (conv_id,)).fetchone()
        return 0 if row[0] is None else row[0] + 1

    @staticmethod
    def _insert(c: "sqlite3.Connection", conv_id: str, start: int,
                messages: list[Message]) -> None:
        now = now_iso()
        c.executemany(
            "INSERT INTO messages (conversation_id, seq, role, message, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(conv_id, start + i, m.role, _dumps(store_blobs.dump(c, conv_id, m)), now)
             for i, m in enumerate(messages)])
        title = next((t for m in messages if m.role == "user" and (t := title_of(m))), None)
        if title is not None:
            c.execute("UPDATE conversations SET updated_at = ?, "
                      "title = COALESCE(title, ?) WHERE id = ?", (now, title, conv_id))
        else:
            c.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conv_id))

    # -- reading --------------------------------------------------------------------------
    def get(self, conv_id: str) -> Conversation:
        """The conversation with every message; :class:`StoreError` when there is none."""
        with self._lock, _sqlite_errors(self.path):  # one read transaction: a consistent view
            c = self._conn
            c.execute("BEGIN")
            try:
                row = c.execute(f"SELECT {_META_COLUMNS} FROM conversations c WHERE c.id = ?",
                                (conv_id,)).fetchone()
                rows = c.execute("SELECT message FROM messages WHERE conversation_id = ? "
                                 "ORDER BY seq", (conv_id,)).fetchall() if row else []
                messages = store_blobs.load(c, rows)
            finally:
                c.execute("COMMIT")
        if row is None:
            raise UnknownConversation(f"no saved conversation {conv_id!r}")
        conv = _meta(row, Conversation)
        conv.messages = messages
        conv.message_count = len(conv.messages)
        return conv

    def meta(self, conv_id: str) -> ConversationMeta:
        """The meta fields alone (with ``message_count``); :class:`UnknownConversation`."""
        rows = self._read(f"SELECT {_META_COLUMNS} FROM conversations c WHERE c.id = ?",
                          (conv_id,))
        if not rows:
            raise UnknownConversation(f"no saved conversation {conv_id!r}")
        return _meta(rows[0])

    def last(self) -> Conversation | None:
        """The most recently updated conversation, or None."""
        row = self._read("SELECT id FROM conversations ORDER BY updated_at DESC, rowid DESC "
                         "LIMIT 1")
        return self.get(row[0][0]) if row else None

    def list(self, limit: int | None = 50, query: str | None = None) -> list[ConversationMeta]:
        """Newest first. ``query`` (case-insensitive substring) matches the id, title, model,
        working directory or any message's text."""
        sql = f"SELECT {_META_COLUMNS} FROM conversations c"
        args: list[Any] = []
        if query:
            like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            sql += (" WHERE c.id LIKE ?1 ESCAPE '\\' OR c.title LIKE ?1 ESCAPE '\\'"
                    " OR c.model LIKE ?1 ESCAPE '\\' OR c.cwd LIKE ?1 ESCAPE '\\'"
                    " OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id"
                    " AND m.message LIKE ?1 ESCAPE '\\')")
            args.append(like)
        sql += " ORDER BY c.updated_at DESC, c.rowid DESC"
        if limit is not None and limit >= 0:
            sql += f" LIMIT {int(limit)}"
        return [_meta(r) for r in self._read(sql, args)]

    def resolve(self, prefix: str) -> str:
        """The full id for a unique prefix of one (or ``last``: the most recent). Unknown or
        ambiguous → :class:`StoreError` with a message fit to show."""
        p = prefix.strip().lower()
        if not p:
            raise UnknownConversation("give a conversation id (loomex history lists them)")
        if p == "last":
            row = self._read("SELECT id FROM conversations ORDER BY updated_at DESC, rowid DESC "
                             "LIMIT 1")
            if not row:
                raise UnknownConversation("no saved conversations")
            return row[0][0]
        if self._read("SELECT 1 FROM conversations WHERE id = ?", (p,)):
            return p
        like = p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._read("SELECT id FROM conversations WHERE id LIKE ? ESCAPE '\\' "
                          "ORDER BY updated_at DESC LIMIT 6", (like,))
        if not rows:
            raise UnknownConversation(f"no saved conversation {prefix!r} (loomex history lists them)")
        if len(rows) > 1:
            shown = ", ".join(r[0] for r in rows[:5]) + (", …" if len(rows) > 5 else "")
            raise UnknownConversation(f"{prefix!r} is ambiguous: it matches {shown}; type more of the id")
        return rows[0][0]

    # -- exporting ------------------------------------------------------------------------
    def export_json(self, conv_id: str) -> str:
        return conversation_json(self.get(conv_id))

    def export_markdown(self, conv_id: str) -> str:
        return conversation_markdown(self.get(conv_id))
