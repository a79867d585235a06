"""An agent: a system prompt + tools + a model, with the seed's defaults and callbacks.

Declare one as a class, or build one inline (the CLI does, from its flags):

    class MathAgent(Agent):
        model = "openrouter/moonshotai/kimi-k2"
        tools = [Calculator, get_weather]
        def system_prompt(self, ctx): return "You are a math tutor."

    Agent(model="openai/gpt-4.1", tools=[...], system_prompt="Be brief.")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..wire.retry import RetryPolicy
from .messages import Message


@dataclass(slots=True)
class Approval:
    """An approver's answer for one tool call."""
    allowed: bool
    reason: str = ""
    #: what decided it: "rule", "user", "yes-flag", "policy", ...
    source: str = ""


@dataclass(slots=True)
class RunContext:
    """Passed to tools and callbacks as ``ctx``."""
    agent: "Agent"
    messages: list[Message]
    #: whatever the caller passed as ``context=``
    deps: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    run_id: str = ""
    #: ``ask_human(question) -> answer`` (sync or async); None when no person can answer
    ask_human: Callable[[str], Any] | None = None
    #: ``approver(tool, args, ctx) -> Approval | bool`` (sync or async) for the calls whose
    #: ``tool.needs_approval(args, ctx)`` is true (non-read tools, reads of key stores)
    approver: Callable[..., Any] | None = None


@dataclass(slots=True)
class StepInfo:
    """One finished step, as ``Agent.on_step`` sees it."""
    step: int
    message: Message
    tool_results: list[Message]
    usage: dict[str, Any]
    finish_reason: str | None


class Agent:
    model: str = ""
    tools: Sequence[Any] = ()
    max_steps: int = 10
    temperature: float | None = 0.1
    #: tokens of the model's window (None: the registry's, else 128,000)
    context_window: int | None = None
    #: compact the conversation before it overflows the window (see engine/compaction.py)
    compaction: bool = True
    #: tokens kept free for the answer (None: the model's output limit ≤ 1/4 of the window
    #: when the registry knows it, else max_tokens, else 1/8 of the window, ≤ 1/4)
    reserve_tokens: int | None = None
    #: recent history kept verbatim when compacting (None: half of what fits)
    keep_recent_tokens: int | None = None
    #: stop before a model call that would take the run's cost over this (USD; needs prices)
    max_cost: float | None = None
    #: the model's metadata (``wire.registry.ModelInfo``): its prices give each step's cost.
    #: None: looked up in the registry when the run starts (as the CLI does)
    model_info: Any = None
    max_tokens: int | None = None
    #: merged into every request body (None: nothing)
    extra_body: dict[str, Any] | None = None
    #: "none", "minimal", "low", "medium", "high", "xhigh" or "max" (None: the config's
    #: default for the model, else not sent); adjusted to what the registry says the model
    #: takes (wire/effort.py)
    reasoning_effort: str | None = None
    #: the answer's type: a TypedDict, a dataclass, any annotation, or a JSON schema (a dict);
    #: the run's ``result.output`` is the validated answer (engine/structured.py)
    output_type: Any = None
    #: False for providers or setups that need a whole (non-streamed) response
    stream: bool = True
    #: seconds a tool call may take unless the tool sets its own ``timeout``
    tool_timeout: float | None = 300.0
    #: tool calls of one step run at most this many at once
    max_parallel_tools: int = 16
    retry: RetryPolicy = RetryPolicy()
    #: override the route's base URL / key (tests, proxies, library users)
    base_url: str | None = None
    api_key: str | None = None

    def __init__(self, **overrides: Any) -> None:
        cls = type(self)
        for k, v in overrides.items():
            if k.startswith("_") or not hasattr(cls, k):
                raise TypeError(f"{cls.__name__} has no setting {k!r}")
            setattr(self, k, v)

    @property
    def name(self) -> str:
        return type(self).__name__

    # -- callbacks (override in a subclass; system_prompt may also be a plain string) ----
    def system_prompt(self, ctx: RunContext) -> str | None:  # type: ignore[override]
        return None

    def on_step(self, info: StepInfo, ctx: RunContext) -> str:
        """Return "continue" or "stop" after each step."""
        return "continue"

    def on_error(self, error: BaseException, ctx: RunContext) -> Any:
        """Called when a model call fails for good. Return ``("stop", error)`` to end the run
        with it, or ``"retry"`` to try that step once more."""
        return ("stop", error)

    def __repr__(self) -> str:
        return f"<{self.name} model={self.model!r}>"


#: settings a subclass may define as methods ``def model(self, ctx) -> str`` (the seed's
#: callbacks) instead of attributes
CALLABLE_SETTINGS = ("model", "tools", "temperature", "max_steps", "max_tokens", "max_cost",
                     "extra_body", "stream", "base_url", "api_key", "context_window",
                     "reserve_tokens", "tool_timeout", "compaction", "reasoning_effort")


def settle(agent: Agent, ctx: RunContext) -> Agent:
    """The agent with each setting that is a method replaced by its value for this run (a
    shallow copy; the agent itself is untouched). The same agent when none is a method."""
    import inspect
    dynamic = {k: v for k in CALLABLE_SETTINGS
               if inspect.ismethod(v := getattr(agent, k, None))}
    if not dynamic:
        return agent
    import copy
    settled = copy.copy(agent)
    for k, fn in dynamic.items():
        setattr(settled, k, fn(ctx))
    return settled
