"""Context that never overflows.

Before every model call the loop estimates the prompt (the last reported usage plus an
estimate of what was added since). When it would not fit in the context window minus a
reserve for the answer, the older part of the conversation is replaced by one summary the
model writes; the system prompt and the most recent messages stay as they are, and an
assistant message with tool calls is never separated from its tool results. When the
summary cannot be had, the oldest whole turns are dropped instead.

The bookkeeping is O(n) over the messages and does no I/O; only the summary is a model call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .images import IMAGE_TOKENS, describe, image_parts, part_url
from .messages import Message

#: characters per token for the estimate (provider-neutral; errs on the side of more tokens)
CHARS_PER_TOKEN = 3.5
PER_MESSAGE = 4

SUMMARY_PROMPT = """You are compacting the earlier part of a conversation between a user and \
an AI agent that uses tools, so that the agent can go on without it. Write a concise summary \
that keeps everything needed to continue the work:
- the user's goals and requests, in their words where it matters;
- decisions made and why; facts learned; answers already given;
- every file path, command, URL, identifier and number that may matter later;
- what the tools did and found (briefly), and errors met;
- open tasks and the next steps.
Write it as notes in the agent's voice. Do not invent anything. Output only the summary."""

SUMMARY_PREFIX = "[Summary of the earlier conversation, compacted to fit the context window]\n\n"


def estimate_message(m: Message) -> int:
    """Tokens of one message, roughly: its text by length, and each image as
    :data:`~.images.IMAGE_TOKENS` (never its base64, which a provider does not count as text)."""
    images = 0
    if isinstance(m.content, list):
        n = 0
        for p in m.content:
            if part_url(p) is not None:
                images += 1
            elif isinstance(p, dict) and isinstance(p.get("text"), str):
                n += len(p["text"])
            else:
                n += len(json.dumps(p))
    else:
        n = len(m.text)
    for c in m.tool_calls or ():
        n += len(c.name) + len(c.arguments) + 12
    if m.reasoning:
        n += len(m.reasoning) // 4  # mostly not sent back
    return int(n / CHARS_PER_TOKEN) + PER_MESSAGE + images * IMAGE_TOKENS


def estimate(messages: list[Message]) -> int:
    return sum(estimate_message(m) for m in messages)


@dataclass(slots=True)
class Tracker:
    """Remembers the last reported prompt size, so the estimate is anchored on real usage."""
    known_tokens: int = 0
    known_count: int = 0

    def update(self, usage: dict[str, Any] | None, message_count: int) -> None:
        if usage and usage.get("prompt_tokens"):
            self.known_tokens = int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0) or 0)
            self.known_count = message_count

    def tokens(self, messages: list[Message]) -> int:
        if self.known_count and self.known_count <= len(messages):
            return self.known_tokens + estimate(messages[self.known_count:])
        return estimate(messages)

    def reset(self) -> None:
        self.known_tokens = self.known_count = 0


@dataclass(slots=True)
class Compacted:
    """The messages after a compaction, with its token counts and what was removed and kept."""
    messages: list[Message]
    tokens_before: int
    tokens_after: int
    removed: int
    kept: int
    summarized: bool


def split_point(messages: list[Message], start: int, keep_tokens: int) -> int:
    """The index where the kept recent part begins: as much of the tail as fits in
    ``keep_tokens``, moved so that it never begins with a tool result (its call would be cut
    off). Always keeps at least the last turn that can stand on its own."""
    i = len(messages)
    used = 0
    while i > start:
        cost = estimate_message(messages[i - 1])
        if used + cost > keep_tokens and i < len(messages):
            break
        used += cost
        i -= 1
    while i < len(messages) and messages[i].role == "tool":
        i += 1  # never keep a tool result without the assistant message that asked for it
    if i == len(messages):  # the tail alone is too big: keep the last standalone turn anyway
        i = len(messages) - 1
        while i > start and messages[i].role == "tool":
            i -= 1
    return max(i, start)


