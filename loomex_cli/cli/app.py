"""The Typer command tree. Thin: each command hands its options to a module that does the
work, imported only when that command runs (``--help`` stays light)."""

from __future__ import annotations

import difflib
from typing import Any, Callable, List, Optional

import typer
from typer.core import TyperGroup

from .exits import run_guarded, say
from .options import RunOptions


class DefaultGroup(TyperGroup):
    """``loomex PROMPT...`` means ``loomex run PROMPT...``; a lone word close to a command
    name gets "did you mean" instead of an LLM call."""

    default = "run"
    #: how to pass a word that looks like a misspelt command to the default command
    as_argument = "to send it as a prompt: {} -- {}"
    #: no arguments but piped stdin: run the default command (`echo hi | loomex`)
    piped_runs_default = True

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta["loomex.argv"] = list(args)  # where a "--" was (loomex mcp ... -- COMMAND)
        if args:
            own = {o for p in self.get_params(ctx) for o in (*p.opts, *p.secondary_opts)}
            first = args[0]
            if first not in self.commands and first not in own:
                if len(args) == 1 and " " not in first and not first.startswith("-"):
                    match = difflib.get_close_matches(first, list(self.commands), 1, 0.75)
                    if match:
                        ctx.fail(f"No such command {first!r}. Did you mean {match[0]!r}? "
                                 f"({self.as_argument.format(ctx.info_name, first)})")
                args = [self.default, *args]
        elif self.piped_runs_default:
            from .stdin import stdin_kind
            if stdin_kind() in ("pipe", "file"):
                args = [self.default]  # `echo hi | loomex`
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=DefaultGroup, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    pretty_exceptions_enable=False, subcommand_metavar="PROMPT | COMMAND [ARGS]...",
    context_settings={"help_option_names": ["-h", "--help"]},
    help="loomex: an agent for your terminal, over any OpenAI-compatible API.",
    epilog='Prompts that start with "-": loomex -- "-x is a flag?"  '
           "Exit codes: 0 ok, 1 internal, 2 usage, 3 config, 4 auth, 5 provider, "
           "6 rate limited, 7 limit reached, 8 answer not matching --schema, 130 interrupted (143 SIGTERM, 129 SIGHUP), "
           "141 stdout closed (| head).",
)
keys_app = typer.Typer(help="Manage stored API keys (keys.toml, mode 0600).", no_args_is_help=True,
                       rich_markup_mode=None)
config_app = typer.Typer(help="Where the config lives and what it says.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(keys_app, name="keys")
app.add_typer(config_app, name="config")
mcp_app = typer.Typer(help="MCP servers: list them, their tools, call one by hand.",
                      no_args_is_help=True, rich_markup_mode=None)
app.add_typer(mcp_app, name="mcp")


class HistoryGroup(DefaultGroup):
    """``loomex history QUERY`` and ``loomex history -n 5`` mean ``history list ...``."""
    default = "list"
    as_argument = "to search for it: {} list {}"
    piped_runs_default = False


history_app = typer.Typer(cls=HistoryGroup, invoke_without_command=True,
                          rich_markup_mode=None,
                          help="Saved conversations: list (the default: `loomex history "
                               "[QUERY] [-n N]`), show, export, rm.")
app.add_typer(history_app, name="history")
tools_app = typer.Typer(help="The built-in tools: list (the default), check.",
                        invoke_without_command=True, rich_markup_mode=None)
app.add_typer(tools_app, name="tools")


def _version(value: bool) -> None:
    if value:
        from .._version import __version__
        print(f"loomex {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", "-V", is_eager=True,
                                       callback=_version, help="Print the version.")) -> None:
    """loomex: an agent for your terminal, over any OpenAI-compatible API."""


def guarded(debug: bool, fn: Callable[[], Any]) -> Any:
    """Runs a command body: errors become one line on stderr and their exit code."""
    value, code = run_guarded(debug, fn, (typer.Exit,))
    if code is not None:
        raise typer.Exit(code)
    return value


