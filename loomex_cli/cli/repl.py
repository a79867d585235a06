"""``loomex chat``: the REPL.

Enter sends; Esc-Enter / Alt-Enter inserts a newline; a paste is inserted whole and never
sends early (repl_prompt.py has the keys: Ctrl-R, Ctrl-X Ctrl-E...). Ctrl-C while an answer
streams or a tool runs cancels that answer (its tools' processes are killed), keeps what was
streamed, and returns to the prompt; Ctrl-C on the prompt clears the line; Ctrl-D on an empty
prompt exits with 0. SIGTERM or SIGHUP (at the prompt, while an answer streams or a tool runs)
ends that answer the same way, then the REPL: exit 143 / 129. History lives in the data
directory.

A turn that got no answer (the provider failed, or Ctrl-C came before any reply) stays in the
saved conversation but is not sent again with the next message: /retry sends it again.

Keys typed while no prompt is on screen (at start-up, while an answer streams or a tool runs)
are not echoed and go to the next prompt as if typed there (Enter typed ahead sends); Ctrl-D
typed while an answer streams is dropped, Ctrl-C drops what was typed ahead, and a question
never takes keys typed before it (typeahead.py).

A line that starts with / is a slash command (/help lists them; repl_commands.py has them).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any, Iterator

from ..engine.messages import Message
from ..engine.result import add_usage
from ..errors import LoomexError
from .exits import CliError, say
from .repl_commands import COMMANDS, run_command
from .saving import drop_unanswered
from .setup import Setup, stdout_is_tty

def run_repl(opts: Any) -> int:
    from .stdin import stdin_kind
    if stdin_kind() != "tty" or not sys.stdout.isatty():
        from .exits import USAGE, fail
        fail("chat needs a terminal; in a pipe use `loomex PROMPT` (stdin is added as "
             "context) or `loomex -c PROMPT` to continue a conversation", USAGE)
    from .typeahead import QuietTerminal
    ahead = QuietTerminal()
    ahead.start()  # from here on, keys typed are kept for the first prompt
    try:
        from .saving import previous
        before = previous(opts)
        setup = Setup(opts, saved=before)
        if before is not None:  # a text-only model for a conversation that holds images
            from .attach import check_history
            check_history(before.messages, setup.resolved)
        return asyncio.run(Repl(setup, opts, before, ahead).main())
    finally:
        ahead.close()


def _leave_prompt(session: Any) -> None:
    """SIGTERM / SIGHUP at the prompt: end it as Ctrl-D would (the terminal is restored)."""
    app = session.app
    if app.is_running:
        app.exit(exception=EOFError())


class Repl:
    def __init__(self, setup: Setup, opts: Any, before: Any = None, ahead: Any = None) -> None:
        from .render import PlainOutput, RichOutput
        from .saving import recorder
        from .typeahead import QuietTerminal
        #: the terminal between prompts: keys typed ahead wait there for the next prompt
        self.ahead = ahead if ahead is not None else QuietTerminal()
        self.setup = setup
        self.before = before
        self.rec = recorder(setup.model, "chat", opts, setup.config)
        if self.rec is not None and before is not None:
            self.rec.resume(before.id)
        self.opts = opts
        self.usage: dict[str, Any] = {}
        self.turns = 0
        #: the text and content of the last message sent (/retry sends it again as it was),
        #: /file blocks for the next one, and what the next prompt starts with (/edit)
        self.last_text, self.last_content = _last_user(before.messages if before else [])
        self.attached: list[str] = []
        self.prefill = ""
        self.pending = None  # -f / -a: they go with the first message
        if getattr(opts, "files", None) or getattr(opts, "attach", None):
            from .mentions import pending_from
            self.pending = pending_from(opts, setup)
        self.out = RichOutput(show_reasoning=not opts.no_reasoning) \
            if stdout_is_tty() and not opts.raw \
            else PlainOutput(progress=True, show_reasoning=not opts.no_reasoning)
        from .ask import make_askers, tty_available
        ask_approval, self.ask_human = make_askers(self._asking) if tty_available() \
            else (None, None)
        self.approver = setup.policy(ask_approval)

    async def main(self) -> int:
        self.ahead.listen()  # from here Ctrl-C never ends the REPL (before, it ends start-up)
        try:
            return await self._main()
        finally:
            self.ahead.stop_listening()

    async def _main(self) -> int:
        from ..engine.session import AgentHandle
        self.handle = AgentHandle(self.setup.agent(), self.fresh(), approver=self.approver,
                                  ask_human=self.ask_human)
        from .repl_prompt import make_session
        session = make_session(COMMANDS, self.setup)
        resumed = f" · resumed {self.before.id} ({len(self.before.messages)} messages)" \
            if self.before is not None else ""
        print(f"loomex chat · {self.setup.model}{resumed} · /help for commands · Ctrl-D to leave",
              file=sys.stderr)
        from .announce import model_line
        print(f"\x1b[2m{model_line(self.setup)}\x1b[0m", file=sys.stderr)
        if note := self.setup.effort().note:
            say(note)
        from .interrupt import ENDING, on_interrupt
        with on_interrupt(lambda: _leave_prompt(session), ENDING) as self.ended:
            await self._loop(session)
        await self.handle.stop()
        if self.rec is not None:
            self.rec.close()
        from ..wire.client import close_client
        await close_client()
        if self.ended.signum is not None:  # SIGTERM / SIGHUP: what was streamed is saved
            from .interrupt import describe
            say(describe(self.ended.signum))
            return self.ended.code
        return 0

    async def _loop(self, session: Any) -> None:
        first = (getattr(self.opts, "prompt", "") or "").strip()
        if first:  # `loomex chat "Find all TODOs"`: the first message, then the prompt
            print(f"› {first}", file=sys.stderr)
            await self.turn(first)
        while not self.ended.signum:
            self.ahead.to_prompt(session.app.input)  # keys typed ahead: its first keys
            try:
                text = await session.prompt_async("› ", default=self.prefill)
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            finally:
                self.prefill = ""
                self.ahead.listen()
            text = text.strip()
            if not text:
                continue
            if text.startswith("/") and not text.startswith("//"):
                if await run_command(self, text):
                    break
                continue
            await self.turn(text[1:] if text.startswith("//") else text)

    # -- one exchange -------------------------------------------------------------------
    async def turn(self, text: str, content: Any = None) -> None:
        """One exchange through the long-lived agent handle; Ctrl-C cancels only the answer."""
        handle = self.handle
        handle.agent = agent = self.setup.agent()
        try:  # images in the history for a text-only model (after /model, /role)
            if any(isinstance(m.content, list) for m in self.messages):
                from .attach import check_history
                check_history(self.messages, self.setup.resolved)
        except CliError as e:
            say(str(e))
            self.prefill = text if content is None else ""
            return
        if content is None and not ("@" in text or self.attached or self.pending):
            content = text  # nothing goes with it: the file and image code is not loaded
        if content is None:  # @paths, /file blocks, -f / -a (mentions.py)
            from .mentions import compose_turn
            try:
                content = compose_turn(text, self.attached, self.pending, self.setup.resolved)
            except CliError as e:
                say(str(e))
                self.prefill = text  # nothing typed is lost: fix it and send again
                return
            self.attached, self.pending = [], None
        self.last_text, self.last_content = text, content
        handle.reset(drop_unanswered(self.messages))  # never two user messages in a row
        user = Message.user(content)
        sink: Any = self.out
        if self.rec is not None:  # saved before anything is sent
            self.rec.add([*self.messages, user] if self.rec.conv_id is None else user)
            sink = [self.out, self.rec]
        from .interrupt import on_interrupt
        task = asyncio.ensure_future(handle.call(user, sink=sink, model=self.setup.resolved))
        error: BaseException | None = None
        try:
            with self.ahead.answer(), on_interrupt(handle.cancel) as caught:
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
        if caught.signum is not None:  # Ctrl-C also drops the keys typed ahead
            self.ahead.drop()
        if caught.ends_process:  # SIGTERM / SIGHUP: leave the REPL after this turn
            self.ended.signum = caught.signum
        elif isinstance(error, asyncio.CancelledError):
            say("interrupted; what was streamed is kept")
        elif error is not None:
            say(str(error) if isinstance(error, LoomexError)
                else f"internal error: {type(error).__name__}: {error}")
        elif result is not None and result.finish_reason == "max_steps":
            say(f"stopped at the step limit ({agent.max_steps}); say 'go on' to continue")

    @contextlib.contextmanager
    def _asking(self) -> Iterator[None]:
        """A question on the terminal: the answer's output held back, the terminal cooked,
        and keys typed before the question dropped (they never answer it)."""
        with self.out.suspended(), self.ahead.cooked(drop=True) as dropped:
            if dropped:
                print("\x1b[2m(keys typed before this question were dropped)\x1b[0m",
                      file=sys.stderr)
            yield

    @property
    def messages(self) -> list[Message]:
        return self.handle.get_messages()

    def fresh(self) -> list[Message]:
        """What a conversation starts from: the resumed one, or the system prompt."""
        if self.before is not None:
            return drop_unanswered(list(self.before.messages), saved=True)
        return [Message.system(self.setup.system)] if self.setup.system else []


def _last_user(messages: list[Message]) -> tuple[str, Any]:
    """(text, content) of the last message the user sent (/retry after --resume): its
    content as it was (text parts and images); the images a tool returned are not one."""
    for m in reversed(messages):
        if m.role == "user" and "tool_images" not in m.extra:
            return m.text, m.content
    return "", None
