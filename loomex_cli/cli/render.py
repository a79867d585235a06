"""How a run's events reach the person or the pipe.

- :class:`PlainOutput` (stdout is not a terminal): stdout carries only the answer text,
  streamed; tool lines, reasoning and usage go to stderr, and only when stderr is a terminal
  or ``--verbose``.
- :class:`RichOutput` (stdout is a terminal): Markdown rendered by Rich; each finished block
  is printed once, only the unfinished tail is redrawn (:mod:`.live_markdown`).
- :class:`JsonOutput` (``--json``): one JSON object per event on stdout, then the result.

What reaches a terminal from the model or a tool goes through :mod:`.sanitize` first (the
answer on a terminal stdout, and always the lines on stderr, which are for people); the answer
sent to a pipe or a file keeps its bytes. A denied tool call is always one line on stderr.
While a question is on screen (``suspended()``) events wait and are shown after it. A
running tool call's progress is one status line on stderr (:mod:`.progress_line`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Iterator

from ..engine.events import (ReasoningDelta, Retrying, RunFinished, RunStart, StepStart, TextDelta,
                             ToolCallComplete, ToolProgress, ToolResult, event_to_dict)
from .sanitize import Sanitizer, clean

RESULT_LINES = 6


def short_args(name: str, arguments: str, width: int = 80) -> str:
    """A tool call's arguments as one short line: the main argument when there is one."""
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        args = arguments
    if isinstance(args, dict):
        main = next((args[k] for k in ("command", "path", "pattern", "question") if k in args), None)
        text = str(main) if main is not None and len(args) == 1 else (
            str(main) + " …" if main is not None else json.dumps(args, ensure_ascii=False))
    else:
        text = str(args)
    text = " ".join(clean(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def clip_lines(text: str, n: int = RESULT_LINES, width: int = 160) -> str:
    """The first ``n`` lines of ``text``, cleaned for a terminal, each cut at ``width``."""
    lines = clean(text).splitlines() or [""]
    out = [ln if len(ln) <= width else ln[: width - 1] + "…" for ln in lines[:n]]
    if len(lines) > n:
        out.append(f"… ({len(lines) - n} more lines)")
    return "\n".join(out)


def fmt_cost(usd: float | None) -> str:
    """Money as people read it; "cost unknown" rather than a made-up number."""
    if usd is None:
        return "cost unknown"
    if usd == 0:
        return "$0"
    return f"${usd:.4f}" if usd < 1 else f"${usd:.2f}"


def usage_line(result: Any) -> str:
    u = result.usage or {}
    parts = []
    if u:
        parts.append(f"{u.get('prompt_tokens', 0):,} in / {u.get('completion_tokens', 0):,} out tokens")
    else:
        parts.append("tokens not reported")
    parts.append(fmt_cost(result.cost_usd))
    parts.append(f"{result.steps} step{'s' if result.steps != 1 else ''}")
    parts.append(f"{result.duration_ms / 1000:.1f} s")
    return " · ".join(parts)


def denial_line(name: str, arguments: str, content: str) -> str:
    """A denied call as one line: ``✗ denied bash(rm -rf x): the user said no``."""
    reason = content.removeprefix("Error: ").removeprefix("denied: ")
    reason = reason.split(". The call did not run", 1)[0]
    return clean(f"✗ denied {name}({short_args(name, arguments, 60)}): {' '.join(reason.split())}")


class _Holding:
    """``suspended()``: while a question is on screen, events wait here and are shown after
    it, so no tool output or streamed text lands inside the prompt. Progress reports go to
    the status line, which is taken down while anything else is written."""

    _held: list[Any] | None = None
    _depth = 0
    _status: Any = None  # a ProgressLine, made by the first progress report
    #: ProgressLine's arguments (progress_line.py is imported only when a tool reports)
    _status_at: tuple[Any, ...] | None = None

    def __call__(self, event: Any) -> None:
        if self._hold(event):
            return
        status = self._status
        if type(event) is ToolProgress:
            if status is None and self._status_at is not None:  # the first report
                from .progress_line import ProgressLine
                status = self._status = ProgressLine(*self._status_at)
            if status is not None:
                status.update(event)
            return
        if status is None or not status.calls:  # no call is reporting: the usual path
            self._event(event)
            return
        status.hide()
        self._event(event)
        if type(event) is ToolResult:
            status.end(event.id)
        else:
            status.show()

    def _event(self, event: Any) -> None:  # pragma: no cover - each output has its own
        raise NotImplementedError

    def _hold(self, event: Any) -> bool:
        if self._held is None:
            return False
        self._held.append(event)
        return True

    def _before_prompt(self) -> None:
        pass

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        if self._status is not None:
            self._status.hide()
        self._before_prompt()
        self._depth += 1
        if self._held is None:
            self._held = []
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                held, self._held = self._held, None
                for event in held:
                    self(event)  # type: ignore[operator]

    def _deny(self, event: Any, err: Any) -> None:
        """The one stderr line for a denied call (``-v`` or not)."""
        name, arguments = getattr(self, "_calls", {}).pop(event.id, (event.name, ""))
        line = denial_line(name, arguments, event.content)
        err.write(f"\x1b[31m{line}\x1b[0m\n" if _isatty(err) else line + "\n")
        err.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class JsonOutput:
    """``--json``: every engine event as a line of JSON on stdout."""

    def __init__(self, stream: Any = None) -> None:
        self.out = stream or sys.stdout

    def __call__(self, event: Any) -> None:
        if isinstance(event, (RunStart, RunFinished)):
            return  # the CLI writes its own start and result objects (with cost and status)
        self.out.write(json.dumps(event_to_dict(event), ensure_ascii=False) + "\n")
        self.out.flush()

    def finish(self, result: Any, extra: dict[str, Any] | None = None) -> None:
        d = {"type": "result", **result.to_dict(), **(extra or {})}
        self.out.write(json.dumps(d, ensure_ascii=False) + "\n")
        self.out.flush()

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        yield


class PlainOutput(_Holding):
    """Answer text to stdout as it streams; progress to stderr when someone can see it."""

    def __init__(self, progress: bool, show_reasoning: bool = True,
                 discard_answer: bool = False) -> None:
        #: ``discard_answer``: the text is not shown (``--schema`` prints the validated JSON)
        self.out = _Discard() if discard_answer else sys.stdout
        self.err = sys.stderr
        self.progress = progress
        self.show_reasoning = show_reasoning
        self.ended_nl = True
        self.wrote = False
        self._in_reasoning = False
        self._dim = self.err.isatty()
        #: the answer is cleaned only for a terminal; a pipe or a file gets the model's bytes
        self._clean_out = Sanitizer() if _isatty(self.out) else None
        self._clean_reasoning = Sanitizer()
        self._calls: dict[str, tuple[str, str]] = {}
        self._status_at = (self.err, progress and _isatty(self.err), progress)

    def _event(self, event: Any) -> None:
        if type(event) is TextDelta:
            self._end_reasoning()
            text = self._clean_out.feed(event.text) if self._clean_out else event.text
            if not text:
                return
            self.out.write(text)
            self.out.flush()
            self.wrote = True
            self.ended_nl = text.endswith("\n")
            return
        if type(event) is ToolCallComplete:
            self._calls[event.id] = (event.name, event.arguments)
        elif type(event) is ToolResult and event.status == "denied":
            self._end_reasoning()
            self._deny(event, self.err)
            return
        elif type(event) is ToolResult:
            self._calls.pop(event.id, None)
        if type(event) is StepStart and event.step > 1 and self.wrote and not self.ended_nl:
            self.out.write("\n")  # the answers of two steps do not run together
            self.out.flush()
            self.ended_nl = True
        if not self.progress:
            return
        if type(event) is ReasoningDelta and self.show_reasoning:
            self._in_reasoning = True
            text = self._clean_reasoning.feed(event.text)
            self.err.write(f"\x1b[2m{text}\x1b[0m" if self._dim and text else text)
            self.err.flush()
        elif type(event) is ToolCallComplete:
            self._end_reasoning()
            self.err.write(f"→ {clean(event.name)}({short_args(event.name, event.arguments)})\n")
            self.err.flush()
        elif type(event) is ToolResult:
            mark = "✗" if event.is_error else "←"
            first = clip_lines(event.content, 1, 120)
            self.err.write(f"{mark} {clean(event.name)}: {first} "
                           f"({event.duration_ms / 1000:.1f} s)\n")
            self.err.flush()
        elif type(event) is Retrying:
            self.err.write(f"… retrying in {event.delay_s:.1f} s: {clean(event.error)}\n")
            self.err.flush()

    def _end_reasoning(self) -> None:
        if self._in_reasoning:
            self.err.write(self._clean_reasoning.flush() + "\n")
            self.err.flush()
            self._in_reasoning = False

    def _before_prompt(self) -> None:
        self._end_reasoning()

    def finish(self, result: Any, extra: dict[str, Any] | None = None) -> None:
        if self._status is not None:
            self._status.close()
        self._end_reasoning()
        if self._clean_out is not None:
            rest = self._clean_out.flush()
            if rest:
                self.out.write(rest)
                self.wrote, self.ended_nl = True, rest.endswith("\n")
        if self.wrote and not self.ended_nl:
            self.out.write("\n")
        self.out.flush()


class RichOutput(_Holding):
    """Markdown on a terminal: finished blocks printed once, the unfinished tail redrawn in a
    live region no taller than the screen (:mod:`.live_markdown`, :mod:`.live_region`), tool
    calls as one compact line, results as a dim clipped block, reasoning dim. Model text is
    cleaned of escape sequences on its way in (:mod:`.sanitize`)."""

    def __init__(self, show_reasoning: bool = True, code_theme: str = "monokai") -> None:
        from rich.console import Console
        self.console = Console(highlight=False)
        self.show_reasoning = show_reasoning
        self.code_theme = code_theme
        self.live: Any = None   # the answer or the reasoning being streamed
        self._kind = ""
        self._clean = {"answer": Sanitizer(), "reasoning": Sanitizer()}
        self._calls: dict[str, tuple[str, str]] = {}
        self._status_at = (sys.stderr, _isatty(sys.stderr))

    def _stream(self, kind: str) -> Any:
        if self.live is None or self._kind != kind:
            self._settle()
            from .live_markdown import MarkdownStream
            from .live_region import LiveStream, TextStream
            # no OSC 8 hyperlinks: a link shows its target, the model cannot hide one
            stream = MarkdownStream(self.console, self.code_theme, hyperlinks=False) \
                if kind == "answer" else TextStream(self.console, "dim italic")
            self.live, self._kind = LiveStream(self.console, stream), kind
        return self.live

    def _feed(self, kind: str, text: str) -> None:
        text = self._clean[kind].feed(text)
        if text:
            self._stream(kind).feed(text)

    # -- events -------------------------------------------------------------------------
    def _event(self, event: Any) -> None:
        t = type(event)
        if t is TextDelta:
            self._feed("answer", event.text)
        elif t is ReasoningDelta:
            if self.show_reasoning:
                self._feed("reasoning", event.text)
        elif t is ToolCallComplete:
            self._settle()
            self._calls[event.id] = (event.name, event.arguments)
            self.console.print(f"[bold cyan]⏺ {_esc(clean(event.name))}[/]([dim]{_esc(short_args(event.name, event.arguments))}[/])",
                               highlight=False)
        elif t is ToolResult:
            self._settle()
            if event.status == "denied":
                self._deny(event, sys.stderr)
                return
            self._calls.pop(event.id, None)
            style = "red" if event.is_error else "dim"
            from rich.text import Text
            body = Text(clip_lines(event.content), style=style)
            body.pad_left(2)
            self.console.print(body)
        elif t is Retrying:
            self._settle()
            self.console.print(f"[yellow]… retrying in {event.delay_s:.1f} s: {_esc(clean(event.error))}[/]")

    def _settle(self) -> None:
        """What was streamed is printed for good; nothing stays live."""
        if self.live is not None:
            rest = self._clean[self._kind].flush()  # an unfinished escape: shown as text
            if rest:
                self.live.feed(rest)
            live, self.live = self.live, None
            live.close()

    def finish(self, result: Any, extra: dict[str, Any] | None = None) -> None:
        if self._status is not None:
            self._status.close()
        self._settle()

    def _before_prompt(self) -> None:
        """Takes the live region down while the person is asked something."""
        self._settle()


def _esc(text: str) -> str:
    from rich.markup import escape
    return escape(text)
