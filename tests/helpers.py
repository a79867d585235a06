"""Helpers shared by the wire/engine tests: a fake key, agents pointed at the replay server,
running a coroutine on a fresh loop with the shared HTTP client closed afterwards, and an
independent reference reading of a recorded provider response.

The reference reading is deliberately naive (split the body at blank lines, read ``data:``
lines, concatenate deltas of choice 0, key tool calls by ``index``, treat an entry without
``index`` as one whole call) so that it can be checked by eye; the tricky recordings also get
hand-written expectations in the tests.
"""

from __future__ import annotations

import asyncio
import atexit
import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from replay_server import load_fixture

#: a fake key: it must never show up in an error, a repr or a log line
FAKE_KEY = "sk-test-SECRET-123456789"


_runner: asyncio.Runner | None = None


def run_async(coro_fn: Callable[[], Awaitable[Any]], fresh: bool = False) -> Any:
    """Runs ``coro_fn()`` to completion on the suite's long-lived event loop (so loomex's pooled
    HTTP client, and its keep-alive connections, are reused as in a real program), or on a
    fresh loop whose client is closed at the end when ``fresh``."""
    global _runner
    if fresh:
        async def main() -> Any:
            from loomex_cli.wire import client
            try:
                return await coro_fn()
            finally:
                await client.close_client()
        return asyncio.run(main())
    if _runner is None:
        _runner = asyncio.Runner()
        atexit.register(_close_runner)
    return _runner.run(coro_fn())


def _close_runner() -> None:
    global _runner
    if _runner is None:
        return
    from loomex_cli.wire import client
    try:
        _runner.run(client.close_client())
    finally:
        _runner.close()
        _runner = None


def make_agent(url: str, **kw: Any) -> Any:
    """An Agent on the replay server with retries that take milliseconds, not seconds."""
    from loomex_cli import Agent, RetryPolicy
    kw.setdefault("retry", RetryPolicy(base_delay=0.01, max_delay=0.05, jitter=0.0))
    kw.setdefault("model", "test/m")
    kw.setdefault("temperature", None)
    return Agent(base_url=url, api_key=FAKE_KEY, **kw)


def make_route(url: str, provider: str = "test", model: str = "m") -> Any:
    from loomex_cli.wire.providers import Route
    return Route(provider=provider, model=model, base_url=url, api_key=FAKE_KEY)


def is_stream_fixture(fx: dict[str, Any]) -> bool:
    return "event-stream" in fx["headers"].get("content-type", "")


# -- the reference reading -------------------------------------------------------------

def reference_sse(body: str) -> list[tuple[str | None, str]]:
    """(event name, data) per event: the body split at blank lines, ':' lines skipped."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    events = []
    for block in text.split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            line = line.strip()
            if not line or line.startswith(":"):
                continue
            fld, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if fld == "event":
                name = value
            elif fld == "data":
                data.append(value)
        if data:
            events.append((name, "\n".join(data)))
    return events


@dataclass
class RefTurn:
    text: str = ""
    reasoning: str = ""
    #: (id, name, arguments text), in order of first appearance
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    #: the provider's error object when the recording carries one (a chunk or an event)
    error: dict[str, Any] | None = None
    done: bool = False


def reference_turn(name_or_fx: str | dict[str, Any]) -> RefTurn:
    fx = load_fixture(name_or_fx) if isinstance(name_or_fx, str) else name_or_fx
    ref = RefTurn()
    if not is_stream_fixture(fx):
        obj = json.loads(fx["body"])
        choice = obj["choices"][0]
        msg = choice["message"]
        ref.text = msg.get("content") or ""
        ref.reasoning = msg.get("reasoning_content") or msg.get("reasoning") or ""
        ref.tool_calls = [(tc.get("id") or "", tc["function"]["name"], tc["function"]["arguments"])
                          for tc in msg.get("tool_calls") or []]
        ref.usage = obj.get("usage")
        ref.finish_reason = choice.get("finish_reason")
        ref.done = True
        return ref
    calls: dict[Any, dict[str, str]] = {}
    for ev, data in reference_sse(fx["body"]):
        if data == "[DONE]":
            ref.done = True
            break
        obj = json.loads(data)
        if ev == "error":
            ref.error = obj["error"]
            break
        for ch in obj.get("choices") or []:
            if ch.get("index", 0) != 0:
                continue  # n > 1: choice 0 is the answer
            d = ch.get("delta") or {}
            if isinstance(d.get("content"), str):
                ref.text += d["content"]
            r = d.get("reasoning_content") or d.get("reasoning")
            if isinstance(r, str):
                ref.reasoning += r
            for tc in d.get("tool_calls") or []:
                fn = tc.get("function") or {}
                key = ("index", tc["index"]) if "index" in tc else ("whole", len(calls))
                c = calls.setdefault(key, {"id": "", "name": "", "args": ""})
                c["id"] = c["id"] or tc.get("id") or ""
                c["name"] = c["name"] or fn.get("name") or ""
                c["args"] += fn.get("arguments") or ""
            if ch.get("finish_reason"):
                ref.finish_reason = ch["finish_reason"]
        usage = obj.get("usage") or (obj.get("x_groq") or {}).get("usage")
        if usage:
            ref.usage = usage
        if obj.get("error"):
            ref.error = obj["error"]
            break
    ref.tool_calls = [(c["id"], c["name"], c["args"]) for c in calls.values()]
    return ref


class Recorder:
    """Assembler callbacks that keep what they were given."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.starts: list[tuple[int, str, str]] = []
        self.deltas: list[tuple[int, str, str]] = []

    def assembler(self, provider: str = "test") -> Any:
        from loomex_cli.wire.assemble import Assembler
        return Assembler(self.text.append, self.reasoning.append,
                         lambda i, cid, name: self.starts.append((i, cid, name)),
                         lambda i, cid, piece: self.deltas.append((i, cid, piece)),
                         provider=provider)

    def args_by_id(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for _, cid, piece in self.deltas:
            out[cid] = out.get(cid, "") + piece
        return out
