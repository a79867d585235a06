"""loomex: AI agents over any OpenAI-compatible chat-completions API.

    from loomex_cli import Agent, Tool, tool, Message, run, arun

Public names resolve lazily, so ``import loomex_cli`` (and ``loomex --version``) imports no
HTTP client, no Rich, no Typer and no prompt_toolkit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS: dict[str, str] = {
    "Agent": "engine.agent", "Approval": "engine.agent", "RunContext": "engine.agent",
    "StepInfo": "engine.agent",
    "Tool": "engine.tools", "tool": "engine.tools", "ToolError": "engine.tools",
    "Message": "engine.messages", "ToolCall": "engine.messages",
    "RunResult": "engine.result",
    "run": "engine.loop", "arun": "engine.loop",
    "start_agent": "engine.session", "astart_agent": "engine.session",
    "AgentHandle": "engine.session", "SyncAgentHandle": "engine.session",
    "telemetry": "engine.telemetry",
    "TextDelta": "engine.events", "ReasoningDelta": "engine.events",
    "ToolCallStart": "engine.events", "ToolCallDelta": "engine.events",
    "ToolCallComplete": "engine.events", "ToolResult": "engine.events",
    "StepStart": "engine.events", "StepFinish": "engine.events", "Retrying": "engine.events",
    "RunError": "engine.events", "RunFinished": "engine.events",
    "MessageAdded": "engine.events", "Compacted": "engine.events",
    "RunStart": "engine.events", "ModelCallStart": "engine.events",
    "ModelCallFinish": "engine.events", "ToolStart": "engine.events",
    "ToolProgress": "engine.events", "report_progress": "engine.tool_progress",
    "LoomexError": "errors", "ConfigError": "errors", "ProviderError": "errors",
    "AuthError": "errors", "NotFoundError": "errors",
    "BadRequestError": "errors", "ContextLengthError": "errors",
    "RateLimitError": "errors", "ServerError": "errors",
    "ConnectError": "errors", "StreamError": "errors",
    "IdleTimeoutError": "errors", "SchemaMismatch": "errors",
    "RetryPolicy": "wire.retry",
    "mcp_tools": "mcp",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'loomex_cli' has no attribute {name!r}")
    import importlib
    module = importlib.import_module(f"{__name__}.{mod}")
    value = module if mod.endswith("." + name) else getattr(module, name)  # a module export
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from .engine import telemetry
    from .engine.agent import Agent, Approval, RunContext, StepInfo
    from .engine.events import (Compacted, MessageAdded, ReasoningDelta, Retrying, RunError,
                                RunFinished, StepFinish, StepStart, TextDelta,
                                ToolCallComplete, ToolCallDelta, ToolCallStart, ToolResult)
    from .engine.loop import arun, run
    from .engine.session import AgentHandle, SyncAgentHandle, astart_agent, start_agent
    from .engine.messages import Message, ToolCall
    from .engine.result import RunResult
    from .engine.tools import Tool, ToolError, tool
    from .errors import (AuthError, BadRequestError, ConfigError, ConnectError,
                              ContextLengthError, IdleTimeoutError, LoomexError, NotFoundError,
                              ProviderError, RateLimitError, SchemaMismatch, ServerError,
                              StreamError)
    from .wire.retry import RetryPolicy
    from .mcp import mcp_tools
