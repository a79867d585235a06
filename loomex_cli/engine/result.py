"""What a run returns (and what an error or cancellation carries as ``.result``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .messages import Message

#: why a run ended
FINISH_REASONS = ("stop", "max_steps", "on_step", "cancelled", "error", "max_cost")


def add_usage(total: dict[str, Any], usage: dict[str, Any] | None) -> None:
    """Adds the integer counters of ``usage`` into ``total`` (nested details flattened one level)."""
    if not usage:
        return
    for k, v in usage.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            total[k] = total.get(k, 0) + v
        elif isinstance(v, dict) and k.endswith("_details"):
            sub = total.setdefault(k, {})
            for k2, v2 in v.items():
                if isinstance(v2, int) and not isinstance(v2, bool):
                    sub[k2] = sub.get(k2, 0) + v2


@dataclass(slots=True)
class RunResult:
    """What a run produced: the conversation, steps, usage, cost and why it ended."""
    messages: list[Message]
    steps: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    finish_reason: str = "stop"
    #: the error the run ended on, if any
    error: BaseException | None = None
    #: per-step usage, in order
    step_usage: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0
    #: USD, from the registry's prices; None when a price (or a step's usage) is unknown
    cost_usd: float | None = None
    #: with ``output_type``: the validated answer as that type (a dataclass instance for a
    #: dataclass), and as the JSON it was parsed from; None until there is one
    output: Any = None
    output_json: Any = None
    #: whether the run asked for structured output (``to_dict`` then has "output")
    structured: bool = False

    @property
    def text(self) -> str:
        """The last assistant message's text ('' if the model has not answered)."""
        for m in reversed(self.messages):
            if m.role == "assistant":
                return m.text
        return ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "text": self.text,
            "steps": self.steps,
            "usage": self.usage,
            "finish_reason": self.finish_reason,
            "duration_ms": round(self.duration_ms, 1),
            "cost_usd": self.cost_usd,
            "messages": [m.to_dict() for m in self.messages],
        }
        if self.structured:
            d["output"] = self.output_json
        if self.error is not None:
            d["error"] = str(self.error)
        return d
