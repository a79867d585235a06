"""Saving conversations from the CLI (engine/store.py does the storing)."""

from __future__ import annotations

import os
from typing import Any

from .exits import INTERNAL, USAGE, fail, say


def wants_saving(opts: Any, config: dict[str, Any]) -> bool:
    return not getattr(opts, "no_save", False) and config.get("save", True) is not False


def recorder(model: str, source: str, opts: Any, config: dict[str, Any]) -> Any:
    """A Recorder that saves as messages happen, or None under --no-save / ``save = false``.
    A store that cannot be written is said once on stderr and never stops the run."""
    if not wants_saving(opts, config):
        return None
    from ..engine.recorder import Recorder
    return Recorder(model, source, os.getcwd(),
                    on_error=lambda e: say(f"this conversation is not being saved: {e}"))


def previous(opts: Any) -> Any:
    """The conversation ``-c`` (the last one) or ``--resume ID`` asks for, else None.

    Its writer lock is taken first (while another loomex is answering in it, this waits with a
    note) and held until this process ends, so turns never interleave; then it is read, and
    made valid for the next request if its writer died mid-turn (``engine.repair``: a result
    for every tool call, a half-streamed answer marked interrupted), on disk too."""
    resume = getattr(opts, "resume", None)
    if not getattr(opts, "cont", False) and not resume:
        return None
    from ..engine import conversation_lock
    from ..engine.repair import complete_history, first_change
    from ..engine.store import Store, UnknownConversation
    if not Store.exists():
        fail("there is no saved conversation to continue", USAGE)
    try:
        with Store.open(create=False) as store:
            conv_id = store.resolve(resume) if resume else store.resolve("last")
            conversation_lock.hold(store.path.parent, conv_id, on_wait=lambda pid: say(
                f"conversation {conv_id} is in use by another loomex"
                + (f" (pid {pid})" if pid else "") + "; waiting for its turn to end"))
            conv = store.get(conv_id)
            fixed = complete_history(conv.messages)
            start = first_change(conv.messages, fixed)
            if start is not None:
                store.rewrite_from(conv_id, start, fixed[start:])
                conv.messages = fixed
                conv.message_count = len(fixed)
    except UnknownConversation as e:
        if not resume:
            fail("there is no saved conversation to continue", USAGE)
        fail(str(e), USAGE)
    except OSError as e:
        fail(f"cannot lock the conversation: {e.strerror or e}", INTERNAL)
    return conv


def drop_unanswered(messages: list[Any], *, saved: bool = False) -> list[Any]:
    """The history to send next: a user message that got no answer (its turn failed, or was
    interrupted before any reply) is left out, so the next request never has two user
    messages in a row. In a live conversation that is the last message; in a ``saved`` one
    (``-c``, ``--resume``) it is also any user message followed by another user message
    (compaction's summary note is never saved, so it cannot be mistaken for one). The
    saved conversation keeps them all (it is what happened); /retry in the REPL sends the
    last one again."""
    out = []
    for i, m in enumerate(messages):
        nxt = messages[i + 1] if i + 1 < len(messages) else None
        if m.role == "user" and (nxt is None or (saved and nxt.role == "user")):
            continue
        out.append(m)
    return out
