"""The typed events a run emits to its sink. Small slotted dataclasses, made to be ``match``ed:

    match event:
        case TextDelta(text=t): print(t, end="")
        case ToolResult(name=n, is_error=True): ...
        case RunFinished(result=r): ...
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .messages import Message
    from .result import RunResult


@dataclass(slots=True)
class RunStart:
    """Always the first event: which agent runs which model, and the caller's context."""
    agent: str
    model: str
    run_id: str
    context: dict[str, Any] = field(default_factory=dict)
    type = "run_start"


@dataclass(slots=True)
class ModelCallStart:
    """A request to the model is about to be sent (once per step, retries included)."""
    step: int
    model: str
    message_count: int
    type = "model_call_start"


@dataclass(slots=True)
class ModelCallFinish:
    """The model call ended: answered (``error`` None) or failed for good (also when
    cancelled: ``finish_reason`` is "error" or "cancelled")."""
    step: int
    model: str
    finish_reason: str | None
    usage: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    error: str | None = None
    type = "model_call_finish"


@dataclass(slots=True)
class ToolStart:
    """A tool call starts to execute (after validation and approval)."""
    id: str
    name: str
    step: int = 0
    type = "tool_start"


@dataclass(slots=True)
class TextDelta:
    text: str
    step: int = 0
    type = "text_delta"


@dataclass(slots=True)
class ReasoningDelta:
    text: str
    step: int = 0
    type = "reasoning_delta"


@dataclass(slots=True)
class ToolCallStart:
    id: str
    name: str
    index: int
    step: int = 0
    type = "tool_call_start"


@dataclass(slots=True)
class ToolCallDelta:
    id: str
    index: int
    arguments_delta: str
    step: int = 0
    type = "tool_call_delta"


@dataclass(slots=True)
class ToolCallComplete:
    id: str
    name: str
    arguments: str
    index: int
    step: int = 0
    type = "tool_call_complete"


@dataclass(slots=True)
class ToolResult:
    id: str
    name: str
    content: str
    is_error: bool
    duration_ms: float
    step: int = 0
    #: "ok", "error", "timeout", "cancelled", "denied", "unknown_tool", "invalid_arguments"
    status: str = "ok"
    type = "tool_result"


@dataclass(slots=True)
class ToolProgress:
    """A running tool call says how far it is (an MCP server's progress notification):
    ``progress`` of ``total`` (None: unknown), and a ``message`` that is the tool's own,
    untrusted text. Only between the call's ToolStart and its ToolResult."""
    id: str
    name: str
    progress: float
    total: float | None = None
    message: str | None = None
    step: int = 0
    type = "tool_progress"


@dataclass(slots=True)
class StepStart:
    step: int
    model: str
    message_count: int
    type = "step_start"


@dataclass(slots=True)
class StepFinish:
    step: int
    finish_reason: str | None
    usage: dict[str, Any] = field(default_factory=dict)
    tool_calls: int = 0
    #: this step's cost in USD (None: unknown price or usage)
    cost_usd: float | None = None
    type = "step_finish"


@dataclass(slots=True)
class Retrying:
    """The provider call failed before anything streamed and will be tried again."""
    step: int
    attempt: int
    delay_s: float
    error: str
    type = "retrying"


@dataclass(slots=True)
class MessageAdded:
    """A message the run appended to the conversation (assistant turns, tool results, the
    partial answer of an interrupted turn): what a store needs to save as it happens."""
    message: "Message"
    step: int = 0
    type = "message_added"


@dataclass(slots=True)
class Compacted:
    """The older part of the conversation was replaced by a summary to fit the window."""
    tokens_before: int
    tokens_after: int
    removed: int
    kept: int
    summarized: bool
    step: int = 0
    type = "compacted"


@dataclass(slots=True)
class RunError:
    """The run stopped on an error (it is raised to the caller as well)."""
    error: str
    kind: str
    type = "run_error"


@dataclass(slots=True)
class RunFinished:
    """Always the last event, also after an error or a cancellation."""
    result: "RunResult"
    type = "run_finished"


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
    d = asdict(event)
    d["type"] = event.type
    return d
