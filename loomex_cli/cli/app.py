"""The Typer command tree. Thin: each command hands its options to a module that does the
work, imported only when that command runs (``--help`` stays light)."""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from typing import Any, Callable, List, Optional

import typer
from typer.core import TyperGroup

from .exits import CliError, code_for, say


class DefaultGroup(TyperGroup):
    """``loomex PROMPT...`` means ``loomex run PROMPT...``; a lone word close to a command
    name gets "did you mean" instead of an LLM call."""

    default = "run"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args:
            own = {o for p in self.get_params(ctx) for o in (*p.opts, *p.secondary_opts)}
            first = args[0]
            if first not in self.commands and first not in own:
                if len(args) == 1 and " " not in first and not first.startswith("-"):
                    match = difflib.get_close_matches(first, list(self.commands), 1, 0.75)
                    if match:
                        ctx.fail(f"No such command {first!r}. Did you mean {match[0]!r}? "
                                 f"(to send it as a prompt: {ctx.info_name} -- {first})")
                args = [self.default, *args]
        else:
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
           "6 rate limited, 7 limit reached, 130 interrupted.",
)
keys_app = typer.Typer(help="Manage stored API keys (keys.toml, mode 0600).", no_args_is_help=True,
                       rich_markup_mode=None)
config_app = typer.Typer(help="Where the config lives and what it says.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(keys_app, name="keys")
app.add_typer(config_app, name="config")
history_app = typer.Typer(help="Saved conversations: list (the default), show, export, rm.",
                          invoke_without_command=True, rich_markup_mode=None)
app.add_typer(history_app, name="history")


def _version(value: bool) -> None:
    if value:
        from .._version import __version__
        print(f"loomex {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", "-V", is_eager=True,
                                       callback=_version, help="Print the version.")) -> None:
    """loomex: an agent for your terminal, over any OpenAI-compatible API."""


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
    no_stdin: bool = False
    wait_stdin: bool = False
    verbose: bool = False
    no_reasoning: bool = False
    debug: bool = False
    max_cost: float | None = None
    #: continue the last saved conversation (-c) / a given one (--resume)
    cont: bool = False
    resume: str | None = None
    no_save: bool = False
    #: on a terminal, print the answer as it arrives (no Markdown rendering)
    raw: bool = False


def guarded(debug: bool, fn: Callable[[], Any]) -> Any:
    """Runs a command body: errors become one line on stderr and their exit code."""
    try:
        return fn()
    except typer.Exit:
        raise
    except CliError as e:
        say(str(e))
        raise typer.Exit(e.code) from None
    except KeyboardInterrupt:
        say("interrupted")
        raise typer.Exit(130) from None
    except Exception as e:  # noqa: BLE001
        from ..wire.errors import LoomexError
        if debug:
            import traceback
            traceback.print_exc()
        if isinstance(e, LoomexError):
            say(str(e))
        else:
            say(f"internal error: {type(e).__name__}: {e} (run with --debug for details)")
        raise typer.Exit(code_for(e)) from None


MODEL = typer.Option(None, "-m", "--model", help="provider/model-name, e.g. openrouter/anthropic/claude-sonnet-4")
TOOLS = typer.Option(None, "-t", "--tools", help="Tools to offer: bash,read_file,write_file,edit_file,grep,glob,human or 'all'")
SYSTEM = typer.Option(None, "-s", "--system", help="System prompt")
TEMP = typer.Option(None, "--temperature", help="Sampling temperature (default 0.1)")
STEPS = typer.Option(None, "--max-steps", help="Most model calls in one run (default 10)")
NO_STREAM = typer.Option(False, "--no-stream", help="Ask for the whole answer at once")
JSON = typer.Option(False, "--json", help="One JSON object per event on stdout, then the result")
QUIET = typer.Option(False, "-q", "--quiet", help="Only the answer: no progress, no usage line")
YES = typer.Option(False, "-y", "--yes", help="Approve tool calls that need approval (dangerous ones still need an allow rule)")
NO_STDIN = typer.Option(False, "--no-stdin", help="Never read stdin")
WAIT_STDIN = typer.Option(False, "--stdin", help="Wait for piped stdin however long it takes")
VERBOSE = typer.Option(False, "-v", "--verbose", help="Progress on stderr even when it is not a terminal")
NO_REASONING = typer.Option(False, "--no-reasoning", help="Hide the model's reasoning")
DEBUG = typer.Option(False, "--debug", help="Show tracebacks")
MAX_COST = typer.Option(None, "--max-cost", help="Stop before a model call that would take the run over this many USD (exit 7)")
NO_SAVE = typer.Option(False, "--no-save", help="Do not store this conversation")
RAW = typer.Option(False, "--raw", help="Print the answer as it arrives, without Markdown rendering")


