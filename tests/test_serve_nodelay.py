"""``loomex serve`` turns Nagle off on every accepted connection (TCP_NODELAY).

Without it each small SSE write of a kept-alive connection waits for the client's delayed ACK
(about 40 ms a request on Linux). The oracle is the kernel: getsockopt on the server's side of
a real connection accepted by uvicorn, on the socket ``loomex serve`` listens on.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from loomex_cli.cli.serve import _bind, _server_class


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _server_side_nodelay(sock: socket.socket) -> list[int]:
    """TCP_NODELAY of the server's end of each connection uvicorn accepted on ``sock``, read
    while a kept-alive client is connected."""
    uvicorn = pytest.importorskip("uvicorn")
    port = sock.getsockname()[1]
    config = uvicorn.Config(_hello, log_level="warning", lifespan="on", access_log=False)
    server = _server_class(uvicorn)(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            got = b""
            while not got.endswith(b"ok"):
                piece = client.recv(4096)
                assert piece, got
                got += piece
            assert got.startswith(b"HTTP/1.1 200"), got
            deadline = time.monotonic() + 10
            while not server.server_state.connections and time.monotonic() < deadline:
                time.sleep(0.01)
            return [c.transport.get_extra_info("socket").getsockopt(
                        socket.IPPROTO_TCP, socket.TCP_NODELAY)
                    for c in list(server.server_state.connections)]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_serve_sets_tcp_nodelay_on_accepted_connections():
    values = _server_side_nodelay(_bind("127.0.0.1", 0))
    assert values and all(v != 0 for v in values), values


def test_a_plain_listening_socket_would_not():
    """The oracle can fail: a socket made as loomex made it before (proto 0, no option)
    leaves Nagle on for its connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    values = _server_side_nodelay(sock)
    assert values and all(v == 0 for v in values), values
