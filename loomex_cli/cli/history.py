"""``loomex history``: list, show, export and remove saved conversations.

Reading never creates the database: with no ``conversations.db`` there is simply nothing saved.
An unknown or ambiguous id is one line on stderr and exit code 2.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

from ..engine.store import Conversation, ConversationMeta, Store, UnknownConversation, parse_time
from .exits import USAGE, fail

FORMATS = ("md", "json")
#: lines of a tool result (and of reasoning / a system prompt) that ``show`` prints
RESULT_LINES = 8


def _open(conv_id: str | None = None) -> Store | None:
    """The store if the database exists; None (or, when an id was asked for, exit 2)."""
    if not Store.exists():
        if conv_id is not None:
            fail(f"no saved conversation {conv_id!r} (nothing has been saved yet)", USAGE)
        return None
    return Store.open(create=False)


@contextlib.contextmanager
def _stdout_pipe() -> Iterator[None]:
    """``loomex history | head``: a closed pipe ends the output quietly."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        from .pipes import BROKEN_PIPE, silence_stdout
        silence_stdout()
        raise SystemExit(BROKEN_PIPE) from None


def _color() -> bool:
    try:
        return sys.stdout.isatty() and not os.environ.get("NO_COLOR") \
            and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


class _Style:
    def __init__(self, on: bool) -> None:
        self.on = on

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.on else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def cyan(self, text: str) -> str:
        return self._wrap("36", text)

    def yellow(self, text: str) -> str:
        return self._wrap("33", text)


def _width() -> int:
    if sys.stdout.isatty():
        return max(40, shutil.get_terminal_size((100, 24)).columns)
    return 160


