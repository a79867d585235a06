"""Each recorded multi-step conversation replayed as a whole agent loop.

The tools return what the recorded client sent back as tool results (read from the next
step's recorded request), and the request loomex sends for step N+1 is checked against the
recorded one: roles, tool_call ids, tool results, assistant tool calls (names + arguments),
echoed reasoning. For the Gemini pair (the provider sent ``"id": ""``, so both clients invent
ids) the ids are checked for consistency instead of equality.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import FAKE_KEY, is_stream_fixture, reference_turn, run_async
from replay_server import Reply, load_fixture

from loomex_cli import Agent, Message, RetryPolicy, Tool, ToolResult, arun

# (loomex provider name, steps) as listed in INDEX.md "Replaying a multi-step agent loop"
LOOPS = {
    "openai-gpt4omini-stream": ("openai", ["openai-gpt4omini-stream-tool-turn1",
                                           "openai-gpt4omini-stream-tool-turn2-final"]),
    "openai-gpt4o-parallel": ("openai", ["openai-gpt4o-stream-parallel-tools-step1",
                                         "openai-gpt4o-stream-parallel-tools-step2",
                                         "openai-gpt4o-stream-parallel-tools-step3"]),
    "openai-gpt4omini-nonstream": ("openai", ["openai-gpt4omini-nonstream-tool-step1",
                                              "openai-gpt4omini-nonstream-tool-step2",
                                              "openai-gpt4omini-nonstream-tool-step3-final"]),
    "deepseek": ("deepseek", ["deepseek-v4flash-stream-reasoning-tool-turn1",
                              "deepseek-v4flash-stream-reasoning-tool-turn2-final"]),
    "llamacpp": ("llamacpp", ["llamacpp-gptoss20b-stream-reasoning-tool-turn1",
                              "llamacpp-gptoss20b-stream-tool-turn2-final"]),
    "openrouter-claude": ("openrouter", [
        "openrouter-claude-haiku45-stream-tool-processing-comments",
        "openrouter-claude-haiku45-stream-tool-turn2-final"]),
    "zai-parallel": ("zai", ["zai-glm47flash-stream-reasoning-parallel-tools",
                             "zai-glm47flash-stream-parallel-tools-turn2-final"]),
    "gemini-no-id": ("gemini", ["gemini-openai-compat-nonstream-tools-no-id",
                                "gemini-openai-compat-nonstream-tools-no-id-turn2"]),
}
INVENTED_IDS = {"gemini-no-id"}


def _canon(args: Any) -> str:
    if isinstance(args, str):
        args = json.loads(args) if args.strip() else {}
    return json.dumps(args, sort_keys=True)


def _recorded_results(steps: list[dict]) -> dict[tuple[str, str], str]:
    """(tool name, canonical arguments) -> the result the recorded client sent back."""
    out: dict[tuple[str, str], str] = {}
    for fx in steps[1:]:
        msgs = fx["request"]["messages"]
        calls = {tc["id"]: tc for m in msgs if m["role"] == "assistant"
                 for tc in m.get("tool_calls") or []}
        for m in msgs:
            if m["role"] == "tool":
                tc = calls[m["tool_call_id"]]
                out[(tc["function"]["name"], _canon(tc["function"]["arguments"]))] = m["content"]
    return out


class RecordedTool(Tool):
    """A tool declared exactly as the recorded client declared it, answering as it did."""

    def __init__(self, spec: dict, results: dict[tuple[str, str], str]) -> None:
        fn = spec["function"]
        self.name = fn["name"]
        self.description = fn.get("description", "")
        self.parameters = fn.get("parameters") or {"type": "object", "properties": {}}
        self.results = results

    async def execute(self, args, ctx):
        return self.results[(self.name, _canon(args))]


def _normalise(messages: list[dict]) -> list[dict]:
    """The parts of a request's messages that must match. An assistant message with no content
    and no tool calls that is followed by another assistant message is dropped (simonw/llm sends
    the empty text part of a tool-call turn as a message of its own)."""
    out = []
    for i, m in enumerate(messages):
        nxt = messages[i + 1] if i + 1 < len(messages) else None
        if (m["role"] == "assistant" and not m.get("content") and not m.get("tool_calls")
                and nxt is not None and nxt["role"] == "assistant"):
            continue
        n: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            n["tool_calls"] = [(tc["id"], tc["function"]["name"],
                                json.loads(tc["function"]["arguments"] or "{}"))
                               for tc in m["tool_calls"]]
        if m["role"] == "tool":
            n["tool_call_id"] = m["tool_call_id"]
        if m.get("reasoning_content"):
            n["reasoning_content"] = m["reasoning_content"]
        out.append(n)
    return out


def _ids(norm: list[dict]) -> list[str]:
    ids = []
    for m in norm:
        ids += [tc[0] for tc in m.get("tool_calls", [])]
        if "tool_call_id" in m:
            ids.append(m["tool_call_id"])
    return ids


def _without_ids(norm: list[dict]) -> list[dict]:
    out = []
    for m in norm:
        m = dict(m)
        if "tool_calls" in m:
            m["tool_calls"] = [tc[1:] for tc in m["tool_calls"]]
        m.pop("tool_call_id", None)
        out.append(m)
    return out


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_multistep_loop_replays(loop, replay, fixtures_dir):
    provider, names = LOOPS[loop]
    steps = [load_fixture(n) for n in names]
    first = steps[0]["request"]
    results = _recorded_results(steps)
    tools = [RecordedTool(spec, results) for spec in first.get("tools") or []]
    sname, url = replay.new_script([Reply.fixture(n) for n in names], prefix=loop)
    agent = Agent(model=f"{provider}/{first['model']}", base_url=url, api_key=FAKE_KEY,
                  tools=tools, stream=is_stream_fixture(steps[0]), temperature=None,
                  max_steps=len(names), retry=RetryPolicy(max_attempts=1))
    events: list = []
    res = run_async(lambda: arun(agent, [Message.from_dict(m) for m in first["messages"]],
                                 sink=events.append))
    sent = [r.body for r in replay.requests(sname)]
    assert len(sent) == len(names) and res.steps == len(names)

    # every tool ran and answered as recorded (except a call after the last recorded step)
    last_ref = reference_turn(steps[-1])
    tool_results = [e for e in events if isinstance(e, ToolResult)]
    last_calls = len(last_ref.tool_calls)
    ran = tool_results[:len(tool_results) - last_calls]
    assert ran and all(not e.is_error for e in ran), [e.content for e in ran]
    if last_calls:  # gpt-4o step 3 is a further (output) tool call
        assert res.finish_reason == "max_steps"
    else:
        assert res.finish_reason == "stop" and res.text == last_ref.text

    for k, (body, fx) in enumerate(zip(sent, steps)):
        rec = fx["request"]
        assert body["model"] == rec["model"]
        assert bool(body.get("stream")) == bool(rec.get("stream"))
        assert [(t["function"]["name"], t["function"].get("description", ""),
                 t["function"]["parameters"]) for t in body.get("tools") or []] == \
            [(t["function"]["name"], t["function"].get("description", ""),
              t["function"].get("parameters")) for t in rec.get("tools") or []]
        got, want = _normalise(body["messages"]), _normalise(rec["messages"])
        assert [m["role"] for m in got] == [m["role"] for m in want], k
        if loop in INVENTED_IDS:
            assert _without_ids(got) == _without_ids(want)
            ids = _ids(got)
            # each invented id names its call and its result, and no other
            for m in got:
                for tc in m.get("tool_calls", []):
                    assert tc[0].startswith("call_") and ids.count(tc[0]) == 2
        else:
            assert got == want, f"request {k + 1} differs"
        # the assistant tool calls carry exactly the argument text the model produced
        if k:
            prev = reference_turn(steps[k - 1])
            sent_calls = [tc for m in body["messages"] if m["role"] == "assistant"
                          for tc in m.get("tool_calls") or []][-len(prev.tool_calls):]
            assert [(tc["function"]["name"], tc["function"]["arguments"]) for tc in sent_calls] \
                == [(n, a) for _, n, a in prev.tool_calls]
