"""The built-in tools by name, and ``resolve_tools`` for ``--tools bash,grep`` / ``all``."""

from __future__ import annotations

from ..engine.tools import Tool
from .bash import BashTool
from .edit import EditFileTool
from .files import ReadFileTool, WriteFileTool
from .glob_tool import GlobTool
from .grep import GrepTool
from .human import HumanTool

BUILTINS: dict[str, type[Tool]] = {
    "read_file": ReadFileTool,
    "write_file": WriteFileTool,
    "edit_file": EditFileTool,
    "bash": BashTool,
    "grep": GrepTool,
    "glob": GlobTool,
    "human": HumanTool,
}

#: one line per tool, for ``loomex tools``
SUMMARIES: dict[str, str] = {name: getattr(cls, "summary", "") for name, cls in BUILTINS.items()}


def resolve_tools(spec: "str | list[str] | tuple[str, ...] | None") -> list[Tool]:
    """Fresh tool instances for ``"bash,grep"``, ``"all"`` or a list of names (an empty
    spec or ``"none"`` gives no tools). Unknown names raise ValueError with a one-line
    message listing the valid ones."""
    if spec is None:
        return []
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    unknown: list[str] = []
    mcp: list[str] = []  # NAME__tool, NAME__*, mcp: MCP servers' tools (loomex_cli/mcp)
    for item in items:
        name = str(item).strip()
        if not name or name == "none":
            continue
        if name == "all":
            names.extend(BUILTINS)
        elif name in BUILTINS:
            names.append(name)
        elif name == "mcp" or "__" in name:
            mcp.append(name)
        else:
            unknown.append(name)
    if unknown:
        which = ", ".join(repr(u) for u in unknown)
        raise ValueError(f"unknown tool{'s' if len(unknown) > 1 else ''} {which}; valid: "
                         f"{', '.join(BUILTINS)}, all, mcp, SERVER__tool, SERVER__*")
    seen: dict[str, None] = dict.fromkeys(names)
    tools = [BUILTINS[n]() for n in seen]
    if mcp:
        from ..mcp.registry import resolve  # only now: a run without MCP never imports it
        tools.extend(resolve(mcp))
    return tools
