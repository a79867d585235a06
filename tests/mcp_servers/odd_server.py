"""A hand-written stdio MCP server that does the unusual things the specification allows
(and a few it does not), to check the client copes: a log line on stdout, its own ``ping``
and ``sampling/createMessage`` and ``roots/list`` requests before it answers, progress for an
unknown token, an answer to an id never sent, an unknown notification, and every tool call
answered after the client's answers arrive. It records what the client sent in
``$ODD_LOG`` (one JSON message per line)."""

import json
import os
import sys

log = open(os.environ["ODD_LOG"], "a")
pending = {}  # our request id -> the client's tools/call it belongs to


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


sys.stdout.write("this is not JSON, just a log line\n")
for line in sys.stdin:
    msg = json.loads(line)
    log.write(json.dumps(msg) + "\n")
    log.flush()
    method, rid = msg.get("method"), msg.get("id")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": rid, "result": {
            "protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
            "serverInfo": {"name": "odd", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "method": "notifications/unknown_thing", "params": {}})
        send({"jsonrpc": "2.0", "id": 999999, "result": {}})  # never asked
        send({"jsonrpc": "2.0", "method": "notifications/progress",
              "params": {"progressToken": "nobody", "progress": 1}})
        send({"jsonrpc": "2.0", "id": rid, "result": {"tools": [
            {"name": "probe", "inputSchema": {"type": "object"}}]}})
    elif method == "tools/call":
        # ask the client three things first; answer the call when all three are back
        pending["p1"] = pending["p2"] = pending["p3"] = rid
        send({"jsonrpc": "2.0", "id": "p1", "method": "ping"})
        send({"jsonrpc": "2.0", "id": "p2", "method": "sampling/createMessage",
              "params": {"messages": [], "maxTokens": 5}})
        send({"jsonrpc": "2.0", "id": "p3", "method": "roots/list"})
        answers = {}
    elif rid in ("p1", "p2", "p3") and "method" not in msg:
        answers[rid] = msg
        if len(answers) == 3:
            send({"jsonrpc": "2.0", "id": pending["p1"], "result": {"content": [
                {"type": "text", "text": json.dumps(answers, sort_keys=True)}]}})