MODEL = typer.Option(None, "-m", "--model", metavar="MODEL", help="provider/model-name (e.g. openrouter/anthropic/claude-sonnet-4), a short name (gpt-4.1-mini) or an [aliases] name")
TOOLS = typer.Option(None, "-t", "--tools", metavar="LIST", help="Tools to offer, comma-separated: bash, read_file, write_file, edit_file, grep, glob, human, or 'all'; MCP: SERVER__tool, SERVER__*, 'mcp' (all)")
SYSTEM = typer.Option(None, "-s", "--system", metavar="TEXT", help="System prompt")
TEMP = typer.Option(None, "--temperature", metavar="T", help="Sampling temperature (default 0.1)")
STEPS = typer.Option(None, "--max-steps", metavar="N", help="Most model calls in one run (default 10)")
NO_STREAM = typer.Option(False, "--no-stream", help="Ask for the whole answer at once")
JSON = typer.Option(False, "--json", help="One JSON object per event on stdout, then the result")
QUIET = typer.Option(False, "-q", "--quiet", help="Only the answer: no progress, no usage line")
YES = typer.Option(False, "-y", "--yes", help="Approve tool calls that need approval (dangerous ones still need an allow rule)")
ALLOW_ALL = typer.Option(False, "--dangerously-allow-all", help="Run every tool call without asking, dangerous ones too (deny rules still refuse). Only in a throwaway environment")
NO_STDIN = typer.Option(False, "--no-stdin", help="Never read stdin")
WAIT_STDIN = typer.Option(False, "--stdin", hidden=True, help="No effect: piped stdin is always read to EOF (kept so old scripts work)")
VERBOSE = typer.Option(False, "-v", "--verbose", help="Progress on stderr even when it is not a terminal")
NO_REASONING = typer.Option(False, "--no-reasoning", help="Hide the model's reasoning")
DEBUG = typer.Option(False, "--debug", help="Show tracebacks")
MAX_COST = typer.Option(None, "--max-cost", metavar="USD", help="Stop before a model call that would take the run over this many USD (exit 7)")
NO_SAVE = typer.Option(False, "--no-save", help="Do not store this conversation")
MCP_CONFIG = typer.Option(None, "--mcp-config", metavar="FILE", help="A JSON file of MCP servers ({\"mcpServers\": ...}), on top of config.toml")
RAW = typer.Option(False, "--raw", help="Print the answer as it arrives, without Markdown rendering")
ROLE = typer.Option(None, "--role", metavar="NAME", help="Use [roles.NAME] of config.toml: its system prompt, model, tools, temperature (flags given win)")
NO_CONTEXT = typer.Option(False, "--no-context-files", help="Do not add AGENTS.md files (config dir, repository root down to here) to the system prompt")
SCHEMA = typer.Option(None, "--schema", metavar="SCHEMA", help="Answer with JSON matching this: a JSON Schema (inline or a file) or 'name str, age int, tags list[str]'. stdout gets only the JSON (exit 8 if the answer does not match after one repair turn)")
EFFORT = typer.Option(None, "--effort", metavar="LEVEL", help="Reasoning effort: minimal, low, medium, high (none, xhigh, max where the model takes them); left out for a model that does not reason")
FILES = typer.Option(None, "-f", "--file", metavar="PATH|DIR|GLOB", help="Add text files to the message, each in a block labelled with its path (a directory or glob: as grep/glob walk it). Repeatable")
ATTACH = typer.Option(None, "-a", "--attach", metavar="PATH|URL", help="Add an image (png, jpeg, webp, gif; an http(s) URL is passed on) for a model that takes images. Repeatable")


@app.command(help="Run the agent once on PROMPT (the default command). Piped stdin is added as context.")
def run(prompt: Optional[List[str]] = typer.Argument(None, help="The instruction"),
        model: Optional[str] = MODEL, tools: Optional[str] = TOOLS,
        system: Optional[str] = SYSTEM, temperature: Optional[float] = TEMP,
        max_steps: Optional[int] = STEPS, no_stream: bool = NO_STREAM, json: bool = JSON,
        quiet: bool = QUIET, yes: bool = YES, allow_all: bool = ALLOW_ALL,
        no_stdin: bool = NO_STDIN,
        _wait_stdin: bool = WAIT_STDIN, verbose: bool = VERBOSE,
        no_reasoning: bool = NO_REASONING, debug: bool = DEBUG,
        max_cost: Optional[float] = MAX_COST,
        cont: bool = typer.Option(False, "-c", "--continue", help="Continue the last saved conversation"),
        no_save: bool = NO_SAVE, mcp_config: Optional[List[str]] = MCP_CONFIG,
        raw: bool = RAW, role: Optional[str] = ROLE,
        no_context_files: bool = NO_CONTEXT, schema: Optional[str] = SCHEMA,
        effort: Optional[str] = EFFORT,
        shell: bool = typer.Option(False, "-x", "--shell", help="Suggest one command for your shell: on a terminal run, edit, describe or copy it; otherwise print it"),
        files: Optional[List[str]] = FILES, attach: Optional[List[str]] = ATTACH) -> None:
    opts = RunOptions(" ".join(prompt or []), model=model, tools=tools, system=system,
                      temperature=temperature, max_steps=max_steps, no_stream=no_stream,
                      json=json, quiet=quiet, yes=yes, allow_all=allow_all, no_stdin=no_stdin,
                      verbose=verbose, no_reasoning=no_reasoning, debug=debug,
                      max_cost=max_cost, cont=cont, no_save=no_save, mcp_config=mcp_config,
                      raw=raw, role=role, no_context_files=no_context_files,
                      schema=schema, effort=effort, shell=shell, files=files, attach=attach)

    def body() -> int:
        from .oneshot import run_once
        return run_once(opts)
    code = guarded(debug, body)
    raise typer.Exit(code or 0)


