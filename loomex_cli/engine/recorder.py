"""Saving one conversation as it happens, for a face (one-shot, REPL, web)."""

from __future__ import annotations

import os
from typing import Any, Iterable

from .events import TextDelta
from .messages import Message
from .repair import STREAMING
from .store import Store, StoreError

#: seconds between saves of an answer while it streams (kill -9 loses at most this much)
PARTIAL_EVERY_S = 0.25


class Recorder:
    """Saves one conversation as it happens, for a face (one-shot, REPL, web). Never raises:
    the first :class:`StoreError` goes to ``on_error`` (a one-line warning, say) and saving
    stops, so a full disk or a locked database never costs the run.

    - ``Recorder(model, "run", cwd)``: nothing is opened or written before the first message.
    - ``rec.add(messages)``: appended at once (the first call creates the conversation, and
      takes its writer lock, see ``engine.conversation_lock``).
    - ``sink=[output, rec]``: as a run sink it appends every ``MessageAdded`` message, and
      saves the answer while it streams, at most every :data:`PARTIAL_EVERY_S` seconds, from
      a timer on the event loop (never from the per-chunk path); the finished message then
      takes the partial one's place.
    - ``rec.update(model=, usage=, cost_usd=)``: a run's (or a turn's) totals, added.
    - ``rec.new()``: the next message starts a new conversation (``/clear``).
    - ``rec.resume(conv_id)``: go on appending to a saved conversation (``--continue``; its
      lock is the caller's to hold, see ``cli.saving.previous``).
    """

    def __init__(self, model: str | None, source: str = "run", cwd: str | None = None, *,
                 path: str | os.PathLike[str] | None = None, store: Store | None = None,
                 on_error: Any = None, partial_every: float = PARTIAL_EVERY_S) -> None:
        self.model = model
        self.source = source
        self.cwd = cwd
        self.path = path
        self.store = store
        self.on_error = on_error
        self.conv_id: str | None = None
        #: the error that stopped saving, if one did
        self.error: StoreError | None = None
        self._own_store = store is None
        self._locked: str | None = None  # a conversation we created and hold the lock of
        self.partial_every = partial_every
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._timer: Any = None
        self._partial_seq: int | None = None  # the row of the answer being streamed
        self._saved_len = 0
        self._next_sync = 0.0

    @property
    def active(self) -> bool:
        return self.error is None

    def _fail(self, e: StoreError) -> None:
        self.error = e
        if self.on_error is not None:
            try:
                self.on_error(e)
            except Exception:  # noqa: BLE001 - a warning printer must not break the run
                pass

    def _ensure(self) -> str | None:
        if self.error is not None:
            return None
        try:
            if self.store is None:
                self.store = Store.open(self.path)
            if self.conv_id is None:
                self.conv_id = self.store.create(self.model, self.source, self.cwd)
                from . import conversation_lock
                conversation_lock.hold(self.store.path.parent, self.conv_id)
                self._locked = self.conv_id
        except StoreError as e:
            self._fail(e)
            return None
        except OSError as e:
            self._fail(StoreError(f"cannot lock the conversation: {e}"))
            return None
        return self.conv_id

    def add(self, messages: Message | Iterable[Message]) -> None:
        msgs = [messages] if isinstance(messages, Message) else list(messages)
        if not msgs or self._ensure() is None:
            return
        try:
            if self._partial_seq is not None:  # the finished answer takes the partial's row
                seq, self._partial_seq = self._partial_seq, None
                self.store.put(self.conv_id, msgs[0], seq)  # type: ignore[union-attr, arg-type]
                msgs = msgs[1:]
            if msgs:
                self.store.append(self.conv_id, msgs)  # type: ignore[union-attr, arg-type]
        except StoreError as e:
            self._fail(e)

    def __call__(self, event: Any) -> None:
        if event.__class__ is TextDelta:  # the per-chunk path: an append, no I/O
            self._text.append(event.text)
            if self._timer is None:
                self._arm()
            return
        kind = getattr(event, "type", None)
        if kind == "reasoning_delta":
            self._reasoning.append(event.text)
            if self._timer is None:
                self._arm()
        elif kind == "message_added" and isinstance(getattr(event, "message", None), Message):
            self._reset()
            self.add([event.message])
        elif kind in ("step_start", "retrying"):
            self._reset()
        elif kind == "run_finished" and self._partial_seq is not None:
            # the run ended without adding the answer it streamed: keep it, marked
            why = getattr(getattr(event, "result", None), "finish_reason", None) or "error"
            self._save_partial({"interrupted": why})
            self._reset()
            self._partial_seq = None

    # -- the answer while it streams ----------------------------------------------------
    def _arm(self) -> None:
        import asyncio
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): throttled by the clock instead
            import time
            now = time.monotonic()
            if now >= self._next_sync:
                self._next_sync = now + self.partial_every
                self._flush()
            return
        self._timer = loop.call_later(self.partial_every, self._flush)

    def _flush(self) -> None:
        self._timer = None
        size = sum(map(len, self._text)) + sum(map(len, self._reasoning))
        if size and size != self._saved_len:
            self._saved_len = size
            self._save_partial({STREAMING: True})

    def _save_partial(self, extra: dict[str, Any]) -> None:
        if self.error is not None or self.conv_id is None or self.store is None:
            return
        text, reasoning = "".join(self._text), "".join(self._reasoning)
        if not text and not reasoning:
            return
        m = Message("assistant", text or None, reasoning=reasoning or None, extra=extra)
        try:
            self._partial_seq = self.store.put(self.conv_id, m, self._partial_seq)
        except StoreError as e:
            self._fail(e)

    def _reset(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._text.clear()
        self._reasoning.clear()
        self._saved_len = 0

    # -- the rest -------------------------------------------------------------------------
    def update(self, model: str | None = None, usage: dict[str, Any] | None = None,
               cost_usd: float | None = None) -> None:
        """``model`` is set (also for a conversation not created yet); ``usage`` and
        ``cost_usd`` are added to the totals of the current conversation."""
        if model is not None:
            self.model = model
        if self.conv_id is None or self.error is not None or self.store is None:
            return
        try:
            self.store.update(self.conv_id, model=model, usage=usage, cost_usd=cost_usd)
        except StoreError as e:
            self._fail(e)

    def _let_go(self) -> None:
        self._reset()
        self._partial_seq = None
        if self._locked is not None and self.store is not None:
            from . import conversation_lock
            conversation_lock.release(self.store.path.parent, self._locked)
        self._locked = None

    def new(self) -> None:
        self._let_go()
        self.conv_id = None

    def resume(self, conv_id: str) -> None:
        self._let_go()
        self.conv_id = conv_id

    def close(self) -> None:
        self._let_go()
        if self.store is not None and self._own_store:
            self.store.close()
            self.store = None
