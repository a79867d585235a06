"""Saving one conversation as it happens, for a face (one-shot, REPL, web)."""

from __future__ import annotations

import os
from typing import Any, Iterable

from .messages import Message
from .store import Store, StoreError


class Recorder:
    """Saves one conversation as it happens, for a face (one-shot, REPL, web). Never raises:
    the first :class:`StoreError` goes to ``on_error`` (a one-line warning, say) and saving
    stops, so a full disk or a locked database never costs the run.

    - ``Recorder(model, "run", cwd)``: nothing is opened or written before the first message.
    - ``rec.add(messages)``: appended at once (the first call creates the conversation).
    - ``sink=[output, rec]``: as a run sink it appends every ``MessageAdded`` message.
    - ``rec.update(model=, usage=, cost_usd=)``: a run's (or a turn's) totals, added.
    - ``rec.new()``: the next message starts a new conversation (``/clear``).
    - ``rec.resume(conv_id)``: go on appending to a saved conversation (``--continue``).
    """

    def __init__(self, model: str | None, source: str = "run", cwd: str | None = None, *,
                 path: str | os.PathLike[str] | None = None, store: Store | None = None,
                 on_error: Any = None) -> None:
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
        except StoreError as e:
            self._fail(e)
            return None
        return self.conv_id

    def add(self, messages: Message | Iterable[Message]) -> None:
        msgs = [messages] if isinstance(messages, Message) else list(messages)
        if not msgs or self._ensure() is None:
            return
        try:
            self.store.append(self.conv_id, msgs)  # type: ignore[union-attr, arg-type]
        except StoreError as e:
            self._fail(e)

    def __call__(self, event: Any) -> None:
        if getattr(event, "type", None) == "message" and isinstance(
                getattr(event, "message", None), Message):
            self.add([event.message])

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

    def new(self) -> None:
        self.conv_id = None

    def resume(self, conv_id: str) -> None:
        self.conv_id = conv_id

    def close(self) -> None:
        if self.store is not None and self._own_store:
            self.store.close()
            self.store = None
