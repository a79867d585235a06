"""A real HTTP/1.1 server on 127.0.0.1 that replays recorded provider exchanges and scripted
responses, with faults (status codes, Retry-After, connections closed before the first byte
or mid-stream, delays). Used by the tests, the benchmarks and the CI smoke run.

    srv = ReplayServer().start()
    url = srv.script("t1", [Reply.fixture("openai-gpt41-stream-text-usage"), ...])  # base URL
    ... POST {url}/chat/completions ...
    srv.requests("t1")  # what was received, bodies decoded

Routes: ``/<name>/chat/completions`` serves the next reply of script ``name`` (a script's last
reply repeats when ``repeat_last``); ``/fx/<fixture>/chat/completions`` always serves that
fixture. Run as a program it serves scripts given as JSON (``--script name=file.json``).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

FIXTURES = Path(os.environ.get("LOOMEX_FIXTURES", Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures")).resolve()
PROVIDERS = FIXTURES / "providers"


def load_fixture(name: str) -> dict[str, Any]:
    path = PROVIDERS / (name if name.endswith(".json") else name + ".json")
    return json.loads(path.read_text())


def fixture_names() -> list[str]:
    return sorted(p.stem for p in PROVIDERS.glob("*.json"))


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: the body, sent in these pieces (one chunked-encoding chunk each)
    pieces: list[bytes] = field(default_factory=list)
    #: seconds to wait before each piece
    delay: float = 0.0
    #: seconds to wait before the response head
    head_delay: float = 0.0
    #: close the connection without any response
    close_before_response: bool = False
    #: close the connection after this many pieces (mid-body, chunked encoding left open)
    close_after_pieces: int | None = None

    @classmethod
    def fixture(cls, name: str, split: str = "events", **kw: Any) -> "Reply":
        fx = load_fixture(name)
        headers = {k: v for k, v in fx["headers"].items() if k.lower() in ("content-type", "retry-after")}
        return cls(status=fx["status"], headers=headers, pieces=_split(fx["body"], split), **kw)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None, **kw: Any) -> "Reply":
        h = {"content-type": "application/json", **(headers or {})}
        return cls(status=status, headers=h, pieces=[json.dumps(obj).encode()], **kw)

    @classmethod
    def sse(cls, body: str | bytes, split: str = "events", **kw: Any) -> "Reply":
        text = body.decode() if isinstance(body, bytes) else body
        return cls(headers={"content-type": "text/event-stream"}, pieces=_split(text, split), **kw)

    @classmethod
    def text(cls, *deltas: str, usage: dict[str, int] | None = None, model: str = "m",
             finish: str = "stop", **kw: Any) -> "Reply":
        """An OpenAI-style stream of text deltas."""
        return cls.sse(stream_text(list(deltas), usage=usage, model=model, finish=finish), **kw)

    @classmethod
    def tool_calls(cls, calls: list[tuple[str, str, Any]], text: str = "",
                   usage: dict[str, int] | None = None, **kw: Any) -> "Reply":
        """A stream asking for tool calls: [(id, name, arguments-object-or-json-text)]."""
        return cls.sse(stream_tool_calls(calls, text=text, usage=usage), **kw)


def _split(body: str, how: str) -> list[bytes]:
    raw = body.encode("utf-8")
    if how == "whole" or not raw:
        return [raw]
    if how.startswith("bytes:"):
        n = int(how.split(":")[1])
        return [raw[i:i + n] for i in range(0, len(raw), n)]
    parts = raw.split(b"\n\n")
    out = [p + b"\n\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out or [raw]


def _chunk(obj: dict[str, Any]) -> str:
    return "data: " + json.dumps(obj, separators=(",", ":")) + "\n\n"


def stream_text(deltas: list[str], usage: dict[str, int] | None = None, model: str = "m",
                finish: str = "stop") -> str:
    base = {"id": "chatcmpl-replay", "object": "chat.completion.chunk", "created": 0, "model": model}
    out = [_chunk({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})]
    for d in deltas:
        out.append(_chunk({**base, "choices": [{"index": 0, "delta": {"content": d}, "finish_reason": None}]}))
    out.append(_chunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
    if usage is not None:
        out.append(_chunk({**base, "choices": [], "usage": usage}))
    out.append("data: [DONE]\n\n")
    return "".join(out)


def stream_tool_calls(calls: list[tuple[str, str, Any]], text: str = "",
                      usage: dict[str, int] | None = None) -> str:
    base = {"id": "chatcmpl-replay", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    out = [_chunk({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text or None}, "finish_reason": None}]})]
    for i, (cid, name, args) in enumerate(calls):
        args_text = args if isinstance(args, str) else json.dumps(args)
        half = len(args_text) // 2
        out.append(_chunk({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "id": cid, "type": "function", "function": {"name": name, "arguments": args_text[:half]}}]}, "finish_reason": None}]}))
        out.append(_chunk({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "function": {"arguments": args_text[half:]}}]}, "finish_reason": None}]}))
    out.append(_chunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}))
    if usage is not None:
        out.append(_chunk({**base, "choices": [], "usage": usage}))
    out.append("data: [DONE]\n\n")
    return "".join(out)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


class ReplayServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, ssl: Any = None) -> None:
        #: an ``ssl.SSLContext`` to serve https instead of http
        self.ssl = ssl
        self.host = host
        self.port = port
        self._scripts: dict[str, list[Reply]] = {}
        self._repeat: dict[str, bool] = {}
        self._received: dict[str, list[Received]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._lock = threading.Lock()
        self._counter = 0
        self._responders: dict[str, Callable[[Any], Reply]] = {}
        self.connections = 0
        #: keep what was received (turn off for long benchmark runs)
        self.record = True

    # -- control (from any thread) -------------------------------------------------------
    @property
    def base(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"

    def script(self, name: str, replies: list[Reply], repeat_last: bool = False) -> str:
        with self._lock:
            self._scripts[name] = list(replies)
            self._repeat[name] = repeat_last
            self._received[name] = []
        return f"{self.base}/{name}"

    def responder(self, name: str, fn: Callable[[Any], Reply]) -> str:
        """Serves ``fn(request_body)`` on every request to ``name`` (for many concurrent
        conversations on one URL, where a list of replies would interleave)."""
        with self._lock:
            self._responders[name] = fn
            self._received[name] = []
        return f"{self.base}/{name}"

    def unique_name(self, prefix: str = "t") -> str:
        """A script name no other caller of this server has used (safe in a URL path)."""
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in prefix) or "t"
        with self._lock:
            self._counter += 1
            return f"{safe}-{self._counter}"

    def new_script(self, replies: list[Reply], prefix: str = "t",
                   repeat_last: bool = False) -> tuple[str, str]:
        """Registers ``replies`` under a fresh unique name: returns (name, base URL)."""
        name = self.unique_name(prefix)
        return name, self.script(name, replies, repeat_last=repeat_last)

    def fixture_url(self, fixture: str) -> str:
        return f"{self.base}/fx/{fixture}"

    def requests(self, name: str) -> list[Received]:
        with self._lock:
            return list(self._received.get(name, []))

    def start(self) -> "ReplayServer":
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            self.port = sock.getsockname()[1]
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, sock=sock, backlog=2048, limit=2**20,
                                     ssl=self.ssl))
            ready.set()
            loop.run_forever()
            self._server.close()
            pending = asyncio.all_tasks(loop)  # open keep-alive connections
            for t in pending:
                t.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=main, name="replay-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------------
    def _next(self, path: str, body: Any = None) -> tuple[str, Reply]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        if len(parts) >= 2 and parts[0] == "fx":
            return parts[1], Reply.fixture(parts[1])
        name = parts[0] if parts else ""
        fn = self._responders.get(name)
        if fn is not None:
            return name, fn(body)
        with self._lock:
            replies = self._scripts.get(name)
            if replies is None:
                return name, Reply.json({"error": {"message": f"no script named {name!r}"}}, status=404)
            if not replies:
                return name, Reply.json({"error": {"message": f"script {name!r} is exhausted"}}, status=500)
            if len(replies) == 1 and self._repeat.get(name):
                return name, replies[0]
            return name, replies.pop(0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:  # as real servers do: asyncio skips it for a proto-0 listening socket
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length", "0") or 0)
                raw = await reader.readexactly(n) if n else b""
                if method == "GET":
                    await self._send(writer, Reply.json({"ok": True}))
                    continue
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                name, reply = self._next(path, body)
                if self.record:
                    with self._lock:
                        self._received.setdefault(name, []).append(Received(path, headers, body))
                if not await self._send(writer, reply):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    async def _send(self, writer: asyncio.StreamWriter, r: Reply) -> bool:
        """Writes one response; False when the connection was closed on purpose."""
        if r.head_delay:
            await asyncio.sleep(r.head_delay)
        if r.close_before_response:
            writer.transport.abort()
            return False
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                  429: "Too Many Requests", 500: "Internal Server Error",
                  503: "Service Unavailable"}.get(r.status, "Status")
        hdrs = {"content-type": "application/json", **r.headers}
        head = [f"HTTP/1.1 {r.status} {reason}"]
        head += [f"{k}: {v}" for k, v in hdrs.items()]
        head.append("transfer-encoding: chunked")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        for i, piece in enumerate(r.pieces):
            if r.close_after_pieces is not None and i >= r.close_after_pieces:
                await writer.drain()
                writer.transport.abort()
                return False
            if r.delay:
                await writer.drain()
                await asyncio.sleep(r.delay)
            if piece:
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


def main() -> None:  # pragma: no cover - used by CI smoke tests and benchmarks
    import argparse
    import signal
    ap = argparse.ArgumentParser(description="Replay server for loomex tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--script", action="append", default=[],
                    help="name=reply-spec.json (a list of {fixture|text|tool_calls|json|status...})")
    ap.add_argument("--agent", action="append", default=[],
                    help="name=spec.json ({tool_calls: [[id, name, args]...], text: [...]}): "
                         "answers a request whose last message is a tool result with the text "
                         "(a 400 unless its last messages answer every call id), any other with "
                         "the tool calls (any number of concurrent runs; streamed when asked)")
    ap.add_argument("--no-record", action="store_true", help="do not keep received requests")
    ap.add_argument("--port-file", help="write the port here once listening")
    a = ap.parse_args()
    srv = ReplayServer(port=a.port).start()
    srv.record = not a.no_record
    for spec in a.script:
        name, _, file = spec.partition("=")
        items = json.loads(Path(file).read_text())
        srv.script(name, [reply_from_spec(x) for x in items], repeat_last=True)
    for spec in a.agent:
        name, _, file = spec.partition("=")
        srv.responder(name, agent_responder(json.loads(Path(file).read_text())))
    if a.port_file:
        Path(a.port_file).write_text(str(srv.port))
    print(srv.base, flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    srv.stop()


def agent_responder(spec: dict[str, Any]) -> Callable[[Any], Reply]:
    """A two-step agent conversation: tool calls first, the text once the results of all of them
    came back (a 400 when a call id is missing). Streamed, or one JSON completion for a request
    without ``"stream": true``."""
    calls = Reply.tool_calls([tuple(c) for c in spec["tool_calls"]], usage=spec.get("usage"))
    answer = Reply.text(*spec["text"], usage=spec.get("usage"))
    ids = sorted(c[0] for c in spec["tool_calls"])

    def completion(message: dict[str, Any], finish: str) -> Reply:
        return Reply.json({"id": "chatcmpl-replay", "object": "chat.completion", "created": 0,
                           "model": "m", "usage": spec.get("usage"), "choices": [
                               {"index": 0, "message": message, "finish_reason": finish}]})
    calls_json = completion({"role": "assistant", "content": None, "tool_calls": [
        {"id": cid, "type": "function", "function": {
            "name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
        for cid, name, args in spec["tool_calls"]]}, "tool_calls")
    answer_json = completion({"role": "assistant", "content": "".join(spec["text"])}, "stop")

    def respond(body: Any) -> Reply:
        msgs = body.get("messages") if isinstance(body, dict) else None
        stream = isinstance(body, dict) and body.get("stream")
        if not (msgs and msgs[-1].get("role") == "tool"):
            return calls if stream else calls_json
        got = sorted(str(m.get("tool_call_id")) for m in msgs[len(msgs) - len(ids):]
                     if m.get("role") == "tool")
        if got != ids:  # every call answered, by its id
            return Reply.json({"error": {"message": f"tool results for {got}, not {ids}"}},
                              status=400)
        return answer if stream else answer_json
    return respond


def reply_from_spec(x: dict[str, Any]) -> Reply:
    if "fixture" in x:
        return Reply.fixture(x["fixture"])
    if "text" in x:
        return Reply.text(*x["text"], usage=x.get("usage"), delay=x.get("delay", 0.0))
    if "tool_calls" in x:
        return Reply.tool_calls([tuple(c) for c in x["tool_calls"]], usage=x.get("usage"))
    return Reply.json(x.get("json", {}), status=x.get("status", 200), headers=x.get("headers"))


if __name__ == "__main__":  # pragma: no cover
    main()
