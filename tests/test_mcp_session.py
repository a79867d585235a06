"""The MCP client as a library, against real servers and an in-memory one: version
negotiation, cancellation (the server really gets ``notifications/cancelled`` and lives on),
progress, elicitation through the ``human`` prompt with schema defaults, list_changed, and
``mcp_tools`` in a long-lived agent whose session outlives its turns."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from helpers import make_agent
from mcp_support import everything_cmd, py_cmd
from replay_server import Reply

from loomex_cli.mcp.config import McpSettings, ServerConfig
from loomex_cli.mcp.manager import Manager, Person
from loomex_cli.mcp.session import ProtocolError, Session


def manager(tmp_path, **servers: list[str]) -> Manager:
    env = {"LOOMEX_TEST_MARKER": str(tmp_path / "cancelled")}
    return Manager(McpSettings(servers={
        n: ServerConfig(n, command=cmd[0], args=cmd[1:], env=env) for n, cmd in servers.items()}))


class MemoryTransport:
    """A server in a function: ``answer(message) -> reply or None``."""

    def __init__(self, answer):
        self.answer = answer
        self.sent: list[dict] = []

    async def start(self, on_message, on_close):
        self.on_message = on_message

    async def send(self, message):
        self.sent.append(message)
        reply = self.answer(message)
        if reply is not None:
            asyncio.get_running_loop().call_soon(self.on_message, reply)

    async def close(self):
        pass


def _server(version, pages=None):
    def answer(m):
        if m.get("method") == "initialize":
            return {"jsonrpc": "2.0", "id": m["id"], "result": {
                "protocolVersion": version, "capabilities": {"tools": {"listChanged": True}},
                "serverInfo": {"name": "mem", "version": "0"}}}
        if m.get("method") == "tools/list":
            cursor = (m.get("params") or {}).get("cursor")
            page, nxt = pages[cursor]
            return {"jsonrpc": "2.0", "id": m["id"],
                    "result": {"tools": page, **({"nextCursor": nxt} if nxt else {})}}
        return None
    return answer


def test_version_negotiation():
    async def go(version):
        t = MemoryTransport(_server(version, {None: ([{"name": "a"}], "c2"),
                                              "c2": ([{"name": "b"}], None)}))
        s = await Session(t, "mem").open(timeout=5)
        return s, t, await s.list_tools()
    s, t, tools = asyncio.run(go("2025-06-18"))
    assert s.protocol_version == "2025-06-18"
    assert t.sent[0]["params"]["protocolVersion"] == "2025-11-25"
    assert t.sent[0]["params"]["capabilities"]["elicitation"] == {"form": {}}
    assert "sampling" not in t.sent[0]["params"]["capabilities"]
    assert t.sent[1] == {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert [x["name"] for x in tools] == ["a", "b"]  # both pages
    with pytest.raises(ProtocolError, match="1999-01-01"):
        asyncio.run(go("1999-01-01"))


def test_cancel_reaches_the_server_which_lives_on(tmp_path):
    m = manager(tmp_path, py=py_cmd())
    srv = m.servers["py"]
    progress: list[dict] = []

    async def go():
        person = Person(None, None, str(tmp_path), progress=progress.append)
        pid = (await m.arun(srv.call("pid", {}, person)))["structuredContent"]["result"]
        task = asyncio.ensure_future(m.arun(srv.call("slow", {"seconds": 30}, person)))
        while not progress:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + 10
        while not (tmp_path / "cancelled").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        again = (await m.arun(srv.call("pid", {}, person)))["structuredContent"]["result"]
        return pid, again
    try:
        pid, again = asyncio.run(go())
    finally:
        m.shutdown()
    assert (tmp_path / "cancelled").read_text() == "cancelled"
    assert pid == again  # the same process: it was told to cancel, not killed
    assert progress[0]["progress"] == 0 and progress[0]["message"] == "step 0"


def test_elicitation_asks_the_person_with_defaults(tmp_path):
    m = manager(tmp_path, py=py_cmd())
    questions: list[str] = []
    answers = iter(["Ann", "", "red"])

    def ask(q):
        questions.append(q)
        return next(answers)

    async def go():
        person = Person(ask, asyncio.get_running_loop(), str(tmp_path))
        return await m.arun(m.servers["py"].call("ask", {}, person))
    try:
        result = asyncio.run(go())
    finally:
        m.shutdown()
    text = result["content"][0]["text"]
    assert text.startswith("accepted: ")
    assert json.loads(text[len("accepted: "):]) == {"name": "Ann", "age": 42, "color": "red"}
    assert "Tell me about you" in questions[0] and "default 42" in questions[1]


def test_list_changed_refreshes_the_tools(tmp_path):
    m = manager(tmp_path, py=py_cmd())
    srv = m.servers["py"]

    async def go():
        first = [t["name"] for t in await srv.list_tools()]
        await srv.call("grow", {}, None)
        deadline = time.monotonic() + 10
        while not srv.session.tools_changed.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return first, [t["name"] for t in await srv.list_tools()]
    try:
        first, after = m.run(go(), timeout=60)
    finally:
        m.shutdown()
    assert "extra" not in first and "extra" in after


def test_mcp_tools_in_a_long_lived_agent(replay, tmp_path):
    from loomex_cli import mcp_tools, start_agent
    m = manager(tmp_path, py=py_cmd())
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "py__pid", {})]), Reply.text("one"),
        Reply.tool_calls([("c2", "py__pid", {})]), Reply.text("two"),
    ], prefix="mcp-lib")
    tools = mcp_tools("py__pid", manager=m)
    assert [t.name for t in tools] == ["py__pid"] and tools[0].risk == "exec"
    handle = start_agent(make_agent(url, tools=tools))
    try:
        assert handle.call("first").text == "one"
        assert handle.call("second").text == "two"
    finally:
        handle.stop()
        m.shutdown()
    msgs = replay.requests(name)[-1].body["messages"]
    pids = [m["content"] for m in msgs if m["role"] == "tool"]
    assert len(pids) == 2 and pids[0] == pids[1] and pids[0].isdigit()
    assert not os.path.exists(f"/proc/{pids[0]}/cmdline") or \
        "py_server" not in open(f"/proc/{pids[0]}/cmdline").read()
