"""Running one step's tool calls: concurrently (at most ``agent.max_parallel_tools`` at once),
each validated, approved when it needs to be, timed out, and turned into a tool result the
model can read whatever happens. Cancelling the step cancels the running tools and still gives
every call a result, so the conversation stays consistent.

A running call may report progress (tool_progress.py: ToolProgress events between its
ToolStart and its ToolResult). A call that returns a ToolOutput with images gives a vision
model those images in one user message after the step's tool results (tool_images.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import time
from typing import TYPE_CHECKING, Any

from . import telemetry
from .agent import Agent, Approval, RunContext
from .events import MessageAdded, ToolResult, ToolStart
from .messages import Message, ToolCall
from .tools import Tool, ToolError, format_result, validate

if TYPE_CHECKING:  # loaded by the first step that calls a tool (a plain answer never does)
    from concurrent.futures import ThreadPoolExecutor

    from .tool_images import Attached

_EXECUTOR: ThreadPoolExecutor | None = None
#: worker threads for blocking (``def``) tools; the default pool has only cpu+4 workers
TOOL_THREADS = 64


def _executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    if _EXECUTOR is None:
        from concurrent.futures import ThreadPoolExecutor
        _EXECUTOR = ThreadPoolExecutor(TOOL_THREADS, thread_name_prefix="loomex-tool")
    return _EXECUTOR


def _emit_t(event: tuple[str, ...], measurements: dict[str, Any], metadata: dict[str, Any]) -> None:
    if telemetry.enabled(event):
        telemetry.execute(event, measurements, metadata)


async def run_tools(calls: list[ToolCall], tools: dict[str, Tool], agent: Agent,
                    ctx: RunContext, emit: Any, step: int, msgs: list[Message], *,
                    attach_images: bool = False) -> list[Message]:
    """The step's tool results, also appended to ``msgs`` (then the images message, when
    ``attach_images`` — the model takes images — and a result had some)."""
    from .tool_images import Attached
    sem = asyncio.Semaphore(max(1, agent.max_parallel_tools))
    images = Attached(attach_images)
    tasks = [asyncio.ensure_future(_run_one(c, tools, agent, ctx, emit, step, sem, images))
             for c in calls]
    try:
        results = list(await asyncio.gather(*tasks))
    except asyncio.CancelledError:
        for t in tasks:
            t.cancel()
        await asyncio.wait(tasks, timeout=5)
        results = []
        for c, t in zip(calls, tasks):
            if t.done() and not t.cancelled() and t.exception() is None:
                results.append(t.result())
            else:
                text = "Error: the tool call was cancelled (the run was interrupted)."
                emit(ToolResult(c.id, c.name, text, True, 0.0, step, "cancelled"))
                results.append(Message.tool(c.id, text, c.name))
        _add_results(msgs, results, images, emit, step)
        raise
    _add_results(msgs, results, images, emit, step)
    return results


def _add_results(msgs: list[Message], results: list[Message], images: Attached, emit: Any,
                 step: int) -> None:
    added = results + ([m] if (m := images.message()) is not None else [])
    msgs.extend(added)
    for m in added:
        emit(MessageAdded(m, step))


async def _run_one(call: ToolCall, tools: dict[str, Tool], agent: Agent, ctx: RunContext,
                   emit: Any, step: int, sem: asyncio.Semaphore, images: Attached) -> Message:
    t0 = time.perf_counter()
    meta = {"tool": call.name, "call_id": call.id, "step": step, "run_id": ctx.run_id}
    emit(ToolStart(call.id, call.name, step))
    from . import tool_progress
    from .tool_images import ToolOutput
    progress = tool_progress.begin(call.id, call.name, step, emit)
    status = "ok"
    tool = tools.get(call.name)
    try:
        if tool is None:
            status = "unknown_tool"
            known = ", ".join(tools) or "none"
            raise ToolError(f"unknown tool '{call.name}'. Available tools: {known}.")
        try:
            args = call.parsed_arguments()
        except ValueError as e:
            status = "invalid_arguments"
            raise ToolError(f"the arguments are not valid JSON ({e}): "
                            f"{call.arguments[:200]!r}") from None
        if not isinstance(args, dict):
            status = "invalid_arguments"
            raise ToolError("the arguments must be a JSON object")
        problems = validate(args, tool.parameters)
        if problems:
            status = "invalid_arguments"
            raise ToolError(f"invalid arguments for {tool.name}: " + "; ".join(problems[:8]))
        args = tool.prepare(args, ctx)
        if ctx.approver is not None and tool.needs_approval(args, ctx):
            decision = await _approve(tool, args, ctx, meta)
            if not decision.allowed:
                status = "denied"
                raise ToolError(f"denied: {decision.reason or 'not approved'}. The call did "
                                "not run; do not retry it unchanged.")
        timeout = tool.timeout if tool.timeout is not None else agent.tool_timeout
        async with sem:
            if tool.is_async:
                work = tool.execute(args, ctx)
            else:
                cv = contextvars.copy_context()
                work = asyncio.get_running_loop().run_in_executor(
                    _executor(), functools.partial(cv.run, tool.execute, args, ctx))
            try:  # in this task: wait_for would start another one for each call
                async with asyncio.timeout(timeout):
                    value = await work
            except TimeoutError:
                status = "timeout"
                raise ToolError(f"{tool.name} timed out after {timeout:g} s") from None
            if inspect.isawaitable(value):
                value = await value
        content = images.render(value, call.name) if isinstance(value, ToolOutput) \
            else format_result(value)
        is_error = False
    except asyncio.CancelledError:
        progress.done = True
        raise
    except ToolError as e:
        content, is_error = f"Error: {e}", True
        if status == "ok":
            status = "error"
    except Exception as e:  # noqa: BLE001 - every tool failure is a result the model reads
        content, is_error, status = f"Error: {type(e).__name__}: {e}", True, "error"
    progress.done = True
    duration = (time.perf_counter() - t0) * 1000
    emit(ToolResult(call.id, call.name, content, is_error, duration, step, status))
    return Message.tool(call.id, content, call.name)


async def _approve(tool: Tool, args: dict[str, Any], ctx: RunContext,
                   meta: dict[str, Any]) -> Approval:
    answer = ctx.approver(tool, args, ctx)  # type: ignore[misc]
    if inspect.isawaitable(answer):
        answer = await answer
    decision = answer if isinstance(answer, Approval) else Approval(bool(answer))
    _emit_t(("loomex", "tool", "approval"), {},
            {**meta, "allowed": decision.allowed, "reason": decision.reason,
             "source": decision.source, "subject": tool.approval_subject(args, ctx)})
    return decision