def _clip(text: str, width: int) -> str:
    from .sanitize import clean
    text = " ".join(clean(text).split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def short_time(stamp: str, now: Any = None) -> str:
    """Local time, short: ``14:03`` today, ``Jun 03 14:03`` this year, else ``2024-06-03``."""
    from datetime import datetime
    try:
        t = parse_time(stamp).astimezone()
    except ValueError:
        return stamp[:16]
    now = now or datetime.now().astimezone()
    if t.date() == now.date():
        return t.strftime("%H:%M")
    if t.year == now.year:
        return t.strftime("%b %d %H:%M")
    return t.strftime("%Y-%m-%d")


def long_time(stamp: str) -> str:
    try:
        return parse_time(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


# -- list -------------------------------------------------------------------------------
def list_conversations(limit: int = 50, query: str | None = None) -> None:
    if limit is not None and limit < 1:
        fail("--limit must be at least 1", USAGE)
    store = _open()
    if store is None:
        print("no saved conversations")
        return
    with store:
        rows = store.list(limit=limit, query=query or None)
    if not rows:
        print(f"no saved conversations match {query!r}" if query else "no saved conversations")
        return
    style = _Style(_color())
    width = _width()
    model_w = min(max(16, width // 3), max(len(r.model or "?") for r in rows))
    time_w = max(len(short_time(r.updated_at)) for r in rows)
    with _stdout_pipe():
        for r in rows:
            title = r.title or "(no user message)"
            fixed = len(r.id) + 2 + time_w + 2 + model_w + 2
            line = (f"{style.cyan(r.id)}  {style.dim(short_time(r.updated_at).ljust(time_w))}  "
                    f"{_clip(r.model or '?', model_w).ljust(model_w)}  "
                    f"{_clip(title, max(10, width - fixed))}")
            print(line)


# -- show -------------------------------------------------------------------------------
def _get(prefix: str) -> Conversation:
    store = _open(prefix)
    assert store is not None
    with store:
        return store.get(store.resolve(prefix))


def show_conversation(prefix: str) -> None:
    conv = _get(prefix)
    with _stdout_pipe():
        sys.stdout.write(render_conversation(conv, _Style(_color()), _width()))


def _header(conv: ConversationMeta) -> list[str]:
    first = [conv.id, conv.model or "unknown model", long_time(conv.created_at), conv.source]
    if conv.cwd:
        first.append(conv.cwd)
    second = [f"{conv.message_count} message{'s' if conv.message_count != 1 else ''}"]
    u = conv.usage
    if u:
        second.append(f"{u.get('prompt_tokens', 0):,} in / {u.get('completion_tokens', 0):,} "
                      "out tokens")
    if conv.cost_usd is not None:
        second.append(f"${conv.cost_usd:.4f}")
    return [" · ".join(first), " · ".join(second)]


def _clip_block(text: str, n: int, width: int, indent: str = "") -> list[str]:
    from .sanitize import clean
    lines = clean(text).rstrip("\n").splitlines() or [""]
    w = max(10, width - len(indent))
    out = [indent + (ln if len(ln) <= w else ln[: w - 1] + "…") for ln in lines[:n]]
    if len(lines) > n:
        more = len(lines) - n
        out.append(f"{indent}… ({more} more line{'s' if more != 1 else ''})")
    return out


def render_conversation(conv: Conversation, style: _Style | None = None, width: int = 100) -> str:
    """The conversation as terminal text: role headers, one line per tool call, tool results
    and reasoning clipped. Everything saved is cleaned of escape sequences and control
    characters (``history export`` keeps the exact text)."""
    from .render import short_args
    from .sanitize import clean
    style = style or _Style(False)
    out = [style.bold(clean(conv.title or "(no user message)"))]
    out += [style.dim(clean(line)) for line in _header(conv)]
    names = {tc.id: tc.name for m in conv.messages for tc in (m.tool_calls or ())}
    for m in conv.messages:
        if m.role == "tool":
            name = clean(m.name or names.get(m.tool_call_id or "", "") or "tool")
            out.append(style.dim(f"  ← {name} result:"))
            out += [style.dim(ln) for ln in _clip_block(m.text, RESULT_LINES, width, "    ")]
            continue
        out.append("")
        out.append(style.bold(f"── {m.role} ──"))
        if m.reasoning:
            out.append(style.dim("reasoning:"))
            out += [style.dim(ln) for ln in _clip_block(m.reasoning, RESULT_LINES, width, "  ")]
        if m.role == "system":
            out += [style.dim(ln) for ln in _clip_block(m.text, 3, width)]
        else:
            text = m.text
            if isinstance(m.content, list):  # images as placeholders, never their base64
                from ..engine.images import describe, part_url
                others = [describe(p) if part_url(p) is not None else f"[{p.get('type', 'part')}]"
                          for p in m.content if isinstance(p, dict) and p.get("type") != "text"]
                if others:
                    text = (text + "\n" if text else "") + " ".join(others)
            if text:
                out.append(clean(text).rstrip("\n"))
        for tc in m.tool_calls or ():
            out.append(style.yellow(f"  → {clean(tc.name)}") + " "
                       + short_args(tc.name, tc.arguments, max(20, width - len(tc.name) - 6)))
    return "\n".join(out) + "\n"


# -- export / rm --------------------------------------------------------------------------
def export_conversation(prefix: str, fmt: str = "md", output: str | None = None) -> None:
    fmt = (fmt or "md").lower()
    if fmt == "markdown":
        fmt = "md"
    if fmt not in FORMATS:
        fail(f"--format must be md or json, not {fmt!r}", USAGE)
    store = _open(prefix)
    assert store is not None
    with store:
        cid = store.resolve(prefix)
        text = store.export_json(cid) if fmt == "json" else store.export_markdown(cid)
    if output and output != "-":
        path = Path(output).expanduser()
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as e:
            fail(f"cannot write {path}: {e.strerror}", USAGE)
        print(f"wrote {cid} to {path}", file=sys.stderr)
        return
    with _stdout_pipe():
        sys.stdout.write(text)


def remove_conversation(prefix: str) -> None:
    store = _open(prefix)
    assert store is not None
    with store:
        cid = store.resolve(prefix)
        meta = store.meta(cid)
        if not store.delete(cid):
            raise UnknownConversation(f"no saved conversation {prefix!r}")
    title = f" ({_clip(meta.title, 60)})" if meta.title else ""
    print(f"removed {cid}{title}")
