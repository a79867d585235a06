"""``loomex PROMPT [FLAGS]`` without Typer: the console entry reads a plain one-shot itself and
hands everything else to the Typer tree (app.py) unchanged.

Typer (with its copy of Click) and the command tree it builds from the signatures cost about
a fifth of a one-shot's start. The fast path takes only argv it understands completely: the
first word is not a command (``run`` aside) and not one lone word (Typer may answer "did you
mean"), and every other token is a flag of ``run`` in :data:`FLAGS`, :data:`VALUES` or
:data:`LISTS`, a value that Click would read the same way, a prompt word, or ``--``. Anything
else (a new flag, ``-h``, a bad number, ``-qy``, ``--model=x``) goes to Typer, so new flags
work at once and every error reads as before. tests/test_fast_run.py proves that both ways
build the same RunOptions, print the same and exit with the same code, and that these tables
agree with the Click parameters of ``run``.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

from .exits import exit_flushed, run_guarded, say

#: the commands of the Typer tree (a test keeps this equal to app.py's)
COMMANDS = frozenset({"run", "chat", "serve", "keys", "config", "mcp", "models", "history",
                      "tools"})
#: flags of ``run`` -> the RunOptions field they set to True ("" : accepted, sets nothing)
FLAGS = {
    "--no-stream": "no_stream", "--json": "json", "-q": "quiet", "--quiet": "quiet",
    "-y": "yes", "--yes": "yes", "--dangerously-allow-all": "allow_all",
    "--no-stdin": "no_stdin", "--stdin": "", "-v": "verbose", "--verbose": "verbose",
    "--no-reasoning": "no_reasoning", "--debug": "debug", "-c": "cont", "--continue": "cont",
    "--no-save": "no_save", "--raw": "raw",
}
#: options of ``run`` taking one value -> (field, converter: Click's STRING, FLOAT, INT)
VALUES: dict[str, tuple[str, type]] = {
    "-m": ("model", str), "--model": ("model", str), "-t": ("tools", str),
    "--tools": ("tools", str), "-s": ("system", str), "--system": ("system", str),
    "--temperature": ("temperature", float), "--max-steps": ("max_steps", int),
    "--max-cost": ("max_cost", float),
}
#: repeatable options of ``run`` -> the list field they append to
LISTS = {"--mcp-config": "mcp_config"}


def parse(args: list[str]) -> dict[str, Any] | None:
    """The RunOptions fields for ``loomex ARGS`` when the fast path understands all of it,
    else None (Typer decides)."""
    if not args or "_LOOMEX_COMPLETE" in os.environ:  # no arguments; shell completion
        return None
    first = args[0]
    if first == "run":
        args = args[1:]
    elif first in COMMANDS or (len(args) == 1 and " " not in first and not first.startswith("-")):
        return None  # a command, or one word Typer may take for a misspelt command
    fields: dict[str, Any] = {}
    words: list[str] = []
    i, n = 0, len(args)
    while i < n:
        arg = args[i]
        i += 1
        if arg == "--":
            words.extend(args[i:])
            break
        if not arg.startswith("-"):
            words.append(arg)
        elif arg in FLAGS:
            if FLAGS[arg]:
                fields[FLAGS[arg]] = True
        elif arg in VALUES or arg in LISTS:
            if i >= n or args[i].startswith("-"):
                return None  # missing, or a value Click might read otherwise: its error
            value = args[i]
            i += 1
            if arg in LISTS:
                fields.setdefault(LISTS[arg], []).append(value)
                continue
            name, convert = VALUES[arg]
            try:
                fields[name] = convert(value)
            except ValueError:
                return None  # Typer's "Invalid value for ..."
        else:
            return None  # unknown to the fast path (-h, a new flag, -qy, --model=x, -5)
    fields["prompt"] = " ".join(words)
    return fields


def main(args: list[str]) -> NoReturn:
    """The console entry after ``--version``: a plain one-shot runs here, the rest in Typer."""
    from .interrupt import exit_on_signals
    exit_on_signals()
    if args in (["--help"], ["-h"]) and "_LOOMEX_COMPLETE" not in os.environ:
        root_help(args)
    fields = parse(args)
    if fields is None:
        from .app import main as typer_main
        typer_main(args)
    from .lifecycle import pause_collector
    pause_collector()
    code: Any = 0
    try:
        from .options import RunOptions
        opts = RunOptions(**fields)

        def body() -> int:
            from .oneshot import run_once
            return run_once(opts)
        value, failed = run_guarded(opts.debug, body)
        code = failed if failed is not None else value or 0
    except KeyboardInterrupt:
        say("interrupted")
        code = 130
    exit_flushed(code)


def root_help(args: list[str]) -> NoReturn:
    """``loomex --help``: the cached rendering (help_cache.py), or Typer's, then cached."""
    from . import help_cache
    path = help_cache.cache_file()
    text = help_cache.read(path) if path else None
    if text is not None:
        _print_help(text, 0)
    from .app import main as typer_main
    if path is None:
        typer_main(args)
    import contextlib
    import io
    buf = io.StringIO()
    code: Any = 0
    try:
        with contextlib.redirect_stdout(buf):
            typer_main(args)
    except SystemExit as e:
        code = e.code
    text = buf.getvalue()
    if code in (0, None):
        help_cache.write(path, text)
    _print_help(text, code)


def _print_help(text: str, code: Any) -> NoReturn:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # as Click ends when stdout is closed: quietly, status 1
        from .pipes import silence_stdout
        silence_stdout()
        sys.exit(1)
    exit_flushed(code)
