"""``loomex serve``: the agent behind the AI SDK chat protocol and a chat page, on uvicorn.

The agent is built from flags + config exactly as for ``loomex run`` (:class:`Setup`). Nobody
is at a terminal to approve tool calls, so the approval policy has no one to ask: calls that
need approval run only when a config rule allows them, and are denied otherwise.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

from .exits import CONFIG, USAGE, fail, say
from .setup import Setup

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "localhost.localdomain")


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(opts: Any, host: str, port: int) -> int:
    if not 0 <= port <= 65535:
        fail(f"--port must be between 0 and 65535, got {port}", USAGE)
    setup = Setup(opts)
    agent = setup.agent()
    try:
        approver = ServeApprover(setup.config.get("tools") or {}, os.getcwd())
    except ValueError as e:
        fail(f"config.toml: {e}", CONFIG)

    try:
        import uvicorn
    except ImportError as e:
        if e.name == "uvicorn":
            fail("loomex serve needs uvicorn: pip install uvicorn", USAGE)
        fail(f"loomex serve cannot load uvicorn: {e}", USAGE)
    from ..web import chat_app

    loopback = is_loopback(host)
    allowed = None
    if loopback:  # a page on another site must not reach us through DNS rebinding
        allowed = {*LOOPBACK_NAMES, host.strip("[]").lower()}
    app = chat_app(agent, approver=approver, route=setup.route, allowed_hosts=allowed,
                   context={"cwd": os.getcwd()},
                   accepts_images=setup.resolved.accepts_images)

    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    tools = ", ".join(t.name for t in agent.tools) or "none"
    print(f"loomex serve: http://{shown}:{bound}/  (model {setup.model}; tools: {tools})",
          flush=True)
    if not loopback:
        say(f"warning: listening on {host}, not only on this machine: whoever reaches this "
            "port uses your API key and your tools")
    if note := setup.effort().note:
        say(note)
    say("Ctrl-C to stop")
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False,
                            timeout_graceful_shutdown=3, server_header=False)
    server = _server_class(uvicorn)(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops gracefully, then re-raises the Ctrl-C
        pass
    finally:
        sock.close()
    say("stopped")
    return 0


class ServeApprover:
    """The approval policy with nobody to ask: what a config rule allows runs; any other call
    that needs approval is denied with a reason that says which rule would allow it (serve
    has no --yes and no prompt, so the policy's usual advice does not apply)."""

    def __init__(self, rules: dict[str, Any], cwd: str) -> None:
        from ..tools.policy import Policy

        def nobody(_request: Any) -> None:  # never called: ``probe`` is only asked to decide
            return None
        self.policy = Policy(rules, ask=None, yes=False, cwd=cwd)
        #: the same rules with an asker: its decide() gives what a person would be asked
        self.probe = Policy(rules, ask=nobody, yes=False, cwd=cwd)

    async def __call__(self, tool: Any, args: dict[str, Any], ctx: Any = None) -> Any:
        decision = await self.policy(tool, args, ctx)
        if decision.allowed or decision.source != "policy":
            return decision
        from ..engine.agent import Approval
        from ..tools.policy import ApprovalRequest
        request = self.probe.decide(tool, args, ctx)
        if not isinstance(request, ApprovalRequest):
            return decision
        return Approval(False, serve_denial(request), "policy")


def serve_denial(req: Any) -> str:
    """Why ``loomex serve`` refused a call, and what would allow it."""
    import json
    if req.danger:
        return (f"{req.danger}: loomex serve never runs a dangerous call, because nobody is "
                "there to approve it (run it from `loomex` or `loomex chat` on a terminal)")
    example = json.dumps(req.display or req.subject, ensure_ascii=False)
    return (f"loomex serve asks nobody: a {req.tool} call runs only when an allow rule in "
            f"config.toml matches it, e.g. [tools.{req.tool}] allow = [{example}]")


def _server_class(uvicorn: Any) -> Any:
    """uvicorn's Server, stopping the same way on Ctrl-C, SIGTERM and SIGHUP: it stops
    accepting, cancels the runs in flight at once (their bash tools' process groups are
    killed: SIGTERM, then SIGKILL after a grace), lets their streams end, then exits 0.
    uvicorn alone would wait for the runs, then re-raise the signal, which kills the
    process before the cancelled tools are cleaned up."""
    import asyncio
    import contextlib
    import signal
    import threading

    def cancel_runs() -> None:
        from ..web.stream import RUN_TASK_NAME
        for task in asyncio.all_tasks():
            if task.get_name() == RUN_TASK_NAME:
                task.cancel()

    class Server(uvicorn.Server):  # type: ignore[misc, name-defined]
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            try:
                asyncio.get_running_loop().call_soon_threadsafe(cancel_runs)
            except RuntimeError:  # pragma: no cover - no loop running yet
                pass

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            sigs = [s for s in (getattr(signal, n, None) for n in
                                ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")) if s is not None]
            original = {s: signal.signal(s, self.handle_exit) for s in sigs}
            try:
                yield
            finally:
                for s, handler in original.items():
                    signal.signal(s, handler)

    return Server


def _bind(host: str, port: int) -> socket.socket:
    name = host.strip("[]")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        fail(f"cannot listen on {host}: {e.strerror or e}", USAGE)
    family, _, _, _, addr = infos[0]
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it each small SSE write waits for the client's delayed ACK (~40 ms a request)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # Linux: accepted ones inherit it
    try:
        sock.bind(addr)
        sock.listen(2048)  # connections wait in the backlog until uvicorn is up
    except OSError as e:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}", USAGE)
    return sock

