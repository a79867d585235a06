"""A scripted Streamable HTTP MCP server on 127.0.0.1 that checks the client's side of the
protocol: it drops the initialize stream after a priming event (the client must resume with
GET + ``Last-Event-ID`` after ``retry``), pages ``tools/list``, wants ``Mcp-Session-Id`` and
``MCP-Protocol-Version`` on later requests, and records everything (DELETE included)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SESSION = "sess-123"
TOOLS = [{"name": f"tool.{i}", "description": f"tool {i}",
          "inputSchema": {"type": "object", "properties": {"x": {"type": "integer"}}}}
         for i in range(5)]


class FakeServer:
    def __init__(self, *, status: int | None = None, version: str = "2025-11-25") -> None:
        self.status = status
        self.version = version
        self.seen: list[dict] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mcp"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _record(self, body=None):
                fake.seen.append({"verb": self.command, "headers": dict(self.headers),
                                  "body": body})

            def _json(self, obj, status=200, headers=()):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, chunks, headers=()):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                for c in chunks:
                    self.wfile.write(c.encode())
                    self.wfile.flush()
                self.close_connection = True

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                msg = json.loads(self.rfile.read(n))
                self._record(msg)
                if fake.status:
                    return self._json({"error": "no"}, fake.status)
                method, rid = msg.get("method"), msg.get("id")
                if method == "initialize":
                    # a priming event, then the stream drops before the answer
                    return self._sse(["id: e1\nretry: 50\ndata: \n\n"],
                                     headers=[("Mcp-Session-Id", SESSION)])
                if self.headers.get("Mcp-Session-Id") != SESSION:
                    return self._json({"error": "no session"}, 400)
                if self.headers.get("MCP-Protocol-Version") != fake.version:
                    return self._json({"error": "no version"}, 400)
                if rid is None or "method" not in msg:
                    self.send_response(202)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if method == "tools/list":
                    cursor = (msg.get("params") or {}).get("cursor")
                    page = TOOLS[:3] if cursor is None else TOOLS[3:]
                    result = {"tools": page, **({"nextCursor": "p2"} if cursor is None else {})}
                    return self._json({"jsonrpc": "2.0", "id": rid, "result": result})
                if method == "tools/call":
                    args = msg["params"]["arguments"]
                    result = {"content": [{"type": "text", "text": f"x={args.get('x')}"}],
                              "structuredContent": None}
                    # the answer on an SSE stream, after a progress notification
                    note = {"jsonrpc": "2.0", "method": "notifications/message",
                            "params": {"level": "info", "data": "working"}}
                    answer = {"jsonrpc": "2.0", "id": rid, "result": result}
                    return self._sse([f"id: c1\ndata: {json.dumps(note)}\n\n",
                                      f"id: c2\ndata: {json.dumps(answer)}\n\n"])
                return self._json({"jsonrpc": "2.0", "id": rid,
                                   "error": {"code": -32601, "message": "no"}})

            def do_GET(self):
                self._record()
                if self.headers.get("Last-Event-ID") == "e1":
                    init = fake.seen[0]["body"]
                    answer = {"jsonrpc": "2.0", "id": init["id"], "result": {
                        "protocolVersion": fake.version, "capabilities": {"tools": {}},
                        "serverInfo": {"name": "fake", "version": "1"}}}
                    return self._sse([f"id: e2\ndata: {json.dumps(answer)}\n\n"])
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_DELETE(self):
                self._record()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
        return H