@app.command(help="An interactive conversation (the REPL).")
def chat(first: Optional[str] = typer.Argument(None, metavar="[MESSAGE]", help="A first message, sent as the REPL starts (`loomex chat --tools bash,grep \"Find all TODOs\"`)"),
         interactive: bool = typer.Option(True, "-i", "--interactive", help="Accepted for compatibility; chat is always interactive"),
         model: Optional[str] = MODEL, tools: Optional[str] = TOOLS,
         system: Optional[str] = SYSTEM, temperature: Optional[float] = TEMP,
         max_steps: Optional[int] = STEPS, no_stream: bool = NO_STREAM, yes: bool = YES,
         allow_all: bool = ALLOW_ALL, no_reasoning: bool = NO_REASONING, debug: bool = DEBUG,
         max_cost: Optional[float] = MAX_COST,
         cont: bool = typer.Option(False, "-c", "--continue", help="Continue the last saved conversation"),
         resume: Optional[str] = typer.Option(None, "--resume", metavar="ID", help="Continue the saved conversation ID"),
         no_save: bool = NO_SAVE, mcp_config: Optional[List[str]] = MCP_CONFIG,
         raw: bool = RAW, role: Optional[str] = ROLE,
         no_context_files: bool = NO_CONTEXT, effort: Optional[str] = EFFORT,
         files: Optional[List[str]] = FILES, attach: Optional[List[str]] = ATTACH) -> None:
    opts = RunOptions(model=model, tools=tools, system=system, temperature=temperature,
                      max_steps=max_steps, no_stream=no_stream, yes=yes, allow_all=allow_all,
                      no_stdin=True, no_reasoning=no_reasoning, debug=debug, max_cost=max_cost, cont=cont,
                      resume=resume, no_save=no_save, mcp_config=mcp_config, raw=raw,
                      prompt=first or "", role=role, no_context_files=no_context_files,
                      effort=effort, files=files, attach=attach)

    def body() -> int:
        from .repl import run_repl
        return run_repl(opts)
    code = guarded(debug, body)
    raise typer.Exit(code or 0)


@app.command(help="Serve the agent over HTTP: a chat page at / and the AI SDK (useChat) "
                  "stream at /api/chat. Tool calls that need approval run only when a config "
                  "rule allows them.")
def serve(host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this machine only)"),
          port: int = typer.Option(8000, "--port", help="Port (0: any free one)"),
          model: Optional[str] = MODEL, tools: Optional[str] = TOOLS,
          system: Optional[str] = SYSTEM, temperature: Optional[float] = TEMP,
          max_steps: Optional[int] = STEPS, no_stream: bool = NO_STREAM,
          debug: bool = DEBUG, mcp_config: Optional[List[str]] = MCP_CONFIG,
          role: Optional[str] = ROLE, no_context_files: bool = NO_CONTEXT,
          effort: Optional[str] = EFFORT) -> None:
    opts = RunOptions(model=model, tools=tools, system=system, temperature=temperature,
                      max_steps=max_steps, no_stream=no_stream, no_stdin=True, debug=debug,
                      mcp_config=mcp_config, role=role, no_context_files=no_context_files,
                      effort=effort)

    def body() -> int:
        from .serve import serve as run_server
        return run_server(opts, host, port)
    code = guarded(debug, body)
    raise typer.Exit(code or 0)


@keys_app.command("set", help="Store a key for PROVIDER (read without echo, or from piped stdin).")
def keys_set(provider: str = typer.Argument(..., help="Provider name, e.g. openrouter")) -> None:
    from .keys import set_key
    guarded(False, lambda: set_key(provider))


@keys_app.command("list", help="Each provider, its masked key, and where the key comes from.")
def keys_list() -> None:
    from .keys import list_keys
    guarded(False, list_keys)


@keys_app.command("remove", help="Remove the stored key of PROVIDER.")
def keys_remove(provider: str = typer.Argument(...)) -> None:
    from .keys import remove_key
    guarded(False, lambda: remove_key(provider))


@config_app.command("path", help="Print where config.toml lives.")
def config_path_cmd() -> None:
    from ..wire.config import config_path
    print(config_path())


@config_app.command("show", help="Print config.toml and keys.toml with keys masked.")
def config_show() -> None:
    from .keys import show_config
    guarded(False, show_config)


