"""Engine events -> AI SDK "UI message stream" chunks (the protocol ``useChat`` reads).

One :class:`UIMessageStream` per response. Feed it the run's events in order; each call
returns the chunks (plain dicts) to send, and :func:`sse` frames one as ``data: <json>\\n\\n``.

    enc = UIMessageStream()
    chunks = enc.start()                      # {"type": "start", "messageId": "msg_..."}
    for event in events: chunks += enc.event(event)
    # RunFinished ends it: ... {"type": "finish", "finishReason": "stop"}

The mapping (AI SDK 5.0 chunk fields only, plus ``finish.finishReason``, so that strict older
clients accept every chunk; ``None`` is never sent):

=========================  ====================================================================
engine event               chunks
=========================  ====================================================================
StepStart                  ``start-step``
TextDelta                  ``text-start`` (first delta of a part), ``text-delta``
ReasoningDelta             ``reasoning-start``, ``reasoning-delta``
ToolCallStart              ``tool-input-start`` (``toolCallId``, ``toolName``)
ToolCallDelta              ``tool-input-delta`` (``inputTextDelta``)
ToolCallComplete           ``tool-input-available`` (``input``: the parsed arguments, or the raw
                           text when they are not JSON)
ToolResult                 ``tool-output-available`` (``output``: the text the model reads, or
                           the object/array when that text is a tool's JSON result) or,
                           for any failed call (error, timeout, denied, ...),
                           ``tool-output-error`` (``errorText``)
ToolProgress               ``data-tool-progress``, transient (the client hands it to ``onData``
                           and keeps it out of the message), ``id``: the tool call's id,
                           ``data``: ``toolCallId``, ``toolName``, ``progress`` and, when
                           known, ``total`` and ``message`` (the tool's own, untrusted text)
StepFinish                 ``finish-step`` (open text/reasoning parts are ended first)
Retrying                   nothing
RunError                   ``error`` (``errorText``)
RunFinished                ``finish-step`` if a step is still open, then ``finish``
=========================  ====================================================================

Text and reasoning parts are ended (``-end``) when the other kind starts, when a tool call
starts, and at the end of the step. Tool calls that started streaming but never completed
(a stream broken mid-call) get a ``tool-output-error`` before the end, so no part is left
spinning. Tool call ids are the engine's; one reused within a response gets a suffix.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from typing import Any, Callable

from ..engine.events import (ReasoningDelta, Retrying, RunError, RunFinished, StepFinish,
                             StepStart, TextDelta, ToolCallComplete, ToolCallDelta,
                             ToolCallStart, ToolProgress, ToolResult)

Chunk = dict[str, Any]

#: the response headers of a UI message stream
UI_STREAM_HEADERS: list[tuple[str, str]] = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
    ("connection", "keep-alive"),
    ("x-vercel-ai-ui-message-stream", "v1"),
    ("x-accel-buffering", "no"),
]

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"

#: a provider's finish_reason -> the AI SDK's finishReason
_FINISH = {"stop": "stop", "end_turn": "stop", "length": "length", "max_tokens": "length",
           "content_filter": "content-filter", "tool_calls": "tool-calls",
           "function_call": "tool-calls"}

INTERNAL_ERROR = "An internal error occurred."
INTERRUPTED = "The tool call was interrupted before it completed."


#: one encoder for every chunk (json.dumps with options builds a new one per call)
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def sse(chunk: Chunk) -> bytes:
    """One SSE event, compact JSON as ``JSON.stringify`` writes it."""
    return b"data: " + _JSON.encode(chunk).encode("utf-8") + b"\n\n"


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def _loomex_kinds() -> set[str]:
    from ..wire.errors import LoomexError
    kinds: set[str] = set()
    todo: list[type] = [LoomexError]
    while todo:
        cls = todo.pop()
        kinds.add(getattr(cls, "kind", ""))
        todo.extend(cls.__subclasses__())
    return kinds


def default_error_text(error: RunError | BaseException) -> str:
    """What the user is shown: loomex's own errors (provider, config, network: written for
    people, never holding a key) as they are; anything else is an internal error, not
    described to the browser."""
    if isinstance(error, RunError):
        if error.kind in _loomex_kinds():
            return error.error or INTERNAL_ERROR
        return INTERNAL_ERROR
    from ..wire.errors import LoomexError
    if isinstance(error, LoomexError):
        return str(error) or INTERNAL_ERROR
    return INTERNAL_ERROR


def tool_input(arguments: str) -> Any:
    """A call's arguments for ``tool-input-available``: parsed JSON ({} when empty), or the
    raw text when it does not parse (the engine then reports invalid arguments)."""
    text = (arguments or "").strip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # the model's text: any depth
        return arguments


def tool_output(content: str) -> Any:
    """A result for ``tool-output-available``: the JSON object or array a tool returned (the
    engine wrote it as JSON text) when the text reads back to exactly itself, so that the
    client shows structure and the history round-trips; otherwise the text as it is."""
    if content[:1] in ("{", "[") and content[-1:] in ("}", "]"):
        try:
            value = json.loads(content)
        except (ValueError, RecursionError):
            return content
        if isinstance(value, (dict, list)) and json.dumps(value, ensure_ascii=False) == content:
            return value
    return content


class UIMessageStream:
    """The encoder's state for one response: which parts are open, which tool calls wait for
    their output, whether a step is open."""

    def __init__(self, message_id: str | None = None,
                 error_text: Callable[[Any], str] | None = None) -> None:
        #: the assistant message id sent in ``start`` (fresh unless continuing a message)
        self.message_id = message_id if message_id is not None else new_message_id()
        self.error_text = error_text or default_error_text
        self.finished = False
        self.errored = False
        self._started = False
        self._step_open = False
        self._text: str | None = None       # id of the open text part
        self._reasoning: str | None = None  # id of the open reasoning part
        self._parts = 0
        self._used_ids: set[str] = set()
        # per step: model call index -> ui tool call id (input started) and buffered deltas
        self._by_index: dict[int, str] = {}
        self._early_deltas: dict[int, list[str]] = {}
        # ui ids whose input is complete, waiting for an output, by engine id (FIFO)
        self._awaiting: dict[str, deque[str]] = {}
        # ui ids that have a tool part but no output yet
        self._open_tools: dict[str, None] = {}
        self._last_step_reason: str | None = None

    # -- public ----------------------------------------------------------------------
    def start(self) -> list[Chunk]:
        if self._started:
            return []
        self._started = True
        chunk: Chunk = {"type": "start"}
        if self.message_id:
            chunk["messageId"] = self.message_id
        return [chunk]

    def event(self, ev: Any) -> list[Chunk]:
        """The chunks for one engine event (none once the stream is finished)."""
        if self.finished:
            return []
        out = self.start()
        if isinstance(ev, TextDelta):
            if ev.text:
                out += self._open_step()
                out += self._delta("text", ev.text)
        elif isinstance(ev, ReasoningDelta):
            if ev.text:
                out += self._open_step()
                out += self._delta("reasoning", ev.text)
        elif isinstance(ev, ToolCallStart):
            out += self._open_step()
            out += self._end_parts()
            out += self._tool_start(ev.index, ev.id, ev.name)
        elif isinstance(ev, ToolCallDelta):
            if ev.arguments_delta:
                uid = self._by_index.get(ev.index)
                if uid is None:  # arguments before the name: held until the call starts
                    self._early_deltas.setdefault(ev.index, []).append(ev.arguments_delta)
                else:
                    out.append({"type": "tool-input-delta", "toolCallId": uid,
                                "inputTextDelta": ev.arguments_delta})
        elif isinstance(ev, ToolCallComplete):
            out += self._open_step()
            out += self._end_parts()
            uid = self._by_index.get(ev.index)
            if uid is None:
                out += self._tool_start(ev.index, ev.id, ev.name, flush=False)
                uid = self._by_index[ev.index]
            out.append({"type": "tool-input-available", "toolCallId": uid,
                        "toolName": ev.name, "input": tool_input(ev.arguments)})
            self._awaiting.setdefault(ev.id, deque()).append(uid)
        elif isinstance(ev, ToolResult):
            out += self._open_step()
            waiting = self._awaiting.get(ev.id)
            if waiting:
                uid = waiting.popleft()
            else:  # a result for a call never announced: announce it first
                uid = self._ui_id(ev.id)
                out.append({"type": "tool-input-start", "toolCallId": uid, "toolName": ev.name})
                out.append({"type": "tool-input-available", "toolCallId": uid,
                            "toolName": ev.name, "input": {}})
            self._open_tools.pop(uid, None)
            if ev.is_error:
                out.append({"type": "tool-output-error", "toolCallId": uid,
                            "errorText": ev.content or "Error"})
            else:
                out.append({"type": "tool-output-available", "toolCallId": uid,
                            "output": tool_output(ev.content)})
        elif isinstance(ev, ToolProgress):
            waiting = self._awaiting.get(ev.id)
            if waiting:  # only while the call runs (its input sent, its output not yet)
                data: dict[str, Any] = {"toolCallId": waiting[0], "toolName": ev.name,
                                        "progress": ev.progress}
                if ev.total is not None:
                    data["total"] = ev.total
                if ev.message is not None:
                    data["message"] = ev.message
                out.append({"type": "data-tool-progress", "id": waiting[0], "data": data,
                            "transient": True})
        elif isinstance(ev, StepStart):
            out += self._close_step()
            out += self._open_step()
        elif isinstance(ev, StepFinish):
            self._last_step_reason = ev.finish_reason
            out += self._close_step()
        elif isinstance(ev, RunError):
            out += self.error(ev)
        elif isinstance(ev, RunFinished):
            # a run that ended normally reports its last step's reason (as streamText
            # does); a cancelled one (or one stopped by a budget) "other"
            normal = ev.result.finish_reason in ("stop", "max_steps", "on_step")
            out += self.finish(None if normal else "other")
        elif isinstance(ev, Retrying):
            pass
        return out

    def error(self, error: RunError | BaseException) -> list[Chunk]:
        """An ``error`` chunk (parts ended first); the stream then finishes with
        ``finishReason: "error"``."""
        if self.finished:
            return []
        out = self.start() + self._end_parts() + self._interrupt_tools()
        self.errored = True
        out.append({"type": "error", "errorText": self.error_text(error) or INTERNAL_ERROR})
        return out

    def finish(self, finish_reason: str | None = None) -> list[Chunk]:
        """Ends everything still open and sends ``finish`` (idempotent)."""
        if self.finished:
            return []
        out = self.start() + self._end_parts() + self._interrupt_tools() + self._close_step()
        if self.errored:
            reason = "error"
        elif finish_reason is not None:
            reason = finish_reason
        else:
            reason = _FINISH.get(self._last_step_reason or "stop", "other")
        out.append({"type": "finish", "finishReason": reason})
        self.finished = True
        return out

    # -- internals ---------------------------------------------------------------------
    def _ui_id(self, engine_id: str) -> str:
        base = engine_id or "call"
        uid, n = base, 1
        while uid in self._used_ids:
            n += 1
            uid = f"{base}_{n}"
        self._used_ids.add(uid)
        return uid

    def _open_step(self) -> list[Chunk]:
        if self._step_open:
            return []
        self._step_open = True
        self._by_index = {}
        self._early_deltas = {}
        return [{"type": "start-step"}]

    def _close_step(self) -> list[Chunk]:
        if not self._step_open:
            return []
        out = self._end_parts() + self._interrupt_tools()
        self._step_open = False
        out.append({"type": "finish-step"})
        return out

    def _delta(self, kind: str, text: str) -> list[Chunk]:
        out: list[Chunk] = []
        other = "reasoning" if kind == "text" else "text"
        if getattr(self, "_" + other) is not None:
            out += self._end(other)
        pid = getattr(self, "_" + kind)
        if pid is None:
            self._parts += 1
            pid = f"{'txt' if kind == 'text' else 'rsn'}_{self._parts}"
            setattr(self, "_" + kind, pid)
            out.append({"type": f"{kind}-start", "id": pid})
        out.append({"type": f"{kind}-delta", "id": pid, "delta": text})
        return out

    def _end(self, kind: str) -> list[Chunk]:
        pid = getattr(self, "_" + kind)
        if pid is None:
            return []
        setattr(self, "_" + kind, None)
        return [{"type": f"{kind}-end", "id": pid}]

    def _end_parts(self) -> list[Chunk]:
        return self._end("reasoning") + self._end("text")

    def _tool_start(self, index: int, engine_id: str, name: str,
                    flush: bool = True) -> list[Chunk]:
        uid = self._ui_id(engine_id)
        self._by_index[index] = uid
        self._open_tools[uid] = None
        out: list[Chunk] = [{"type": "tool-input-start", "toolCallId": uid, "toolName": name}]
        early = self._early_deltas.pop(index, [])
        if flush and early:
            out.append({"type": "tool-input-delta", "toolCallId": uid,
                        "inputTextDelta": "".join(early)})
        return out

    def _interrupt_tools(self) -> list[Chunk]:
        """Tool parts left without an output (a stream broken mid-call, a cancelled run)."""
        out = [{"type": "tool-output-error", "toolCallId": uid, "errorText": INTERRUPTED}
               for uid in self._open_tools]
        self._open_tools.clear()
        self._awaiting.clear()
        return out