def transcript(messages: list[Message], limit_chars: int = 400_000) -> str:
    """The old part as plain text for the summariser (no tool-call structure to break)."""
    out: list[str] = []
    for m in messages:
        if m.role == "assistant":
            if m.text:
                out.append(f"ASSISTANT: {m.text}")
            for c in m.tool_calls or ():
                out.append(f"ASSISTANT called {c.name}({c.arguments[:2000]})")
        elif m.role == "tool":
            text = m.text
            if len(text) > 4000:
                text = text[:2000] + f"\n…[{len(text) - 4000} characters cut]…\n" + text[-2000:]
            out.append(f"TOOL RESULT ({m.name or m.tool_call_id}): {text}")
        else:
            images = " ".join(describe(p) for p in image_parts(m.content))
            out.append(f"{m.role.upper()}: {m.text}" + (f"\n{images}" if images else ""))
    text = "\n\n".join(out)
    return text if len(text) <= limit_chars else "…(earliest part cut)…\n" + text[-limit_chars:]


Summarizer = Callable[[str, str | None], Awaitable[str]]


async def compact(messages: list[Message], keep_tokens: int, summarize: Summarizer | None,
                  instructions: str | None = None) -> Compacted | None:
    """A compacted copy of ``messages`` (None when there is nothing old enough to replace)."""
    start = 1 if messages and messages[0].role == "system" else 0
    cut = split_point(messages, start, keep_tokens)
    old = messages[start:cut]
    if not old:
        return None
    before = estimate(messages)
    head, tail = messages[:start], messages[cut:]
    summary: str | None = None
    if summarize is not None:
        try:
            summary = (await summarize(transcript(old), instructions)).strip() or None
        except Exception:  # noqa: BLE001 - fall back to dropping whole turns
            summary = None
    if summary:
        note = Message.user(SUMMARY_PREFIX + summary)
        note.extra["summary"] = True
    else:
        note = Message.user(f"[{len(old)} earlier messages were dropped to fit the context "
                            "window; ask the user if something from them is needed]")
        note.extra["summary"] = False
    new = [*head, note, *tail]
    return Compacted(new, before, estimate(new), len(old), len(tail), bool(summary))


# -- the loop's side: when, and with which model call -----------------------------------

def budget(agent: Any, resolved: Any) -> tuple[int, int, int]:
    """(window, budget for the prompt, tokens of recent history to keep verbatim). The
    agent's own settings win; else the resolved model's (the registry's, or 128,000)."""
    window = int(agent.context_window or resolved.context_window)
    reserve = agent.reserve_tokens
    if reserve is None and agent.context_window is None:
        reserve = resolved.reserve_tokens
    if reserve is None:
        reserve = min(agent.max_tokens or window // 8, window // 4)
    room = max(window - int(reserve), window // 4)
    keep = agent.keep_recent_tokens if agent.keep_recent_tokens is not None else room // 2
    return window, room, min(int(keep), room)


async def fit(agent: Any, resolved: Any, msgs: list[Message], tracker: Tracker,
              usage_sink: Callable[[dict[str, Any]], None] | None = None, force: bool = False,
              instructions: str | None = None,
              metadata: dict[str, Any] | None = None) -> Compacted | None:
    """Compacts ``msgs`` in place when the next prompt would not fit (or when ``force``),
    (the loop emits a ``Compacted`` event for it; telemetry comes from that event)."""
    window, room, keep = budget(agent, resolved)
    route = resolved.route
    if not force and tracker.tokens(msgs) <= room:
        return None
    if force:
        keep = min(keep, max(estimate(msgs) // 3, 1))

    async def summarize(text: str, extra: str | None) -> str:
        return await summarize_with(route, text, extra, usage_sink)

    done = await compact(msgs, keep, summarize, instructions)
    if done is None:
        return None
    msgs[:] = done.messages
    tracker.reset()
    return done


async def summarize_with(route: Any, text: str, instructions: str | None,
                         usage_sink: Callable[[dict[str, Any]], None] | None = None) -> str:
    from ..wire import client
    from ..wire.assemble import Assembler
    prompt = SUMMARY_PROMPT + (f"\n\nAlso: {instructions}" if instructions else "")
    body = client.build_body(route, [{"role": "system", "content": prompt},
                                     {"role": "user", "content": text}], None,
                             stream=False, temperature=0.0, max_tokens=4096)
    turn = await client.chat(route, body, Assembler(provider=route.provider))
    if usage_sink is not None and turn.usage:
        usage_sink(turn.usage)
    return turn.content or ""
