"""Compaction: a long scripted conversation with tool calls against a loopback server with a
small context window. Checked from the requests the server receives: none exceeds the window,
no tool call/result pair is ever split; and recovery when the provider says "too long"."""

from __future__ import annotations

import asyncio

import pytest

from loomex_cli import Agent, ContextLengthError, Message, arun, telemetry, tool
from loomex_cli.engine import compaction
from loomex_cli.engine.events import Compacted
from loomex_cli.wire.retry import RetryPolicy
from replay_server import Reply

WINDOW = 3000


@tool
def fetch(page: int) -> str:
    """Fetches a page of a long document."""
    return f"page {page}: " + ("lorem ipsum dolor sit amet " * 60)


def summary_reply(text: str = "SUMMARY: the user reads pages; nothing is open.") -> Reply:
    return Reply.json({"id": "s", "object": "chat.completion", "model": "m",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}})


def is_summary_request(body) -> bool:
    return body.get("stream") is not True and "compacting" in body["messages"][0]["content"]


def reader(pages: int):
    def respond(body) -> Reply:
        if is_summary_request(body):
            return summary_reply()
        done = sum(1 for m in body["messages"] if m["role"] == "tool")
        asked = sum(len(m.get("tool_calls") or []) for m in body["messages"] if m["role"] == "assistant")
        n = int(body["messages"][-1]["content"].split()[1].rstrip(":")) if done and body["messages"][-1]["role"] == "tool" else asked
        if n >= pages:
            return Reply.text("All pages read.")
        return Reply.tool_calls([(f"call_{n + 1}", "fetch", {"page": n + 1})])
    return respond


def tokens(messages: list[dict]) -> int:
    return compaction.estimate([Message.from_dict(m) for m in messages])


def assert_pairs_intact(messages: list[dict]) -> None:
    asked: set[str] = set()
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            ids = [c["id"] for c in m.get("tool_calls") or []]
            following = [x.get("tool_call_id") for x in messages[i + 1:i + 1 + len(ids)]]
            assert following == ids, f"tool calls {ids} not followed by their results"
            asked.update(ids)
        if m["role"] == "tool":
            assert m["tool_call_id"] in asked, "a tool result without its call"


def test_long_run_never_exceeds_the_window_nor_splits_pairs(replay):
    name = replay.unique_name("compact")
    url = replay.responder(name, reader(pages=14))
    seen: list = []
    telemetry.attach("compact-test", [("loomex", "context", "compact")],
                     lambda e, m, md: seen.append({**m, **md}))
    events: list = []
    try:
        agent = Agent(model="openai/m", base_url=url, api_key="k", tools=[fetch],
                      context_window=WINDOW, max_steps=20, system_prompt="Read every page.")
        result = asyncio.run(arun(agent, "Read the document.", sink=events.append))
    finally:
        telemetry.detach("compact-test")
    assert result.text == "All pages read." and result.finish_reason == "stop"
    reqs = [r.body for r in replay.requests(name) if not is_summary_request(r.body)]
    assert len(reqs) == 15
    for body in reqs:
        assert tokens(body["messages"]) <= WINDOW
        assert_pairs_intact(body["messages"])
        assert body["messages"][0] == {"role": "system", "content": "Read every page."}
    compactions = [e for e in events if isinstance(e, Compacted)]
    assert compactions and all(e.summarized for e in compactions)
    assert len(seen) == len(compactions)
    assert all(m["tokens_after"] < m["tokens_before"] and m["removed"] > 0 for m in seen)
    # the summary replaced the old part; the system prompt stays first
    assert any("SUMMARY:" in (m.get("content") or "") for m in reqs[-1]["messages"])
    # the summary call's tokens are counted
    assert result.usage["total_tokens"] >= 120 * len(compactions)


def test_failed_summary_drops_the_oldest_turns(replay):
    name = replay.unique_name("dropturns")
    inner = reader(pages=10)
    url = replay.responder(name, lambda b: Reply.json({"error": {"message": "no"}}, status=400)
                           if is_summary_request(b) else inner(b))
    agent = Agent(model="openai/m", base_url=url, api_key="k", tools=[fetch],
                  context_window=WINDOW, max_steps=20, retry=RetryPolicy(max_attempts=1))
    result = asyncio.run(arun(agent, "Read the document."))
    assert result.text == "All pages read."
    reqs = [r.body for r in replay.requests(name) if not is_summary_request(r.body)]
    for body in reqs:
        assert tokens(body["messages"]) <= WINDOW
        assert_pairs_intact(body["messages"])
    assert any("earlier messages were dropped" in (m.get("content") or "")
               for m in reqs[-1]["messages"])


def test_overflow_error_compacts_once_and_retries(replay):
    too_long = Reply.json({"error": {"message": "This model's maximum context length is 8192 tokens",
                                     "code": "context_length_exceeded"}}, status=400)
    name = replay.unique_name("overflow")
    calls = {"n": 0}

    def respond(body):
        if is_summary_request(body):
            return summary_reply()
        calls["n"] += 1
        return too_long if calls["n"] == 1 else Reply.text("fits now")
    url = replay.responder(name, respond)
    history = []
    for i in range(6):
        history += [Message.user(f"question {i} " + "x" * 300), Message.assistant(f"answer {i}")]
    agent = Agent(model="openai/m", base_url=url, api_key="k", retry=RetryPolicy(max_attempts=1))
    result = asyncio.run(arun(agent, [*history, Message.user("last question")]))
    assert result.text == "fits now"
    reqs = [r.body for r in replay.requests(name) if not is_summary_request(r.body)]
    assert len(reqs) == 2 and len(reqs[1]["messages"]) < len(reqs[0]["messages"])
    assert reqs[1]["messages"][-1]["content"] == "last question"


def test_a_second_overflow_is_a_clear_error(replay):
    too_long = Reply.json({"error": {"message": "prompt is too long", "code": "context_length_exceeded"}},
                          status=400)
    name = replay.unique_name("overflow2")
    url = replay.responder(name, lambda b: summary_reply() if is_summary_request(b) else too_long)
    history = [Message.user("q " + "y" * 400), Message.assistant("a")] * 3
    agent = Agent(model="openai/m", base_url=url, api_key="k", retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ContextLengthError) as err:
        asyncio.run(arun(agent, [*history, Message.user("again")]))
    assert "even after compaction" in str(err.value)
    from loomex_cli.cli.exits import code_for
    assert code_for(err.value) == 5


def test_split_point_on_a_thousand_messages():
    msgs = [Message.system("s")]
    for i in range(250):
        msgs += [Message.user(f"q{i} " * 20),
                 Message.assistant(None, [__import__("loomex_cli").ToolCall(f"c{i}", "fetch", '{"page": 1}')]),
                 Message.tool(f"c{i}", "r" * 300), Message.assistant(f"a{i}")]
    cut = compaction.split_point(msgs, 1, 5000)  # its speed: scripts/bench_compaction.py
    assert msgs[cut].role != "tool" and 1 < cut < len(msgs)
    assert compaction.estimate(msgs[cut:]) <= 5000 + compaction.estimate(msgs[cut:cut + 1])
