"""The built-in tools (bash, read_file, write_file, edit_file, grep, glob, human) and the
approval policy. Nothing here touches the terminal.

    from loomex_cli.tools import resolve_tools, Policy
    agent = Agent(model=..., tools=resolve_tools("all"))
    run(agent, prompt, approver=Policy(config.get("tools"), ask=..., yes=False, cwd=cwd),
        context={"cwd": cwd})

Names resolve lazily, so importing this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "BUILTINS": "registry", "SUMMARIES": "registry", "resolve_tools": "registry",
    "BashTool": "bash", "ReadFileTool": "files", "WriteFileTool": "files",
    "EditFileTool": "edit", "GrepTool": "grep", "GlobTool": "glob_tool",
    "HumanTool": "human",
    "Policy": "policy", "ApprovalRequest": "policy", "ApprovalAnswer": "policy",
    "normalize_rules": "policy",
    "command_danger": "danger", "path_danger": "paths",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from .bash import BashTool
    from .danger import command_danger
    from .edit import EditFileTool
    from .files import ReadFileTool, WriteFileTool
    from .glob_tool import GlobTool
    from .grep import GrepTool
    from .human import HumanTool
    from .paths import path_danger
    from .policy import ApprovalAnswer, ApprovalRequest, Policy, normalize_rules
    from .registry import BUILTINS, SUMMARIES, resolve_tools
