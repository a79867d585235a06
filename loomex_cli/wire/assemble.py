"""Assembling chat-completion chunks (streamed or not) into one assistant turn.

Right for every shape in the recorded provider fixtures: ``content``; ``reasoning_content``
and ``reasoning`` deltas; tool-call arguments split over many chunks; parallel calls; calls
without ``index``; several calls in one chunk; continuation chunks that repeat ``id: ""`` or
the full id and name (the first non-empty id and name win, only arguments concatenate); empty
ids (a unique one is invented); usage in a ``choices: []`` chunk, in the finish chunk or in
``x_groq``; an ``error`` object inside a chunk; ``n > 1`` (choice 0 is used).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import ProviderError, StreamError, error_for_status, extract_message

Handler = Callable[..., None]


@dataclass(slots=True)
class AssembledCall:
    """One tool call of an assistant turn, its arguments joined."""
    index: int
    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class Assembled:
    """One assistant turn as the provider produced it."""
    content: str | None
    reasoning: str | None
    tool_calls: list[AssembledCall]
    usage: dict[str, Any] | None
    finish_reason: str | None
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class _Call:
    __slots__ = ("index", "id", "name", "args", "started", "invented")

    def __init__(self, index: int, id: str, name: str) -> None:
        self.index = index
        self.id = id
        self.name = name
        self.args: list[str] = []
        self.started = False
        self.invented = False


def _noop(*_: Any) -> None:
    return None


class Assembler:
    """Feed decoded chunk dicts with :meth:`add`; :meth:`result` gives the turn.

    Callbacks fire as pieces arrive: ``on_text(str)``, ``on_reasoning(str)``,
    ``on_tool_start(index, id, name)``, ``on_tool_delta(index, id, arguments_piece)``.
    """

    __slots__ = ("on_text", "on_reasoning", "on_tool_start", "on_tool_delta", "_text",
                 "_reasoning", "_calls", "_by_index", "usage", "finish_reason", "model",
                 "provider", "emitted")

    def __init__(self, on_text: Handler = _noop, on_reasoning: Handler = _noop,
                 on_tool_start: Handler = _noop, on_tool_delta: Handler = _noop,
                 provider: str | None = None) -> None:
        self.on_text = on_text
        self.on_reasoning = on_reasoning
        self.on_tool_start = on_tool_start
        self.on_tool_delta = on_tool_delta
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: list[_Call] = []
        self._by_index: dict[int, _Call] = {}
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.provider = provider
        #: True once any output has been passed to a callback
        self.emitted = False

    # -- streaming --------------------------------------------------------------------
    def add(self, chunk: Any) -> None:
        """One decoded ``chat.completion.chunk`` (raises ProviderError on an error chunk, and
        StreamError on one that is not shaped like a chunk). JSON that is not an object
        (``[1, 2]``, ``"x"``, ``3``) is no chunk at all: skipped like any garbage line."""
        if type(chunk) is not dict:
            return
        choices = chunk.get("choices")
        if choices:
            if type(choices) is not list:
                raise self._malformed("choices", choices)
            choice = choices[0]
            if len(choices) > 1 or type(choice) is not dict or choice.get("index", 0):
                choice = next((c for c in choices
                               if type(c) is dict and not c.get("index", 0)), None)
            if choice is not None:
                delta = choice.get("delta")
                if delta is None:
                    delta = choice.get("message")
                if delta:
                    if type(delta) is not dict:
                        raise self._malformed("delta", delta)
                    text = delta.get("content")
                    if text:
                        if type(text) is not str:
                            text = _parts_text(text)
                        self._text.append(text)
                        self.emitted = True
                        self.on_text(text)
                    r = delta.get("reasoning_content") or delta.get("reasoning")
                    if r and type(r) is str:
                        self._reasoning.append(r)
                        self.emitted = True
                        self.on_reasoning(r)
                    calls = delta.get("tool_calls")
                    if calls:
                        if type(calls) is not list:
                            raise self._malformed("tool_calls", calls)
                        self._add_calls(calls)
                fr = choice.get("finish_reason")
                if fr:
                    self.finish_reason = fr if type(fr) is str else str(fr)
        usage = chunk.get("usage")
        if usage and type(usage) is dict:
            self.usage = usage
        xg = chunk.get("x_groq")
        if xg and type(xg) is dict and type(xg.get("usage")) is dict:
            self.usage = xg["usage"]
        if self.model is None:
            self.model = chunk.get("model")
        err = chunk.get("error")
        if err:
            raise self._chunk_error(chunk)

    def _malformed(self, what: str, value: Any) -> StreamError:
        e = StreamError(f"malformed chunk: '{what}' is {type(value).__name__}, "
                        f"not what the chat-completions format says", provider=self.provider)
        e.after_output = self.emitted
        return e

    def _chunk_error(self, body: dict[str, Any]) -> ProviderError:
        msg, code = extract_message(body, "the provider reported an error mid-stream")
        err = body.get("error")
        status = None
        if isinstance(err, dict):
            for s in (err.get("status_code"), err.get("status"), err.get("code")):
                if isinstance(s, int) and not isinstance(s, bool) and 400 <= s < 600:
                    status = s
                    break
        e = error_for_status(status, msg, code=code, provider=self.provider) if status \
            else StreamError(msg, provider=self.provider, code=code)
        e.after_output = self.emitted
        return e

    def add_error_event(self, data: bytes) -> None:
        """An SSE ``event: error``: always a provider error."""
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):
            body = {"error": data.decode("utf-8", "replace")}
        if not isinstance(body, dict):
            body = {"error": str(body)}
        if "error" not in body:
            body = {"error": body}
        raise self._chunk_error(body)

    def _add_calls(self, deltas: list[Any]) -> None:
        calls = self._calls
        for tc in deltas:
            if type(tc) is not dict:
                continue
            idx = tc.get("index")
            if type(idx) is not int:
                idx = None
            cid = tc.get("id") or ""
            if type(cid) is not str:
                cid = str(cid)
            fn = tc.get("function")
            if type(fn) is not dict:
                fn = {}
            name = fn.get("name") or ""
            if type(name) is not str:
                name = str(name)
            call = None
            if idx is not None:
                call = self._by_index.get(idx)
                if call is not None and cid and call.id and cid != call.id and not call.invented:
                    call = None  # a server that reuses an index for a new call
            elif cid:
                call = next((c for c in calls if c.id == cid), None)
            elif not name and calls:
                call = calls[-1]  # an arguments-only continuation
            if call is None:
                call = _Call(len(calls), cid, name)
                calls.append(call)
                if idx is not None:
                    self._by_index[idx] = call
            else:
                if not call.id and cid:
                    call.id = cid
                if not call.name and name:
                    call.name = name
            if not call.started and call.name:
                call.started = True
                if not call.id:  # invent it now, so every event names the same id
                    call.id = "call_" + os.urandom(12).hex()
                    call.invented = True
                self.emitted = True
                self.on_tool_start(call.index, call.id, call.name)
            args = fn.get("arguments")
            if args:
                if type(args) is not str:
                    args = json.dumps(args)
                call.args.append(args)
                self.emitted = True
                self.on_tool_delta(call.index, call.id, args)

    # -- non-streaming ----------------------------------------------------------------
    def add_response(self, body: Any) -> None:
        """A whole (non-streamed) ``chat.completion`` body."""
        if not isinstance(body, dict):
            raise StreamError("the response is not a JSON object", provider=self.provider)
        if body.get("error"):
            raise self._chunk_error(body)
        self.add(body)

    # -- result -----------------------------------------------------------------------
    def result(self) -> Assembled:
        calls = []
        for c in self._calls:
            if not c.id:
                c.id = "call_" + os.urandom(12).hex()
            calls.append(AssembledCall(c.index, c.id, c.name, "".join(c.args)))
        return Assembled(
            content="".join(self._text) if self._text else None,
            reasoning="".join(self._reasoning) if self._reasoning else None,
            tool_calls=calls,
            usage=self.usage,
            finish_reason=self.finish_reason,
            model=self.model,
        )

    def partial_text(self) -> str:
        return "".join(self._text)

    def partial_reasoning(self) -> str:
        return "".join(self._reasoning)


def _parts_text(parts: Any) -> str:
    if isinstance(parts, list):
        return "".join(p["text"] for p in parts
                       if isinstance(p, dict) and isinstance(p.get("text"), str))
    return str(parts)
