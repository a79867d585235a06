"""wire/http11.py (loomex's HTTP/1.1 transport on h11) and wire/net.py (its asyncio
connections), against real servers on 127.0.0.1: plain and TLS connections, keep-alive reuse
and its limits, a kept-alive connection the server closed, bodies of every framing, flow
control both ways, and every failure mapped to httpx2's exceptions."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from loomex_cli.wire import client as wire_client
from loomex_cli.wire.http11 import Transport
from loomex_cli.wire.net import _HIGH_WATER, Stream

LIMITS = httpx2.Limits(max_connections=10, max_keepalive_connections=5)


def client(context: ssl.SSLContext | None = None, limits: httpx2.Limits = LIMITS,
           **kw) -> httpx2.AsyncClient:
    context = context or ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return httpx2.AsyncClient(transport=Transport(context, limits), **kw)


class Server:
    """An HTTP/1.1 server written on raw asyncio streams, so that each test decides exactly
    what goes over the socket. ``handler(method, path, body) -> (bytes to send, close after)``."""

    def __init__(self, handler, ssl_context: ssl.SSLContext | None = None,
                 read_body: bool = True) -> None:
        self.handler, self.ssl, self.read_body = handler, ssl_context, read_body
        self.connections = 0

    async def __aenter__(self) -> "Server":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.ssl else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, path, _ = lines[0].split(" ")
                length = next((int(x.split(":")[1]) for x in lines
                               if x.lower().startswith("content-length:")), 0)
                body = await reader.readexactly(length) if self.read_body else b""
                out, close = await self.handler(method, path, body)
                writer.write(out)
                await writer.drain()
                if close:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def response(body: bytes, status: str = "200 OK") -> bytes:
    return (f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n"
            "content-type: text/plain\r\n\r\n").encode() + body


def test_the_shared_clients_use_it_and_a_one_shot_never_loads_httpcore2(replay, tmp_path):
    async def main():
        c = wire_client._new_client(tls=False)
        try:
            assert isinstance(c._transport, Transport)
        finally:
            await c.aclose()
    asyncio.run(main())
    from cli_support import CliEnv
    from replay_server import Reply
    name, url = replay.new_script([Reply.text("ok")], prefix="http11")
    code = ("import sys\nfrom loomex_cli.__main__ import main\n"
            "try:\n    main(['hi'])\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('LOADED=' + str(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('httpcore2', 'anyio'))))\n")
    env = {k: v for k, v in CliEnv(tmp_path, url).env().items()
           if not k.lower().endswith("_proxy")}  # a proxy would take httpx2's own transport
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert p.stdout == "ok\n" and "LOADED=[]" in p.stderr, p.stderr


def test_requests_reuse_one_connection_and_a_closed_idle_one_is_replaced():
    async def handler(method, path, body):
        return response(f"{method} {path} {len(body)}".encode()), path == "/close"

    async def main():
        async with Server(handler) as srv, client() as c:
            for i in range(5):
                r = await c.post(srv.url + f"/p{i}", content=b"x" * i)
                assert r.text == f"POST /p{i} {i}"
            assert srv.connections == 1  # kept alive
            r = await c.get(srv.url + "/close")  # answered, then the server hangs up
            assert r.text == "GET /close 0"
            await asyncio.sleep(0.05)
            r = await c.get(srv.url + "/after")  # not sent on the dead connection
            assert r.text == "GET /after 0" and srv.connections == 2
    asyncio.run(main())


def test_a_big_body_read_slowly_is_held_back_and_arrives_whole():
    blob = bytes(range(256)) * (4 * _HIGH_WATER // 256 * 3)  # 3 MiB

    async def handler(method, path, body):
        return response(blob), False

    async def main():
        held = []
        real = Stream.data_received

        def spy(self, data):
            real(self, data)
            held.append((self.held, self.paused))
        Stream.data_received = spy
        try:
            async with Server(handler) as srv, client() as c:
                async with c.stream("GET", srv.url + "/big") as r:
                    got = bytearray()
                    async for chunk in r.aiter_raw():
                        got += chunk
                        await asyncio.sleep(0.001)  # a slow reader
                assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
        finally:
            Stream.data_received = real
        assert any(paused for _, paused in held)  # reading was paused at least once
        assert max(n for n, _ in held) < _HIGH_WATER + 512 * 1024  # and never ran far ahead
    asyncio.run(main())


def test_a_big_upload_waits_for_a_slow_server_and_arrives_whole():
    blob = hashlib.sha256(b"seed").digest() * (16 * 1024 * 1024 // 32)  # 16 MiB

    async def handler(method, path, body):
        return response(hashlib.sha256(body).hexdigest().encode()), False

    async def main():
        async with Server(handler) as srv, client() as c:
            r = await c.post(srv.url + "/up", content=blob)
            assert r.text == hashlib.sha256(blob).hexdigest()
    asyncio.run(main())


def test_failures_are_httpx2_errors():
    async def silent(method, path, body):
        await asyncio.sleep(30)
        return b"", True

    async def main():
        async with Server(silent) as srv, client() as c:
            with pytest.raises(httpx2.ReadTimeout):
                await c.get(srv.url + "/", timeout=httpx2.Timeout(5, read=0.2))
        async with Server(silent, read_body=False) as srv, client() as c:
            with pytest.raises(httpx2.WriteTimeout):  # the server never reads the body
                await c.post(srv.url + "/", content=b"x" * (64 * 1024 * 1024),
                             timeout=httpx2.Timeout(5, write=0.3))
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        async with client() as c:
            with pytest.raises(httpx2.ConnectError):
                await c.get(f"http://127.0.0.1:{port}/")

        async def cut(method, path, body):  # headers promise more than is sent
            return b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this", True
        async with Server(cut) as srv, client() as c:
            with pytest.raises(httpx2.RemoteProtocolError):
                await c.get(srv.url + "/")
    asyncio.run(main())


def test_a_cancelled_read_leaves_the_client_usable():
    async def handler(method, path, body):
        if path == "/slow":
            await asyncio.sleep(30)
        return response(b"fine"), False

    async def main():
        async with Server(handler) as srv, client() as c:
            task = asyncio.ensure_future(c.get(srv.url + "/slow"))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await c.get(srv.url + "/next")).text == "fine"
    asyncio.run(main())


def test_every_body_framing_and_connection_close():
    chunked = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    until_close = b"HTTP/1.0 200 OK\r\n\r\nread until the end"
    closing = (b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nbye")
    informational = b"HTTP/1.1 100 Continue\r\n\r\n" + response(b"after 100")

    async def handler(method, path, body):
        if path == "/chunked":
            return chunked, False
        if path == "/old":
            return until_close, True
        if path == "/closing":
            return closing, True
        if path == "/100":
            return informational, False
        if path == "/empty":
            return b"HTTP/1.1 204 No Content\r\n\r\n", False
        if method == "HEAD":  # the length a GET would get, and no body
            return b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n", False
        return response(b"x" * 10), False

    async def main():
        async with Server(handler) as srv, client() as c:
            assert (await c.get(srv.url + "/chunked")).text == "hello world"
            assert (await c.head(srv.url + "/head")).content == b""  # length 10, no body
            assert (await c.get(srv.url + "/empty")).status_code == 204
            assert (await c.get(srv.url + "/100")).text == "after 100"
            assert srv.connections == 1  # all on one kept-alive connection
            assert (await c.get(srv.url + "/old")).text == "read until the end"
            assert (await c.get(srv.url + "/closing")).text == "bye"
            assert (await c.get(srv.url + "/chunked")).text == "hello world"
            assert srv.connections == 3  # neither closing one was reused
    asyncio.run(main())


def test_pool_limits_wait_evict_and_time_out():
    gate = asyncio.Event

    async def main():
        release = gate()

        async def handler(method, path, body):
            if path == "/held":
                await release.wait()
            return response(path.encode()), False

        one = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
        async with Server(handler) as srv, Server(handler) as other, client(limits=one) as c:
            first = asyncio.ensure_future(c.get(srv.url + "/held"))
            await asyncio.sleep(0.05)
            second = asyncio.ensure_future(c.get(srv.url + "/queued"))
            await asyncio.sleep(0.05)
            assert not second.done()  # waiting for the only connection
            with pytest.raises(httpx2.PoolTimeout):
                await c.get(srv.url + "/late", timeout=httpx2.Timeout(5, pool=0.1))
            release.set()
            assert (await first).text == "/held" and (await second).text == "/queued"
            assert srv.connections == 1  # the waiting request reused it
            assert (await c.get(other.url + "/elsewhere")).text == "/elsewhere"
            assert other.connections == 1  # the idle one was closed to make room
            assert c._transport._open == 1
    asyncio.run(main())


def test_idle_connections_expire_and_only_so_many_are_kept():
    async def handler(method, path, body):
        await asyncio.sleep(0.05)
        return response(b"ok"), False

    async def main():
        limits = httpx2.Limits(max_connections=10, max_keepalive_connections=1,
                               keepalive_expiry=0.2)
        async with Server(handler) as srv, client(limits=limits) as c:
            await asyncio.gather(*(c.get(srv.url + f"/{i}") for i in range(3)))
            assert srv.connections == 3
            assert c._transport._idle_count == 1 and c._transport._open == 1
            await c.get(srv.url + "/reused")
            assert srv.connections == 3
            await asyncio.sleep(0.4)
            await c.get(srv.url + "/expired")
            assert srv.connections == 4
    asyncio.run(main())


def test_an_early_answer_to_an_upload_is_read():
    """A server that refuses a body without reading it (413, then closes): the client gets
    the answer, not a write error."""
    async def refuse(method, path, body):
        return response(b"too large", "413 Payload Too Large"), True

    async def main():
        async with Server(refuse, read_body=False) as srv, client() as c:
            r = await c.post(srv.url + "/up", content=b"x" * (32 * 1024 * 1024))
            assert r.status_code == 413 and r.text == "too large"
    asyncio.run(main())


def test_an_http_proxy_from_the_environment_is_used(monkeypatch):
    """$HTTP_PROXY still works: httpx2 sends such requests through its own proxy transport."""
    async def proxy(method, path, body):
        return response(f"proxied {method} {path}".encode()), False

    async def main():
        async with Server(proxy) as srv:
            monkeypatch.setenv("HTTP_PROXY", srv.url)
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            c = wire_client._new_client(tls=False)
            try:
                r = await c.get("http://provider.invalid/v1/models")
            finally:
                await c.aclose()
            assert r.text == "proxied GET http://provider.invalid/v1/models"
    asyncio.run(main())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.fail("openssl is needed to make a test certificate", pytrace=False)
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_tls_is_verified(certificate):
    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def handler(method, path, body):
        return response(b"over TLS"), False

    async def main():
        async with Server(handler, server_ctx) as srv:
            async with client(ssl.create_default_context(cafile=str(cert))) as c:
                r = await c.get(srv.url + "/")
                assert r.text == "over TLS"
                assert r.extensions["network_stream"].get_extra_info("ssl_object") is not None
                assert (await c.get(srv.url + "/again")).text == "over TLS"
                assert srv.connections == 1
            async with client(ssl.create_default_context()) as c:  # not trusted
                with pytest.raises(httpx2.ConnectError, match="(?i)certificate"):
                    await c.get(srv.url + "/")
    asyncio.run(main())


def test_the_cli_speaks_tls_through_it(certificate, tmp_path):
    """End to end: the installed loomex refuses the self-signed server, and answers once
    SSL_CERT_FILE trusts it (the same check the binary smoke test makes)."""
    from cli_support import CliEnv, loomex_bin
    from replay_server import Reply, ReplayServer
    cert, key = certificate
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    srv = ReplayServer(ssl=ctx).start()
    try:
        url = srv.script("tls", [Reply.text("over TLS")], repeat_last=True)
        env = CliEnv(tmp_path / "home", url).env()
        refused = subprocess.run([loomex_bin(), "hi"], capture_output=True, text=True,
                                 timeout=60, stdin=subprocess.DEVNULL, env=env)
        assert refused.returncode == 5 and "certificate" in refused.stderr.lower()
        ok = subprocess.run([loomex_bin(), "hi"], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, env={**env, "SSL_CERT_FILE": str(cert)})
        assert ok.returncode == 0 and ok.stdout == "over TLS\n", ok.stderr
    finally:
        srv.stop()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
