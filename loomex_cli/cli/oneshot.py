"""``loomex PROMPT``: one agent run, for a person on a terminal or a pipe."""

from __future__ import annotations

import asyncio
from typing import Any

from ..engine.events import StepStart
from ..engine.messages import Message
from .exits import LIMIT, OK, USAGE, code_for, fail, say
from .setup import Setup, stderr_is_tty, stdout_is_tty
from .stdin import NOTE, compose, read_piped, stdin_readable

#: a rough, provider-neutral tokens-per-character estimate for the pre-flight size check
CHARS_PER_TOKEN = 4


NO_PROMPT = "no prompt: give one (loomex \"...\") or pipe text in"


def run_once(opts: Any) -> int:
    if opts.shell:  # -x: one command for the user's shell (run and fast_run both come here)
        from .shell_mode import run_shell
        return run_shell(opts)
    if not opts.prompt.strip() and (opts.no_stdin or not stdin_readable()) \
            and not (opts.files or opts.attach):
        fail(NO_PROMPT, USAGE)
    from .saving import drop_unanswered, previous, recorder
    before = previous(opts)
    setup = Setup(opts, saved=before)  # its model, unless -m or --role names one
    agent = setup.agent()
    if opts.schema is not None:
        from .schema_arg import read_schema
        agent.output_type = read_schema(opts.schema)
    if (note := setup.effort().note) and not opts.quiet:
        say(note)
    if opts.verbose and setup.info is None:
        from ..wire import registry
        say(f"no metadata for {setup.model} ({registry.note() or 'not in the models.dev catalogue'}); "
            f"assuming a {setup.resolved.context_window:,}-token window")
    extra = None
    if opts.files or opts.attach:  # -f / -a: a bad one, or images for a text-only model
        from .attach import from_options
        extra = from_options(opts, setup)
    if before is not None and setup.resolved.accepts_images is False:  # -c, and it has some?
        from .attach import check_history
        check_history(before.messages, setup.resolved)
    # stdin is read once the set-up is known to be good: a misconfigured key fails at once,
    # not after the build piped in has run for ten minutes
    piped = None
    if not opts.no_stdin:
        got = read_piped(lambda: say(NOTE))
        if got.bad_utf8:
            say("stdin is not valid UTF-8; undecodable bytes were replaced")
        piped = got.text
    text = compose(extra.text(opts.prompt) if extra else opts.prompt, piped)
    if not text.strip() and not extra:
        fail(NO_PROMPT, USAGE)
    est = len(text) // CHARS_PER_TOKEN + (extra.image_tokens if extra else 0)
    if est > setup.resolved.context_window:
        fail(f"the input is about {est:,} tokens, more than the model's context window "
             f"({setup.resolved.context_window:,}); nothing was sent. Cut it down or pick a larger model",
             USAGE)

    from .pipes import PipeGuard
    out = PipeGuard(_output(opts))
    from .announce import model_line, start_event
    if opts.json:
        import json
        out.write(json.dumps(start_event(setup), ensure_ascii=False) + "\n")
    elif opts.verbose or (stderr_is_tty() and not opts.quiet):
        say_dim(model_line(setup))
    from .ask import make_askers, tty_available
    can_ask = tty_available() and not opts.json
    ask_approval, ask_human = make_askers(out.suspended) if can_ask else (None, None)
    approver = setup.policy(ask_approval)

    user = Message.user(extra.content(text) if extra else text)
    if before is not None:
        start = [*drop_unanswered(before.messages, saved=True), user]
    else:
        start = [Message.system(setup.system), user] if setup.system else [user]
    rec = recorder(setup.model, "run", opts, setup.config)
    steps = _Steps()
    sink: Any = [out, steps]
    if rec is not None:
        if before is not None:
            rec.resume(before.id)
            rec.add(user)
        else:
            rec.add(start)  # saved before anything is sent
        sink = [out, steps, rec]
    result, error, signum = asyncio.run(_run(agent, setup, start, sink, approver, ask_human))
    if rec is not None:
        if result is not None:
            rec.update(model=setup.model, usage=result.usage, cost_usd=result.cost_usd)
        rec.close()
    extra: dict[str, Any] = {"model": setup.model}
    if rec is not None and rec.conv_id:
        extra["conversation_id"] = rec.conv_id
    from . import pipes
    if result is not None:
        result.steps = max(result.steps, steps.started)  # an interrupted step was done too
        out.finish(result, extra) if opts.json else out.finish(result)
    if result is not None and result.structured and result.finish_reason == "stop" \
            and error is None and not opts.json:
        _print_answer(result.output_json)  # --schema: the validated JSON alone on stdout
    if pipes.broken():
        return pipes.BROKEN_PIPE  # the reader left: no message, no usage line (pipes.py)
    if result is not None:
        if not opts.quiet and not opts.json and (stderr_is_tty() or opts.verbose):
            from .render import usage_line
            say_dim(usage_line(result))
    if isinstance(error, asyncio.CancelledError):
        from .interrupt import describe, exit_code
        say(describe(signum))
        return exit_code(signum)
    if error is not None:
        from ..errors import LoomexError
        if isinstance(error, LoomexError):
            say(str(error))
        else:
            if opts.debug:
                import traceback
                traceback.print_exception(error)
            say(f"internal error: {type(error).__name__}: {error} (run with --debug for details)")
        return code_for(error)
    if result is not None and result.finish_reason == "max_steps":
        say(f"stopped: reached the step limit ({agent.max_steps}); raise it with --max-steps")
        return LIMIT
    if result is not None and result.finish_reason == "max_cost":
        from .render import fmt_cost
        say(f"stopped: the next model call would take the run over --max-cost "
            f"${agent.max_cost:g} (spent {fmt_cost(result.cost_usd)})")
        return LIMIT
    return OK


