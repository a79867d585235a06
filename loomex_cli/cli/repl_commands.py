"""The REPL's slash commands: a line that starts with ``/`` (``//`` sends a message that starts
with one). Each command is one function below, registered with its name and the line /help
shows for it, in /help's order; the prompt completes the same names (``COMMANDS``).

A command's error is shown as one line and the REPL goes on. What a command needs (the model
list, roles, AGENTS.md files, compaction, the transcript, MCP...) is imported when it runs, so
a plain message never loads it. /compact and /retry call the model, so every command is a
coroutine: one way to run them all.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from ..engine.messages import Message
from ..engine.result import add_usage
from ..errors import LoomexError
from .exits import CliError, say

if TYPE_CHECKING:
    from .repl import Repl

    Run = Callable[[Repl, str], Awaitable[str | None]]

#: name -> what /help says of it, in /help's order (the prompt completes these names)
COMMANDS: dict[str, str] = {}
#: name (or alias) -> the command: (the REPL, its argument) -> "exit" to leave, else None
_RUN: dict[str, Run] = {}
#: keys worth knowing, for /help
KEYS = ("Enter sends · Esc-Enter new line · Ctrl-R search history · Ctrl-X Ctrl-E edit in "
        "$EDITOR · Ctrl-C stop the answer · Ctrl-D leave")


def command(name: str, help_text: str, *aliases: str) -> Callable[[Run], Run]:
    """Register a command as ``name`` (and ``aliases``), with ``help_text`` for /help."""
    def register(run: Run) -> Run:
        COMMANDS[name] = help_text
        for n in (name, *aliases):
            _RUN[n] = run
        return run
    return register


async def run_command(repl: Repl, line: str) -> bool:
    """Run the slash command ``line``; True when it ends the REPL (/exit)."""
    cmd, _, arg = line.partition(" ")
    try:
        run = _RUN.get(cmd)
        if run is None:
            raise CliError(f"unknown command {cmd}; /help lists them "
                           "(a message that starts with / : type //)")
        return await run(repl, arg.strip()) == "exit"
    except (CliError, LoomexError) as e:
        say(str(e))
        return False


@command("/help", "show this help")
async def _help(repl: Repl, arg: str) -> None:
    for name, text in COMMANDS.items():
        print(f"  {name:<9} {text}")
    print(f"  {KEYS}")


@command("/model", "/model NAME: switch model (Tab completes; no NAME: show it)")
async def _model(repl: Repl, arg: str) -> None:
    if arg:
        repl.setup.set_model(arg)
    from .announce import model_line
    print(model_line(repl.setup))


@command("/tools", "/tools LIST: tools to offer, e.g. bash,grep or all or none")
async def _tools(repl: Repl, arg: str) -> None:
    if arg:
        repl.setup.set_tools("" if arg == "none" else arg)
    print("tools: " + (", ".join(t.name for t in repl.setup.tools) or "none"))


@command("/system", "/system TEXT: replace the system prompt (no TEXT: show it)")
async def _system(repl: Repl, arg: str) -> None:
    setup = repl.setup
    if arg:
        setup.base_system = arg
        setup.system = setup.compose_system(arg)
        _new_system(repl)
    print(f"system: {setup.base_system}")
    if setup.context_files:
        print("  (+ the context files: /context lists them)")


@command("/role", "/role NAME: use [roles.NAME] of config.toml (no NAME: list the roles)")
async def _role(repl: Repl, arg: str) -> None:
    from .roles_view import role_lines
    if arg:
        before = repl.setup.system
        repl.setup.set_role(arg)
        if repl.setup.system != before:
            _new_system(repl)
    print("\n".join(role_lines(repl.setup, listing=not arg)))


@command("/context", "the AGENTS.md files in the system prompt: path, size, cut or not")
async def _context(repl: Repl, arg: str) -> None:
    from .context_view import context_lines, saved_prompt_lines
    sent = next((m.content for m in repl.messages if m.role == "system"), None)
    if repl.before is not None and sent != repl.setup.system:  # resumed, as saved
        print("\n".join(saved_prompt_lines(sent, repl.setup.context_files)))
    print("\n".join(context_lines(repl.setup.context_files)))


@command("/effort", "/effort LEVEL: reasoning effort (minimal..high, default; no LEVEL: show it)")
async def _effort(repl: Repl, arg: str) -> None:
    from ..wire.effort import EFFORTS
    if arg and arg != "default" and arg not in EFFORTS:
        raise CliError(f"/effort {arg}: use one of {', '.join(EFFORTS)}, or default")
    if arg:
        repl.setup.opts.effort = None if arg == "default" else arg
    chosen = repl.setup.effort()
    print(f"reasoning effort: {chosen.value or 'not sent'}"
          + (f" ({chosen.note})" if chosen.note else ""))


@command("/retry", "send the last message again (after an error, or for another answer)")
async def _retry(repl: Repl, arg: str) -> None:
    if not repl.last_text and repl.last_content is None:
        raise CliError("nothing to retry yet")
    _forget_last_exchange(repl)
    await repl.turn(repl.last_text, repl.last_content)


@command("/file", "/file PATH|DIR|GLOB: add text files to your next message (or @path in it)")
async def _file(repl: Repl, arg: str) -> None:
    from .repl_prompt import file_block
    block, note = file_block(arg)
    repl.attached.append(block)
    print(note)


@command("/edit", "write the next message in $EDITOR (Ctrl-X Ctrl-E does it at the prompt)")
async def _edit(repl: Repl, arg: str) -> None:
    from .repl_prompt import edit
    with repl.ahead.cooked():  # the editor has the terminal to itself
        repl.prefill = edit(arg).rstrip("\n")
    if not repl.prefill.strip():
        print("nothing written; nothing to send")


@command("/clear", "start a new conversation (and reset /usage)")
async def _clear(repl: Repl, arg: str) -> None:
    repl.before = None
    repl.handle.reset(repl.fresh())
    repl.usage, repl.turns, repl.attached = {}, 0, []
    if repl.rec is not None:
        repl.rec.new()
    print("a new conversation")


@command("/usage", "tokens used in this conversation")
async def _usage(repl: Repl, arg: str) -> None:
    u = repl.usage
    print(f"{u.get('prompt_tokens', 0):,} in / {u.get('completion_tokens', 0):,} out "
          f"tokens over {repl.turns} turns")


@command("/compact", "/compact [INSTRUCTIONS]: summarise the older part now (kept in full on disk)")
async def _compact(repl: Repl, arg: str) -> None:
    await _stoppable(repl, _compact_older(repl, arg or None))


@command("/save", "/save FILE: write the conversation as Markdown")
async def _save(repl: Repl, arg: str) -> None:
    if not arg:
        raise CliError("/save FILE")
    path = Path(arg).expanduser()
    from ..engine.transcript import messages_markdown
    text = messages_markdown(repl.messages, "loomex conversation",
                             [f"- model: `{repl.setup.model}`"])
    path.write_text(text, encoding="utf-8")
    print(f"saved to {path}")


@command("/mcp", "MCP servers: state and tools (/tools NAME__* offers them)")
async def _mcp(repl: Repl, arg: str) -> None:
    from .mcp_cmd import status_lines
    print("\n".join(status_lines()))


@command("/exit", "leave (Ctrl-D does too)", "/quit")
async def _exit(repl: Repl, arg: str) -> str:
    return "exit"


# -- the work behind /system, /role, /retry and /compact -------------------------------
def _new_system(repl: Repl) -> None:
    """The conversation goes on under ``setup.system`` (/system, /role)."""
    kept = [m for m in repl.messages if m.role != "system"]
    first = [Message.system(repl.setup.system)] if repl.setup.system else []
    repl.handle.reset([*first, *kept])
    if repl.rec is not None:
        repl.rec.new()  # the saved history cannot be rewritten: a new one


def _forget_last_exchange(repl: Repl) -> None:
    """/retry: the last message and what answered it leave the history that is sent
    (the saved conversation keeps them)."""
    msgs = repl.messages
    for i in range(len(msgs) - 1, -1, -1):
        if msgs[i].role == "user" and "tool_images" not in msgs[i].extra:
            if msgs[i].content == repl.last_content:
                repl.handle.reset(msgs[:i])
            return


async def _stoppable(repl: Repl, work: Any) -> None:
    """A slash command's model call (/compact) that Ctrl-C stops, as it stops an answer."""
    import signal
    from .interrupt import on_interrupt
    task = asyncio.ensure_future(work)
    with repl.ahead.answer(), on_interrupt(task.cancel, (signal.SIGINT,)) as caught:
        try:
            await task
        except asyncio.CancelledError:
            if caught.signum is None:
                raise
            repl.ahead.drop()
            say("interrupted; the conversation is kept as it was")


async def _compact_older(repl: Repl, instructions: str | None) -> None:
    """/compact: the older part of the conversation becomes a summary written by the
    model; the saved history on disk keeps every message."""
    from ..engine import compaction
    msgs = repl.messages  # a copy: the conversation changes only if this is smaller
    spent: dict[str, Any] = {}
    done = await compaction.fit(repl.setup.agent(), repl.setup.resolved, msgs,
                                compaction.Tracker(), lambda u: add_usage(spent, u),
                                force=True, instructions=instructions,
                                metadata={"source": "/compact"})
    if done is None:
        print("nothing to compact yet")
        return
    add_usage(repl.usage, spent)
    if done.tokens_after >= done.tokens_before:
        print(f"compacting would not make the context smaller (about "
              f"{done.tokens_before:,} → {done.tokens_after:,} tokens); the conversation "
              "is kept as it was")
        return
    repl.handle.reset(msgs)
    how = "summarised" if done.summarized else "dropped (no summary could be had)"
    print(f"compacted: about {done.tokens_before:,} → {done.tokens_after:,} tokens "
          f"(saved {done.tokens_before - done.tokens_after:,}); {done.removed} older "
          f"messages {how}, {done.kept} kept")
