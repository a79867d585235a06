"""What happens to the context before each model call: steps the loop calls through one small
interface (pi's ``transformContext``, pydantic-ai's ``history_processors``), so the loop stays
a loop. Two are built in: :class:`Compaction` (fit the window) and :class:`CostBudget` (stop
before the call that would take the run over ``max_cost``).

    class ContextStep(Protocol):
        async def before_call(self, run) -> str | None   # a finish reason ends the run
        async def on_overflow(self, run) -> bool          # True: changed, try the call again
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from . import compaction
from .events import Compacted
from .messages import Message
from .result import RunResult, add_usage

if TYPE_CHECKING:  # pragma: no cover
    from ..wire.resolve import ResolvedModel
    from .agent import Agent, RunContext

Emit = Callable[[Any], None]


@dataclass(slots=True)
class RunState:
    """One run as the loop and its context steps see it."""
    agent: "Agent"
    model: "ResolvedModel"
    messages: list[Message]
    ctx: "RunContext"
    result: RunResult
    emit: Emit
    tracker: compaction.Tracker = field(default_factory=compaction.Tracker)
    step: int = 0

    def spend(self, usage: dict[str, Any] | None) -> float | None:
        """Adds a model call's usage and cost to the run's; returns the call's cost."""
        r = self.result
        add_usage(r.usage, usage)
        cost = self.model.cost(usage)
        r.cost_usd = None if cost is None or r.cost_usd is None else r.cost_usd + cost
        return cost


class ContextStep(Protocol):
    async def before_call(self, run: RunState) -> str | None: ...

    async def on_overflow(self, run: RunState) -> bool: ...


class Compaction:
    """Compacts when the next prompt would overflow the window (and, forced, when the
    provider says it did); the summary call's tokens and cost count like any other."""

    async def before_call(self, run: RunState) -> str | None:
        await self._fit(run, False)
        return None

    async def on_overflow(self, run: RunState) -> bool:
        return await self._fit(run, True)

    @staticmethod
    async def _fit(run: RunState, force: bool) -> bool:
        done = await compaction.fit(run.agent, run.model, run.messages, run.tracker, run.spend,
                                    force=force,
                                    metadata={"step": run.step, "run_id": run.ctx.run_id})
        if done is None:
            return False
        run.emit(Compacted(done.tokens_before, done.tokens_after, done.removed, done.kept,
                           done.summarized, run.step))
        return True


class CostBudget:
    """Stops before a call that would take the run over ``agent.max_cost``: its cost is
    estimated from the prompt it will send plus an answer as long as the last one."""

    async def before_call(self, run: RunState) -> str | None:
        r = run.result
        last_out = int((r.step_usage[-1] if r.step_usage else {}).get("completion_tokens") or 0)
        nxt = run.model.cost({"prompt_tokens": run.tracker.tokens(run.messages),
                              "completion_tokens": last_out})
        over = (r.cost_usd or 0.0) + (nxt or 0.0) > float(run.agent.max_cost or 0.0)
        return "max_cost" if over else None

    async def on_overflow(self, run: RunState) -> bool:
        return False


def default_steps(agent: "Agent") -> list[ContextStep]:
    steps: list[ContextStep] = []
    if agent.compaction:
        steps.append(Compaction())
    if agent.max_cost is not None:
        steps.append(CostBudget())
    return steps