@app.command(help="Models known for the configured providers.")
def models(query: Optional[List[str]] = typer.Argument(None, help="Search words (all must match)"),
           json: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    from .listing import list_models
    guarded(False, lambda: list_models(" ".join(query or []) or None, json))


@tools_app.callback()
def tools_default(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:  # `loomex tools` = `loomex tools list`
        from .listing import list_tools
        guarded(False, list_tools)


@tools_app.command("list", help="The built-in tools and what each does.")
def tools_list() -> None:
    from .listing import list_tools
    guarded(False, list_tools)


@tools_app.command("check", help="How loomex reads a bash COMMAND: its simple commands, the "
                                 "config rule matching each, the danger, and the verdict. Exit "
                                 "0 allow, 10 ask a person, 11 deny.")
def tools_check(command: str = typer.Argument(..., metavar="COMMAND"),
                yes: bool = typer.Option(False, "-y", "--yes", help="Decide as under --yes"),
                no_terminal: bool = typer.Option(False, "--no-terminal", help="Decide as when nobody can be asked")) -> None:
    from .tools_check import check_command
    raise typer.Exit(guarded(False, lambda: check_command(command, yes=yes,
                                                          terminal=not no_terminal)))


@history_app.callback()
def history_default(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:  # `loomex history` = `loomex history list`
        from .history import list_conversations
        guarded(False, list_conversations)


@history_app.command("list", help="Saved conversations, newest first: id, time, model, first line.")
def history_list(query: Optional[str] = typer.Argument(None, help="Only those whose id, title, model, directory or messages contain this"),
                 limit: int = typer.Option(50, "-n", "--limit", help="Show at most N")) -> None:
    from .history import list_conversations
    guarded(False, lambda: list_conversations(limit, query))


@history_app.command("show", help="Print a saved conversation (ID: a unique prefix, or 'last').")
def history_show(conv_id: str = typer.Argument(..., metavar="ID")) -> None:
    from .history import show_conversation
    guarded(False, lambda: show_conversation(conv_id))


@history_app.command("export", help="Write a saved conversation as Markdown or lossless JSON.")
def history_export(conv_id: str = typer.Argument(..., metavar="ID"),
                   format: str = typer.Option("md", "-f", "--format", help="md or json"),
                   output: Optional[str] = typer.Option(None, "-o", "--output", help="Write to FILE instead of stdout")) -> None:
    from .history import export_conversation
    guarded(False, lambda: export_conversation(conv_id, format, output))


@history_app.command("rm", help="Delete a saved conversation.")
def history_rm(conv_id: str = typer.Argument(..., metavar="ID")) -> None:
    from .history import remove_conversation
    guarded(False, lambda: remove_conversation(conv_id))


_RAW = {"allow_extra_args": True, "ignore_unknown_options": True}


@mcp_app.command("list", help="Configured MCP servers: state, tool count, command or URL (secrets masked).")
def mcp_list(mcp_config: Optional[List[str]] = MCP_CONFIG,
             json: bool = typer.Option(False, "--json", help="JSON output")) -> None:
    from .mcp_cmd import list_servers
    raise typer.Exit(guarded(False, lambda: list_servers(mcp_config or [], json)) or 0)


@mcp_app.command("tools", context_settings=_RAW,
                 help="The tools of SERVER (a configured name, an http(s):// URL, or a command after --).")
def mcp_tools_cmd(ctx: typer.Context, mcp_config: Optional[List[str]] = MCP_CONFIG,
                  json: bool = typer.Option(False, "--json", help="The server's tool list as JSON")) -> None:
    from .mcp_cmd import list_tools, split_dashdash
    args, command = split_dashdash(ctx)
    raise typer.Exit(guarded(False, lambda: list_tools(args, command, mcp_config or [], json)) or 0)


@mcp_app.command("call", context_settings=_RAW,
                 help="Call TOOL of SERVER with JSON arguments: loomex mcp call SERVER TOOL '{...}' (or TOOL '{...}' -- COMMAND ARGS...).")
def mcp_call_cmd(ctx: typer.Context, mcp_config: Optional[List[str]] = MCP_CONFIG,
                 json: bool = typer.Option(False, "--json", help="The raw result as JSON")) -> None:
    from .mcp_cmd import call_tool, split_dashdash
    args, command = split_dashdash(ctx)
    raise typer.Exit(guarded(False, lambda: call_tool(args, command, mcp_config or [], json)) or 0)


def main(args: list[str] | None = None) -> None:
    """The Typer tree's entry (the console entry, fast_run.main, comes here for anything but a
    plain one-shot; keep run() to building RunOptions and calling run_once, as fast_run does)."""
    from .exits import exit_flushed
    from .interrupt import exit_on_signals
    exit_on_signals()
    code: Any = 0
    try:
        app(args=args, prog_name="loomex")
    except SystemExit as e:
        code = e.code
    except KeyboardInterrupt:
        say("interrupted")
        code = 130
    exit_flushed(code)