class _Steps:
    """Counts the steps begun (the result counts only the finished ones)."""

    started = 0

    def __call__(self, event: Any) -> None:
        if type(event) is StepStart:
            self.started = max(self.started, event.step)


def say_dim(line: str) -> None:
    import sys
    sys.stderr.write(f"\x1b[2m{line}\x1b[0m\n" if stderr_is_tty() else f"{line}\n")


def _print_answer(value: Any) -> None:
    """A --schema answer on stdout: indented for a person, one line for a program. On a
    terminal the characters a terminal could obey (C1 controls, DEL, bidi overrides: JSON
    already escapes C0) are written as ``\\uXXXX``: the same JSON, and nothing the model
    wrote can act on the terminal."""
    import json
    import sys
    from . import pipes
    tty = stdout_is_tty()
    text = json.dumps(value, ensure_ascii=False, indent=2 if tty else None)
    if tty:
        import re
        text = re.sub("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]",
                      lambda m: f"\\u{ord(m.group()):04x}", text)
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pipes.silence_stdout()


def _output(opts: Any) -> Any:
    from .render import JsonOutput, PlainOutput, RichOutput
    if opts.json:
        return JsonOutput()
    if opts.schema is not None:  # the answer is printed once validated: never streamed
        progress = not opts.quiet and (stderr_is_tty() or opts.verbose)
        return PlainOutput(progress, show_reasoning=not opts.no_reasoning, discard_answer=True)
    if stdout_is_tty() and not opts.quiet and not opts.raw:
        return RichOutput(show_reasoning=not opts.no_reasoning)
    progress = not opts.quiet and (stderr_is_tty() or opts.verbose)
    return PlainOutput(progress, show_reasoning=not opts.no_reasoning)


async def _run(agent: Any, setup: Setup, messages: list[Message], sink: Any, approver: Any,
               ask_human: Any) -> tuple[Any, BaseException | None, int | None]:
    """(result, error, signal number): the result is there also after an error, Ctrl-C,
    SIGTERM or SIGHUP (what was streamed is kept), so nothing the model produced is lost."""
    from ..engine.loop import arun
    from ..wire.client import close_client
    from .interrupt import on_interrupt
    from .pipes import on_broken_pipe
    task = asyncio.current_task()
    caught = None
    try:
        with on_interrupt(task.cancel) as caught, \
                on_broken_pipe(task.cancel):  # type: ignore[union-attr]
            result = await arun(agent, messages, sink=sink, approver=approver,
                                ask_human=ask_human, model=setup.resolved)
        return result, None, None
    except asyncio.CancelledError as e:
        return getattr(e, "result", None), e, caught.signum if caught else None
    except Exception as e:  # noqa: BLE001 - reported by the caller with its exit code
        return getattr(e, "result", None), e, None
    finally:
        await close_client()