@app.command(help="Run the agent once on PROMPT (the default command). Piped stdin is added as context.")
def run(prompt: Optional[List[str]] = typer.Argument(None, help="The instruction"),
        model: Optional[str] = MODEL, tools: Optional[str] = TOOLS,
        system: Optional[str] = SYSTEM, temperature: Optional[float] = TEMP,
        max_steps: Optional[int] = STEPS, no_stream: bool = NO_STREAM, json: bool = JSON,
        quiet: bool = QUIET, yes: bool = YES, no_stdin: bool = NO_STDIN,
        wait_stdin: bool = WAIT_STDIN, verbose: bool = VERBOSE,
        no_reasoning: bool = NO_REASONING, debug: bool = DEBUG,
        max_cost: Optional[float] = MAX_COST,
        cont: bool = typer.Option(False, "-c", "--continue", help="Continue the last saved conversation"),
        no_save: bool = NO_SAVE, raw: bool = RAW) -> None:
    opts = RunOptions(" ".join(prompt or []), model=model, tools=tools, system=system,
                      temperature=temperature, max_steps=max_steps, no_stream=no_stream,
                      json=json, quiet=quiet, yes=yes, no_stdin=no_stdin, wait_stdin=wait_stdin,
                      verbose=verbose, no_reasoning=no_reasoning, debug=debug,
                      max_cost=max_cost, cont=cont, no_save=no_save, raw=raw)

    def body() -> int:
        from .oneshot import run_once
        return run_once(opts)
    code = guarded(debug, body)
    raise typer.Exit(code or 0)


@app.command(help="An interactive conversation (the REPL).")
def chat(interactive: bool = typer.Option(True, "-i", "--interactive", help="Accepted as in the seed; chat is always interactive"),
         model: Optional[str] = MODEL, tools: Optional[str] = TOOLS,
         system: Optional[str] = SYSTEM, temperature: Optional[float] = TEMP,
         max_steps: Optional[int] = STEPS, no_stream: bool = NO_STREAM, yes: bool = YES,
         no_reasoning: bool = NO_REASONING, debug: bool = DEBUG,
         max_cost: Optional[float] = MAX_COST,
         cont: bool = typer.Option(False, "-c", "--continue", help="Continue the last saved conversation"),
         resume: Optional[str] = typer.Option(None, "--resume", help="Continue the saved conversation ID"),
         no_save: bool = NO_SAVE, raw: bool = RAW) -> None:
    opts = RunOptions(model=model, tools=tools, system=system, temperature=temperature,
                      max_steps=max_steps, no_stream=no_stream, yes=yes, no_stdin=True,
                      no_reasoning=no_reasoning, debug=debug, max_cost=max_cost, cont=cont,
                      resume=resume, no_save=no_save, raw=raw)

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
          debug: bool = DEBUG) -> None:
    opts = RunOptions(model=model, tools=tools, system=system, temperature=temperature,
                      max_steps=max_steps, no_stream=no_stream, no_stdin=True, debug=debug)

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


@app.command(help="The built-in tools and what each does.")
def tools() -> None:
    from .listing import list_tools
    guarded(False, list_tools)


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


def main(args: list[str] | None = None) -> None:
    try:
        app(args=args, prog_name="loomex")
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
