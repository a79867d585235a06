"""Saving conversations from the CLI (engine/store.py does the storing)."""

from __future__ import annotations

import os
from typing import Any

from .exits import USAGE, fail, say


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
    """The conversation ``-c`` (the last one) or ``--resume ID`` asks for, else None."""
    resume = getattr(opts, "resume", None)
    if not getattr(opts, "cont", False) and not resume:
        return None
    from ..engine.store import Store, UnknownConversation
    if not Store.exists():
        fail("there is no saved conversation to continue", USAGE)
    try:
        with Store.open(create=False) as store:
            conv = store.get(store.resolve(resume)) if resume else store.last()
    except UnknownConversation as e:
        fail(str(e), USAGE)
    if conv is None:
        fail("there is no saved conversation to continue", USAGE)
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
