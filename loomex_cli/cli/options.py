"""The options of run, chat and serve as plain data, apart from the Typer tree so that the
one-shot fast path (fast_run.py) builds them without importing Typer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RunOptions:
    """The flags of run, chat and serve (each command sets what it has)."""
    prompt: str = ""
    model: str | None = None
    tools: str | None = None
    system: str | None = None
    temperature: float | None = None
    max_steps: int | None = None
    no_stream: bool = False
    json: bool = False
    quiet: bool = False
    yes: bool = False
    #: --dangerously-allow-all: every tool call runs without asking
    allow_all: bool = False
    no_stdin: bool = False
    verbose: bool = False
    no_reasoning: bool = False
    debug: bool = False
    max_cost: float | None = None
    #: continue the last saved conversation (-c) / a given one (--resume)
    cont: bool = False
    resume: str | None = None
    no_save: bool = False
    #: --mcp-config FILE (repeatable): MCP servers in the mcpServers JSON
    mcp_config: list[str] | None = None
    #: on a terminal, print the answer as it arrives (no Markdown rendering)
    raw: bool = False
    #: --role NAME: [roles.NAME] of config.toml (flags given win over it)
    role: str | None = None
    #: --no-context-files: no AGENTS.md in the system prompt
    no_context_files: bool = False
    #: --schema: the answer is JSON matching it (inline JSON, a file, or the concise form)
    schema: str | None = None
    #: --effort: the reasoning effort (none, minimal, low, medium, high, xhigh, max)
    effort: str | None = None
    #: -x/--shell: ask for one shell command (cli/shell_mode.py)
    shell: bool = False
    #: -f/--file (text files, directories, globs) and -a/--attach (images): cli/attach.py
    files: list[str] | None = None
    attach: list[str] | None = None
