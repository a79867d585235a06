"""``loomex chat``: the REPL.

Enter sends; Esc-Enter / Alt-Enter inserts a newline (pasted newlines are kept). Ctrl-C while
an answer streams or a tool runs cancels that answer (its tools' processes are killed), keeps
what was streamed, and returns to the prompt; Ctrl-C on the prompt clears the line; Ctrl-D on
an empty prompt exits with 0. History lives in the data directory.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from ..engine.messages import Message
from ..engine.result import add_usage
from ..wire.errors import LoomexError
from .exits import CliError, say
from .setup import Setup, stdout_is_tty

COMMANDS = {
    "/help": "show this help",
    "/model": "/model NAME: switch model (no NAME: show it)",
    "/tools": "/tools LIST: tools to offer, e.g. bash,grep or all or none",
    "/system": "/system TEXT: replace the system prompt (no TEXT: show it)",
    "/clear": "start a new conversation",
    "/usage": "tokens used in this conversation",
    "/compact": "/compact [INSTRUCTIONS]: summarise the older part now (kept in full on disk)",
    "/save": "/save FILE: write the conversation as Markdown",
    "/exit": "leave (Ctrl-D does too)",
}


def run_repl(opts: Any) -> int:
    from .stdin import stdin_kind
    if stdin_kind() != "tty" or not sys.stdout.isatty():
        from .exits import USAGE, fail
        fail("chat needs a terminal; in a pipe use `loomex PROMPT` (stdin is added as "
             "context) or `loomex -c PROMPT` to continue a conversation", USAGE)
    from .saving import previous
    before = previous(opts)
    if before is not None and not opts.model and before.model:
        opts.model = before.model
    setup = Setup(opts)
    return asyncio.run(Repl(setup, opts, before).main())


class Repl:
    def __init__(self, setup: Setup, opts: Any, before: Any = None) -> None:
        from .render import PlainOutput, RichOutput
        from .saving import recorder
        self.setup = setup
        self.before = before
        self.rec = recorder(setup.model, "chat", opts, setup.config)
        if self.rec is not None and before is not None:
            self.rec.resume(before.id)
        self.opts = opts
        self.usage: dict[str, Any] = {}
        self.turns = 0
        self.out = RichOutput(show_reasoning=not opts.no_reasoning) \
            if stdout_is_tty() and not opts.raw \
            else PlainOutput(progress=True, show_reasoning=not opts.no_reasoning)
        from .ask import make_askers, tty_available
        ask_approval, self.ask_human = make_askers(self.out.suspended) if tty_available() \
            else (None, None)
        self.approver = setup.policy(ask_approval)

    # -- the prompt ---------------------------------------------------------------------
    def _session(self) -> Any:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import Completer, Completion
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings

        from ..wire.config import data_dir

        class SlashCompleter(Completer):
            def get_completions(self, document: Any, complete_event: Any) -> Any:
                text = document.text_before_cursor
                if text.startswith("/") and " " not in text:
                    for cmd, help_text in COMMANDS.items():
                        if cmd.startswith(text):
                            yield Completion(cmd, -len(text), display_meta=help_text)

        kb = KeyBindings()

        @kb.add("enter")
        def _(event: Any) -> None:
            event.current_buffer.validate_and_handle()

        @kb.add("escape", "enter")
        def _(event: Any) -> None:
            event.current_buffer.insert_text("\n")

        history_dir = data_dir()
        history_dir.mkdir(parents=True, exist_ok=True)
        return PromptSession(history=FileHistory(str(history_dir / "history")), multiline=True,
                             key_bindings=kb, completer=SlashCompleter(),
                             complete_while_typing=True, prompt_continuation="  ")

    async def main(self) -> int:
        from ..engine.session import AgentHandle
        self.handle = AgentHandle(self.setup.agent(), self._fresh(), approver=self.approver,
                                  ask_human=self.ask_human)
        session = self._session()
        resumed = f" · resumed {self.before.id} ({len(self.before.messages)} messages)" \
            if self.before is not None else ""
        print(f"loomex chat · {self.setup.model}{resumed} · /help for commands · Ctrl-D to leave",
              file=sys.stderr)
        while True:
            try:
                text = await session.prompt_async("› ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            text = text.strip()
            if not text:
                continue
            if text.startswith("/"):
                try:
                    action = self.command(text)
                    if action == "exit":
                        break
                    if action == "compact":
                        await self.compact(text.partition(" ")[2].strip() or None)
                except (CliError, LoomexError) as e:
                    say(str(e))
                continue
            await self.turn(text)
        await self.handle.stop()
        if self.rec is not None:
            self.rec.close()
        from ..wire.client import close_client
        await close_client()
        return 0

    # -- one exchange -------------------------------------------------------------------
    async def turn(self, text: str) -> None:
        """One exchange through the long-lived agent handle; Ctrl-C cancels only the answer."""
        handle = self.handle
        handle.agent = agent = self.setup.agent()
        user = Message.user(text)
        sink: Any = self.out
        if self.rec is not None:  # saved before anything is sent
            self.rec.add([*self.messages, user] if self.rec.conv_id is None else user)
            sink = [self.out, self.rec]
        from .interrupt import on_interrupt
        task = asyncio.ensure_future(handle.call(user, sink=sink, route=self.setup.route))
        error: BaseException | None = None
        try:
            with on_interrupt(handle.cancel):
                result = await task
        except asyncio.CancelledError as e:
            result, error = handle.last_result, e
        except Exception as e:  # noqa: BLE001 - shown as one line; the REPL goes on
            result, error = getattr(e, "result", None), e
        if result is not None:
            self.out.finish(result)
            add_usage(self.usage, result.usage)
            self.turns += 1
            if self.rec is not None:
                self.rec.update(model=self.setup.model, usage=result.usage,
                                cost_usd=result.cost_usd)
        if isinstance(error, asyncio.CancelledError):
            say("interrupted; what was streamed is kept")
        elif error is not None:
            say(str(error) if isinstance(error, LoomexError)
                else f"internal error: {type(error).__name__}: {error}")
        elif result is not None and result.finish_reason == "max_steps":
            say(f"stopped at the step limit ({agent.max_steps}); say 'go on' to continue")

    @property
    def messages(self) -> list[Message]:
        return self.handle.get_messages()

    async def compact(self, instructions: str | None) -> None:
        """/compact: the older part of the conversation becomes a summary written by the
        model; the saved history on disk keeps every message."""
        from ..engine import compaction
        msgs = self.messages
        spent: dict[str, Any] = {}
        done = await compaction.fit(self.setup.agent(), self.setup.route, msgs,
                                    compaction.Tracker(), lambda u: add_usage(spent, u),
                                    force=True, instructions=instructions,
                                    metadata={"source": "/compact"})
        if done is None:
            print("nothing to compact yet")
            return
        self.handle.reset(msgs)
        add_usage(self.usage, spent)
        how = "summarised" if done.summarized else "dropped (no summary could be had)"
        print(f"compacted: about {done.tokens_before:,} → {done.tokens_after:,} tokens "
              f"(saved {done.tokens_before - done.tokens_after:,}); {done.removed} older "
              f"messages {how}, {done.kept} kept")

    def _fresh(self) -> list[Message]:
        """What a conversation starts from: the resumed one, or the system prompt."""
        if self.before is not None:
            return list(self.before.messages)
        return [Message.system(self.setup.system)] if self.setup.system else []

    # -- slash commands -----------------------------------------------------------------
    def command(self, line: str) -> str | None:
        cmd, _, arg = line.partition(" ")
        arg = arg.strip()
        if cmd in ("/exit", "/quit"):
            return "exit"
        if cmd == "/compact":
            return "compact"
        if cmd == "/help":
            for name, text in COMMANDS.items():
                print(f"  {name:<8} {text}")
        elif cmd == "/model":
            if arg:
                self.setup.set_model(arg)
            print(f"model: {self.setup.model}")
        elif cmd == "/tools":
            if arg:
                self.setup.set_tools("" if arg == "none" else arg)
            print("tools: " + (", ".join(t.name for t in self.setup.tools) or "none"))
        elif cmd == "/system":
            if arg:
                self.setup.system = arg
                kept = [m for m in self.messages if m.role != "system"]
                self.handle.reset([Message.system(arg), *kept])
                if self.rec is not None:
                    self.rec.new()  # the saved history cannot be rewritten: a new one
            print(f"system: {self.setup.system}")
        elif cmd == "/clear":
            self.before = None
            self.handle.reset(self._fresh())
            if self.rec is not None:
                self.rec.new()
            print("a new conversation")
        elif cmd == "/usage":
            u = self.usage
            print(f"{u.get('prompt_tokens', 0):,} in / {u.get('completion_tokens', 0):,} out "
                  f"tokens over {self.turns} turns")
        elif cmd == "/save":
            if not arg:
                raise CliError("/save FILE")
            path = Path(arg).expanduser()
            from ..engine.transcript import messages_markdown
            text = messages_markdown(self.messages, "loomex conversation",
                                     [f"- model: `{self.setup.model}`"])
            path.write_text(text, encoding="utf-8")
            print(f"saved to {path}")
        else:
            raise CliError(f"unknown command {cmd}; /help lists them")
        return None
