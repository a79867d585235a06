"""The agent loop, top to bottom.

    call the model (streaming) -> assemble the assistant message -> run its tool calls
    concurrently -> append the results in call order -> call the model again ... until it
    answers without tool calls, ``on_step`` says stop, or ``max_steps`` is reached.

Every failure inside a tool becomes a tool result the model can read. Cancelling the run
stops promptly, cancels running tools and leaves the messages consistent: every tool call has
a result, and what was streamed of an interrupted answer is kept. An exception (or a
cancellation) that leaves ``arun`` carries the partial :class:`RunResult` as ``.result``.

What happens to the context before each call (compaction, the cost budget) is in
context_steps.py; running a step's tool calls is tool_calls.py; judging a structured answer
(and its repair turn) is structured.py; the model is resolved by wire/resolve.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import ConfigError, ContextLengthError, ProviderError
from ..wire import client as wire
from ..wire.assemble import Assembled, Assembler
from ..wire.providers import Route
from ..wire.resolve import ResolvedModel, aresolve_model, with_route
from ..wire.retry import with_retry
from .agent import Agent, RunContext, StepInfo, settle
from .context_steps import ContextStep, RunState, default_steps
from .events import (MessageAdded, ModelCallFinish, ModelCallStart, ReasoningDelta, Retrying,
                     RunError, RunFinished, RunStart, StepFinish, StepStart, TextDelta,
                     ToolCallComplete, ToolCallDelta, ToolCallStart)
from .messages import Message, ToolCall
from .repair import calls_as_text, complete_history
from .result import RunResult
from .sinks import Dispatcher
from .telemetry_sink import sink_if_enabled, tracing_from_env, tracing_sink
from .terminal import terminal_asker
from .tool_calls import run_tools
from .tools import as_tool

if TYPE_CHECKING:  # pragma: no cover
    from .structured import Structured, Verdict

# -- public entry points ------------------------------------------------------------

async def arun(agent: Agent | type[Agent], messages: Iterable[Message | dict[str, Any]] | str,
               *, sink: Any = None, context: dict[str, Any] | None = None,
               ask_human: Callable[[str], Any] | None | str = "terminal",
               approver: Callable[..., Any] | None = None, max_steps: int | None = None,
               route: Route | None = None, model: ResolvedModel | None = None,
               output_type: Any = None) -> RunResult:
    """Runs the agent on ``messages`` (Message objects, OpenAI dicts, or one user string).
    ``model`` is the agent's model already resolved (the CLI passes the one it announced);
    without it the agent's model string is resolved here, exactly as the CLI does.
    ``ask_human`` answers the ``human`` tool; by default the question is asked on the
    terminal when there is one (None: nobody answers). ``output_type`` (else the agent's)
    asks for a validated structured answer: ``result.output`` (engine/structured.py)."""
    agent = agent() if isinstance(agent, type) else agent
    agent = settle(agent, RunContext(agent=agent, messages=[], deps=context or {}))
    resolved = model or await resolve_agent_model(agent, route)
    tools = {t.name: t for t in map(as_tool, agent.tools)}
    out = _structured(output_type or agent.output_type, resolved, list(tools))
    specs = [t.spec() for t in tools.values()]
    specs = (out.with_answer_tool(specs) if out is not None else specs) or None
    dispatcher = Dispatcher([sink, sink_if_enabled(), _tracing()])
    try:
        run = _start(agent, resolved, messages, dispatcher.emit, context, ask_human, approver)
    except BaseException:
        await _close(dispatcher)
        raise
    msgs, result, emit = run.messages, run.result, run.emit
    result.structured = out is not None
    limit = max_steps if max_steps is not None else agent.max_steps
    steps = default_steps(agent)
    started = time.perf_counter()
    emit(RunStart(agent.name, agent.model, run.ctx.run_id, run.ctx.deps))
    try:
        while True:
            if result.steps >= limit:
                result.finish_reason = "max_steps"
                break
            run.step = run.ctx.step = step = result.steps + 1
            if stop := await _before_call(steps, run):
                result.finish_reason = stop
                break
            emit(StepStart(step, agent.model, len(msgs)))
            assistant, turn = await _call_fitting(run, steps, specs, out)
            result.steps = step
            msgs.append(assistant)
            emit(MessageAdded(assistant, step))  # before anything runs: a store saves it first
            for i, c in enumerate(assistant.tool_calls or ()):
                emit(ToolCallComplete(c.id, c.name, c.arguments, i, step))
            run.tracker.update(turn.usage, len(msgs))
            step_cost = run.spend(turn.usage)
            result.step_usage.append(turn.usage or {})
            verdict, tool_results = await _act(run, assistant, out, tools)
            emit(StepFinish(step, turn.finish_reason, turn.usage or {},
                            len(assistant.tool_calls or ()), step_cost))
            if verdict is not None and verdict.error is not None:
                raise verdict.error  # still not valid after the repair turn
            decision = agent.on_step(StepInfo(step, assistant, tool_results, turn.usage or {},
                                              turn.finish_reason), run.ctx)
            if verdict is not None and verdict.done:
                result.output, result.output_json = verdict.value, verdict.json_value
                result.finish_reason = "stop"
                break
            more = bool(assistant.tool_calls) or verdict is not None  # tools ran, or a repair
            if not more or decision == "stop":
                result.finish_reason = "on_step" if more else "stop"
                break
    except (asyncio.CancelledError, Exception) as e:
        _finish(result, started, "cancelled" if isinstance(e, asyncio.CancelledError) else
                "error", None if isinstance(e, asyncio.CancelledError) else e, run.ctx, agent,
                emit)
        e.result = result  # type: ignore[attr-defined]
        await _close(dispatcher)
        raise
    _finish(result, started, result.finish_reason, None, run.ctx, agent, emit)
    await _close(dispatcher)
    return result


def _tracing() -> Any:
    """The run's OpenTelemetry sink, if tracing is on (``$OTEL_EXPORTER_OTLP_ENDPOINT`` turns
    it on at the first run: only then is opentelemetry imported)."""
    if tracing_from_env():
        try:
            from . import otel  # needs loomex[otel]
        except ImportError:
            import logging
            logging.getLogger("loomex").warning(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
                "(pip install 'loomex[otel]'): runs are not traced")
            return None
        otel.instrument_from_env()
    return tracing_sink()


def _start(agent: Agent, resolved: ResolvedModel,
           messages: Iterable[Message | dict[str, Any]] | str, emit: Callable[[Any], None],
           context: dict[str, Any] | None, ask_human: Callable[[str], Any] | None | str,
           approver: Callable[..., Any] | None) -> RunState:
    """The run's state: the messages (a history left without tool results is completed, the
    system prompt put first), its context, and an empty result."""
    if isinstance(messages, str):
        messages = [Message.user(messages)]
    msgs = complete_history([m if isinstance(m, Message) else Message.from_dict(m)
                             for m in messages])  # a call left without a result gets one
    if ask_human == "terminal":
        ask_human = terminal_asker() if any(t.name == "human" for t in map(as_tool, agent.tools)) \
            else None
    ctx = RunContext(agent=agent, messages=msgs, deps=context or {}, run_id=os.urandom(16).hex(),
                     ask_human=ask_human, approver=approver)
    sp = agent.system_prompt
    sp = sp(ctx) if callable(sp) else sp
    if sp and not (msgs and msgs[0].role == "system"):
        msgs.insert(0, Message.system(sp))
    if agent.max_cost is not None and resolved.prices is None:
        raise ConfigError(f"cannot keep to max_cost: the price of {agent.model} is unknown")
    result = RunResult(msgs, cost_usd=0.0 if resolved.prices is not None else None)
    return RunState(agent, resolved, msgs, ctx, result, emit)


async def _before_call(steps: list[ContextStep], run: RunState) -> str | None:
    for s in steps:
        if stop := await s.before_call(run):
            return stop
    return None


async def _call_fitting(run: RunState, steps: list[ContextStep],
                        specs: list[dict[str, Any]] | None,
                        out: Structured | None) -> tuple[Message, Assembled]:
    """One model call; when the provider says the prompt does not fit, the context steps get
    one chance to change it (compaction) and the call is tried once more."""
    try:
        return await _call_model(run.agent, run.model, run.messages, specs, run.step, run.emit,
                                 run.ctx, out)
    except ContextLengthError as e:
        if e.after_output or not any([await s.on_overflow(run) for s in steps]):
            raise
    try:
        return await _call_model(run.agent, run.model, run.messages, specs, run.step, run.emit,
                                 run.ctx, out)
    except ContextLengthError as again:
        again.message = ("the conversation does not fit the model's context window even after "
                         f"compaction: {again.message}")
        again.args = (again.message,)
        raise


def run(agent: Agent | type[Agent], messages: Iterable[Message | dict[str, Any]] | str,
        **kwargs: Any) -> RunResult:
    """The blocking form of :func:`arun` (runs its own event loop)."""
    async def main() -> RunResult:
        try:
            return await arun(agent, messages, **kwargs)
        finally:
            await wire.close_client()
    return asyncio.run(main())


# -- one model call ------------------------------------------------------------------

async def resolve_agent_model(agent: Agent, route: Route | None = None) -> ResolvedModel:
    """The agent's model resolved as the CLI resolves it (``route``: a caller's own route)."""
    if route is not None:
        return with_route(route, agent.model, agent.model_info)
    return await aresolve_model(agent.model, base_url=agent.base_url, api_key=agent.api_key,
                                info=agent.model_info)


async def _call_model(agent: Agent, resolved: ResolvedModel, msgs: list[Message], specs: Any,
                      step: int, emit: Any, ctx: RunContext,
                      out: Structured | None = None) -> tuple[Message, Assembled]:
    route = resolved.route
    echo = route.echo_reasoning
    effort = _effort(agent.reasoning_effort or route.effort, resolved)
    sent = msgs  # msgs itself: an interrupted answer is kept in it
    if resolved.accepts_images is False:  # a text-only model now (-c -m, /model): the images
        sent = [m for m in msgs if "tool_images" not in m.extra]  # tools gave stay described
    # calls of tools this request does not offer (-c after --schema or -t) go as text
    sent = calls_as_text(sent, {s["function"]["name"] for s in specs or ()})
    body = wire.build_body(route, [m.to_wire(echo) for m in sent], specs, stream=agent.stream,
                           temperature=resolved.temperature(agent.temperature),
                           max_tokens=agent.max_tokens, extra_body=agent.extra_body,
                           effort=effort, **(out.body_fields() if out is not None else {}))

    def on_text(t: str) -> None:
        emit(TextDelta(t, step))

    def on_reasoning(t: str) -> None:
        emit(ReasoningDelta(t, step))

    def on_tool_start(i: int, cid: str, name: str) -> None:
        emit(ToolCallStart(cid, name, i, step))

    def on_tool_delta(i: int, cid: str, piece: str) -> None:
        emit(ToolCallDelta(cid, i, piece, step))

    asm = Assembler(provider=route.provider)

    async def attempt() -> Assembled:
        nonlocal asm
        asm = Assembler(on_text, on_reasoning, on_tool_start, on_tool_delta, route.provider)
        return await wire.chat(route, body, asm)

    def on_retry(attempt_no: int, delay: float, err: ProviderError) -> None:
        emit(Retrying(step, attempt_no, delay, str(err)))

    t0 = time.perf_counter()
    emit(ModelCallStart(step, agent.model, len(sent)))

    def failed(why: str, error: BaseException | None) -> None:
        _keep_partial(asm, msgs, why, emit, step)
        emit(ModelCallFinish(step, agent.model, why, {}, (time.perf_counter() - t0) * 1000,
                             str(error) if error is not None else None))
    retried_by_agent = False
    while True:
        try:
            turn = await with_retry(attempt, agent.retry, on_retry)
            break
        except asyncio.CancelledError:
            failed("cancelled", None)
            raise
        except ProviderError as e:
            failed("error", e)
            action = agent.on_error(e, ctx)
            if (action == "retry" or isinstance(action, tuple) and action[0] == "retry") \
                    and not retried_by_agent and not e.after_output:
                retried_by_agent = True
                continue
            if isinstance(action, tuple) and len(action) > 1 and isinstance(action[1], BaseException):
                raise action[1] from (None if action[1] is e else e)
            raise
    emit(ModelCallFinish(step, agent.model, turn.finish_reason, turn.usage or {},
                         (time.perf_counter() - t0) * 1000))
    calls = [ToolCall(c.id, c.name, c.arguments) for c in turn.tool_calls] or None
    return Message("assistant", turn.content, calls, reasoning=turn.reasoning), turn


def _structured(output_type: Any, resolved: ResolvedModel,
                tool_names: list[str]) -> Structured | None:
    if output_type is None:
        return None
    from .structured import structured_output  # only for runs that ask for it
    return structured_output(output_type, resolved, tool_names)


def _effort(wanted: str | None, resolved: ResolvedModel) -> str | None:
    if wanted is None:
        return None
    from ..wire.effort import choose_effort  # only for runs that ask for it
    return choose_effort(wanted, resolved).value


async def _act(run: RunState, assistant: Message, out: Structured | None,
               tools: dict[str, Any]) -> tuple[Verdict | None, list[Message]]:
    """What follows the model's turn: a structured answer is judged (the verdict's messages
    are added: a repair request, or the answer call's result), or the tool calls run."""
    verdict = out.judge(assistant) if out is not None else None
    if verdict is not None:
        run.messages.extend(verdict.messages)
        for m in verdict.messages:
            run.emit(MessageAdded(m, run.step))
        return verdict, verdict.messages
    if assistant.tool_calls:
        return None, await run_tools(assistant.tool_calls, tools, run.agent, run.ctx, run.emit,
                                     run.step, run.messages,
                                     attach_images=run.model.accepts_images is True)
    return None, []


def _keep_partial(asm: Assembler, msgs: list[Message], why: str, emit: Any, step: int) -> None:
    """What was streamed of an interrupted answer stays in the conversation (no tool calls:
    they may be incomplete, and a call without a result would be inconsistent)."""
    text, reasoning = asm.partial_text(), asm.partial_reasoning()
    if text or reasoning:
        msgs.append(Message("assistant", text or None, reasoning=reasoning or None,
                            extra={"interrupted": why}))
        emit(MessageAdded(msgs[-1], step))


# -- the end -------------------------------------------------------------------------

def _finish(result: RunResult, started: float, reason: str, error: BaseException | None,
            ctx: RunContext, agent: Agent, emit: Any) -> None:
    result.finish_reason = reason
    result.error = error
    result.duration_ms = (time.perf_counter() - started) * 1000
    if error is not None:
        emit(RunError(str(error), getattr(error, "kind", type(error).__name__)))
    emit(RunFinished(result))


async def _close(dispatcher: Dispatcher) -> None:
    try:
        await dispatcher.aclose()
    except asyncio.CancelledError:
        pass
