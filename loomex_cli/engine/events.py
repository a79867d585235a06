"""The typed events a run emits to its sink. Small slotted classes, made to be ``match``ed:

    match event:
        case TextDelta(text=t): print(t, end="")
        case ToolResult(name=n, is_error=True): ...
        case RunFinished(result=r): ...

Written out by hand rather than as dataclasses: eighteen slotted dataclasses cost about 7 ms
to build at every start (each one is made twice, its methods compiled from source), a
twentieth of a one-shot; these cost a tenth of that. :class:`_Event` gives them what the
dataclasses did: ``__match_args__``, ``__repr__``, ``__eq__`` by fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .messages import Message
    from .result import RunResult


class _Event:
    """The base of every event: fields are ``__slots__`` (in ``__init__``'s order)."""

    __slots__ = ()
    type = ""

    def __init_subclass__(cls) -> None:
        cls.__match_args__ = cls.__slots__

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value: as dataclasses


class RunStart(_Event):
    """Always the first event: which agent runs which model, and the caller's context."""
    __slots__ = ("agent", "model", "run_id", "context")
    type = "run_start"

    def __init__(self, agent: str, model: str, run_id: str,
                 context: dict[str, Any] | None = None) -> None:
        self.agent = agent
        self.model = model
        self.run_id = run_id
        self.context = {} if context is None else context


class ModelCallStart(_Event):
    """A request to the model is about to be sent (once per step, retries included)."""
    __slots__ = ("step", "model", "message_count")
    type = "model_call_start"

    def __init__(self, step: int, model: str, message_count: int) -> None:
        self.step = step
        self.model = model
        self.message_count = message_count


class ModelCallFinish(_Event):
    """The model call ended: answered (``error`` None) or failed for good (also when
    cancelled: ``finish_reason`` is "error" or "cancelled")."""
    __slots__ = ("step", "model", "finish_reason", "usage", "duration_ms", "error")
    type = "model_call_finish"

    def __init__(self, step: int, model: str, finish_reason: str | None,
                 usage: dict[str, Any] | None = None, duration_ms: float = 0.0,
                 error: str | None = None) -> None:
        self.step = step
        self.model = model
        self.finish_reason = finish_reason
        self.usage = {} if usage is None else usage
        self.duration_ms = duration_ms
        self.error = error


class ToolStart(_Event):
    """A tool call starts to execute (after validation and approval)."""
    __slots__ = ("id", "name", "step")
    type = "tool_start"

    def __init__(self, id: str, name: str, step: int = 0) -> None:
        self.id = id
        self.name = name
        self.step = step


class TextDelta(_Event):
    __slots__ = ("text", "step")
    type = "text_delta"

    def __init__(self, text: str, step: int = 0) -> None:
        self.text = text
        self.step = step


class ReasoningDelta(_Event):
    __slots__ = ("text", "step")
    type = "reasoning_delta"

    def __init__(self, text: str, step: int = 0) -> None:
        self.text = text
        self.step = step


class ToolCallStart(_Event):
    __slots__ = ("id", "name", "index", "step")
    type = "tool_call_start"

    def __init__(self, id: str, name: str, index: int, step: int = 0) -> None:
        self.id = id
        self.name = name
        self.index = index
        self.step = step


class ToolCallDelta(_Event):
    __slots__ = ("id", "index", "arguments_delta", "step")
    type = "tool_call_delta"

    def __init__(self, id: str, index: int, arguments_delta: str, step: int = 0) -> None:
        self.id = id
        self.index = index
        self.arguments_delta = arguments_delta
        self.step = step


class ToolCallComplete(_Event):
    __slots__ = ("id", "name", "arguments", "index", "step")
    type = "tool_call_complete"

    def __init__(self, id: str, name: str, arguments: str, index: int, step: int = 0) -> None:
        self.id = id
        self.name = name
        self.arguments = arguments
        self.index = index
        self.step = step


class ToolResult(_Event):
    __slots__ = ("id", "name", "content", "is_error", "duration_ms", "step", "status")
    type = "tool_result"

    def __init__(self, id: str, name: str, content: str, is_error: bool, duration_ms: float,
                 step: int = 0, status: str = "ok") -> None:
        self.id = id
        self.name = name
        self.content = content
        self.is_error = is_error
        self.duration_ms = duration_ms
        self.step = step
        #: "ok", "error", "timeout", "cancelled", "denied", "unknown_tool", "invalid_arguments"
        self.status = status


class ToolProgress(_Event):
    """A running tool call says how far it is (an MCP server's progress notification):
    ``progress`` of ``total`` (None: unknown), and a ``message`` that is the tool's own,
    untrusted text. Only between the call's ToolStart and its ToolResult."""
    __slots__ = ("id", "name", "progress", "total", "message", "step")
    type = "tool_progress"

    def __init__(self, id: str, name: str, progress: float, total: float | None = None,
                 message: str | None = None, step: int = 0) -> None:
        self.id = id
        self.name = name
        self.progress = progress
        self.total = total
        self.message = message
        self.step = step


class StepStart(_Event):
    __slots__ = ("step", "model", "message_count")
    type = "step_start"

    def __init__(self, step: int, model: str, message_count: int) -> None:
        self.step = step
        self.model = model
        self.message_count = message_count


class StepFinish(_Event):
    __slots__ = ("step", "finish_reason", "usage", "tool_calls", "cost_usd")
    type = "step_finish"

    def __init__(self, step: int, finish_reason: str | None, usage: dict[str, Any] | None = None,
                 tool_calls: int = 0, cost_usd: float | None = None) -> None:
        self.step = step
        self.finish_reason = finish_reason
        self.usage = {} if usage is None else usage
        self.tool_calls = tool_calls
        #: this step's cost in USD (None: unknown price or usage)
        self.cost_usd = cost_usd


class Retrying(_Event):
    """The provider call failed before anything streamed and will be tried again."""
    __slots__ = ("step", "attempt", "delay_s", "error")
    type = "retrying"

    def __init__(self, step: int, attempt: int, delay_s: float, error: str) -> None:
        self.step = step
        self.attempt = attempt
        self.delay_s = delay_s
        self.error = error


class MessageAdded(_Event):
    """A message the run appended to the conversation (assistant turns, tool results, the
    partial answer of an interrupted turn): what a store needs to save as it happens."""
    __slots__ = ("message", "step")
    type = "message_added"

    def __init__(self, message: "Message", step: int = 0) -> None:
        self.message = message
        self.step = step


class Compacted(_Event):
    """The older part of the conversation was replaced by a summary to fit the window."""
    __slots__ = ("tokens_before", "tokens_after", "removed", "kept", "summarized", "step")
    type = "compacted"

    def __init__(self, tokens_before: int, tokens_after: int, removed: int, kept: int,
                 summarized: bool, step: int = 0) -> None:
        self.tokens_before = tokens_before
        self.tokens_after = tokens_after
        self.removed = removed
        self.kept = kept
        self.summarized = summarized
        self.step = step


class RunError(_Event):
    """The run stopped on an error (it is raised to the caller as well)."""
    __slots__ = ("error", "kind")
    type = "run_error"

    def __init__(self, error: str, kind: str) -> None:
        self.error = error
        self.kind = kind


class RunFinished(_Event):
    """Always the last event, also after an error or a cancellation."""
    __slots__ = ("result",)
    type = "run_finished"

    def __init__(self, result: "RunResult") -> None:
        self.result = result


Event = (RunStart | ModelCallStart | ModelCallFinish | ToolStart | TextDelta | ReasoningDelta
         | ToolCallStart | ToolCallDelta | ToolCallComplete | ToolResult | StepStart | StepFinish
         | Retrying | MessageAdded | Compacted | RunError | RunFinished | ToolProgress)
#: every event class: each consumer must handle or knowingly ignore each of them (a test checks)
ALL_EVENTS: tuple[type, ...] = Event.__args__  # type: ignore[attr-defined]


def event_to_dict(event: Any) -> dict[str, Any]:
    """A JSON-ready dict with a ``type`` key (the final result is summarised, not dumped)."""
    if isinstance(event, RunFinished):
        return {"type": event.type, **event.result.to_dict()}
    if isinstance(event, MessageAdded):
        return {"type": event.type, "step": event.step, "message": event.message.to_dict()}
    d = {k: _plain(getattr(event, k)) for k in event.__slots__}
    d["type"] = event.type
    return d


def _plain(value: Any) -> Any:
    """A copy of a field's value that later changes to the event cannot reach (as
    ``dataclasses.asdict`` made): dicts and lists are copied, all the way down."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
