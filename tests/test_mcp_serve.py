"""``loomex serve`` exposes configured MCP tools under the same rules: an allow rule lets a
call run, and with no rule (nobody to ask) it is denied. The REPL's ``/mcp`` lists them."""

from __future__ import annotations

from mcp_support import py_cmd, toml_server
from replay_server import Reply
from test_web_e2e import loomex_serve


def test_serve_runs_allowed_mcp_tools_and_denies_the_rest(replay, tmp_path):
    from test_web_app import chat
    from test_web_protocol import user
    target = tmp_path / "work" / "x.txt"
    _, url = replay.new_script([
        Reply.tool_calls([("c1", "py__add", {"a": 1, "b": 2}),
                          ("c2", "py__write_note", {"path": str(target), "text": "x"})]),
        Reply.text("done"),
    ], prefix="mcp-serve")
    cfg = toml_server("py", py_cmd()) + '\n[tools.py__add]\nallow = ["*"]\n'
    with loomex_serve(tmp_path, url, tools="py__*", extra_config=cfg) as base:
        chunks = chat(base, user("go")).chunks()
    outcome = {c["toolCallId"]: c for c in chunks if c["type"].startswith("tool-output")}
    assert outcome["c1"]["type"] == "tool-output-available"
    assert "3" in str(outcome["c1"]["output"])
    assert outcome["c2"]["type"] == "tool-output-error"
    assert "denied" in outcome["c2"]["errorText"]
    assert not target.exists()


def test_repl_mcp_approval_hints_and_elicitation_on_a_terminal(tmux, replay, tmp_path):
    from cli_support import CliEnv, Term, loomex_bin
    target = tmp_path / "note.txt"
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "py__write_note", {"path": str(target), "text": "hi"})]),
        Reply.tool_calls([("c2", "py__ask", {})]),
        Reply.text("all done"),
    ], prefix="mcp-repl")
    cfg = toml_server("py", py_cmd()) + '\n[tools.py__ask]\nallow = ["*"]\n'
    t = Term(tmux, CliEnv(tmp_path, url, extra_config=cfg).env(),
             [loomex_bin(), "chat", "-t", "py__write_note,py__ask"])
    try:
        t.wait_for("›")
        t.type("/mcp")
        t.keys("Enter")
        t.wait_for("11 tools")
        t.type("go")
        t.keys("Enter")
        screen = t.wait_for("wants to call")
        assert "py__write_note" in screen and "the server says: may be destructive" in screen
        t.type("y")
        t.keys("Enter")
        t.wait_for("Tell me about you")
        t.type("Zed")
        t.keys("Enter")
        t.wait_for("default 42")
        t.keys("Enter")
        t.wait_for("default \"blue\"")
        t.keys("Enter")
        t.wait_for("all done")
    finally:
        t.close()
    assert target.read_text() == "hi"
    msgs = replay.requests(name)[-1].body["messages"]
    results = [m["content"] for m in msgs if m["role"] == "tool"]
    assert results[1] == 'accepted: {"name":"Zed","age":42,"color":"blue"}'


def test_the_repl_offers_tools_a_server_added_since_the_last_turn(tmux, replay, tmp_path):
    from cli_support import CliEnv, Term, loomex_bin
    name, url = replay.new_script([
        Reply.tool_calls([("c1", "py__grow", {})]), Reply.text("grown ok"),
        Reply.text("second answer"),
    ], prefix="mcp-repl-grow")
    cfg = toml_server("py", py_cmd()) + '\n[tools."py__*"]\nallow = ["*"]\n'
    t = Term(tmux, CliEnv(tmp_path, url, extra_config=cfg).env(),
             [loomex_bin(), "chat", "-t", "py__*"])
    try:
        t.wait_for("›")
        t.type("grow")
        t.keys("Enter")
        t.wait_for("grown ok")
        t.type("again")
        t.keys("Enter")
        t.wait_for("second answer")
    finally:
        t.close()
    reqs = replay.requests(name)
    names = [[x["function"]["name"] for x in r.body["tools"]] for r in reqs]
    assert "py__extra" not in names[0] and "py__extra" in names[2]
