"""The running MCP servers of this process, on one background event loop of their own.

Sessions live on a daemon thread's loop, so they outlive any one ``asyncio.run`` (REPL
turns, a long-lived agent, ``loomex serve``) and any loop can use them: calls hop over with
``run_coroutine_threadsafe``, and cancelling the caller cancels the call (the server gets
``notifications/cancelled``). Servers start on first use, in parallel, within their
``timeout``; one that crashes fails its calls with an error result and is restarted once.
At exit (normal, error, Ctrl-C, SIGTERM) every child process group is killed.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import signal
import threading
from typing import Any, Awaitable, Callable, TypeVar

from ..errors import ConfigError
from .config import McpSettings, ServerConfig, expanded
from .session import ServerRequests, Session

T = TypeVar("T")

#: restarts allowed after a crash (the issue: "restarted once")
MAX_RESTARTS = 1


class ServerError(Exception):
    """A server that could not be started or used (one line, for the person or the model)."""


class Person:
    """Who answers the server's questions during a call: the run's ``ask_human`` on the
    caller's loop, and the run's working directory (the root)."""

    def __init__(self, ask: Any, loop: asyncio.AbstractEventLoop | None, cwd: str,
                 progress: Callable[[dict[str, Any]], None] | None = None,
                 ctx: Any = None) -> None:
        self.ask, self.loop, self.cwd, self.progress, self.ctx = ask, loop, cwd, progress, ctx

    async def question(self, text: str) -> Any:
        """Asks on the caller's loop (one question at a time, like the human tool)."""
        if self.ask is None or self.loop is None:
            return None

        async def on_caller() -> Any:
            from ..tools._common import call_person, interaction_lock
            async with interaction_lock():
                return await call_person(self.ask, text)
        fut = asyncio.run_coroutine_threadsafe(on_caller(), self.loop)
        return await asyncio.wrap_future(fut)


class Server:
    """One configured server and its live session."""

    def __init__(self, cfg: ServerConfig, manager: "Manager") -> None:
        self.cfg = cfg
        self.manager = manager
        self.session: Session | None = None
        self.state = "stopped" if not cfg.enabled else "idle"
        self.error: str | None = None
        self.restarts = 0
        self.tools: list[dict[str, Any]] = []
        self.people: list[Person] = []
        self._lock: asyncio.Lock | None = None

    @property
    def log_path(self) -> str:
        from ..wire.config import cache_dir
        return str(cache_dir() / "mcp" / f"{self.cfg.name}.log")

    async def ensure(self) -> Session:
        """The live session, started (or restarted once after a crash) as needed."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            s = self.session
            if s is not None and s.alive:
                return s
            if not self.cfg.enabled:
                raise ServerError(f"MCP server {self.cfg.name!r} is disabled (enabled = false)")
            if s is not None:  # it was running and died
                if self.restarts >= MAX_RESTARTS:
                    raise ServerError(f"MCP server {self.cfg.name!r} crashed again "
                                      f"({s.closed_reason}); not restarted. Its log: "
                                      f"{self.log_path}")
                self.restarts += 1
            elif self.state == "failed":
                raise ServerError(self.error or f"MCP server {self.cfg.name!r} failed to start")
            return await self._start()

    async def _start(self) -> Session:
        from .transports import make_transport
        self.state = "starting"
        cfg = self.cfg
        try:
            cfg = expanded(cfg)
            transport = make_transport(cfg, self.log_path)
            session = Session(transport, cfg.name, requests=_Requests(self))
            try:
                await asyncio.wait_for(session.open(timeout=cfg.timeout), cfg.timeout)
                self.tools = await asyncio.wait_for(session.list_tools(), cfg.timeout)
            except BaseException:
                await _quiet_close(session)
                raise
        except (TimeoutError, asyncio.TimeoutError):
            return self._failed(f"did not start within {cfg.timeout:g} s")
        except ConfigError as e:
            return self._failed(str(e).replace(f"MCP server {cfg.name!r}: ", ""))
        except (OSError, ServerError) as e:
            return self._failed(str(e))
        except Exception as e:  # noqa: BLE001 - any failure is one line for the person
            return self._failed(f"{type(e).__name__}: {e}")
        session.on_closed = self._crashed
        self.session, self.state, self.error = session, "ready", None
        return session

    def _failed(self, why: str) -> Session:
        self.state = "failed"
        where = f" (its log: {self.log_path})" if self.cfg.command else ""
        self.error = f"MCP server {self.cfg.name!r} failed to start: {why}{where}"
        raise ServerError(self.error)

    def _crashed(self, why: str) -> None:
        self.state = "crashed"
        self.error = f"MCP server {self.cfg.name!r} stopped: {why}"

    async def list_tools(self) -> list[dict[str, Any]]:
        session = await self.ensure()
        if session.tools_changed.is_set():
            self.tools = await asyncio.wait_for(session.list_tools(), self.cfg.timeout)
        return self.tools

    async def call(self, tool: str, args: dict[str, Any], person: Person | None,
                   timeout: float | None = None) -> dict[str, Any]:
        from .jsonrpc import Closed
        session = await self.ensure()
        if person is not None:
            self.people.append(person)
        try:
            return await session.call_tool(tool, args, timeout=timeout,
                                           on_progress=person.progress if person else None)
        except Closed as e:
            raise ServerError(f"MCP server {self.cfg.name!r} stopped during the call ({e}); "
                              "it will be restarted on the next call") from None
        finally:
            if person is not None:
                self.people.remove(person)

    async def stop(self) -> None:
        s, self.session = self.session, None
        if s is not None:
            await _quiet_close(s)
        if self.state in ("ready", "starting", "crashed"):
            self.state = "idle"


async def _quiet_close(session: Session) -> None:
    try:
        await asyncio.wait_for(session.close(), 5)
    except BaseException:  # noqa: BLE001 - closing is best effort; the group is killed anyway
        pass


class _Requests(ServerRequests):
    """The server's questions, answered for the call in flight."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.sampling = server.cfg.sampling

    def _person(self) -> Person | None:
        return self.server.people[-1] if self.server.people else None

    def roots(self) -> list[dict[str, Any]]:
        from pathlib import Path
        person = self._person()
        cwd = person.cwd if person else os.getcwd()
        return [{"uri": Path(cwd).resolve().as_uri(), "name": os.path.basename(cwd) or cwd}]

    async def elicit(self, server: str, params: dict[str, Any]) -> dict[str, Any]:
        from .elicit import elicit
        return await elicit(server, params, self._person())

    async def sample(self, server: str, params: dict[str, Any]) -> dict[str, Any]:
        if not self.sampling:
            return await super().sample(server, params)
        from .elicit import sample
        return await sample(server, params, self._person())


class Manager:
    def __init__(self, settings: McpSettings) -> None:
        self.settings = settings
        self.servers = {name: Server(cfg, self) for name, cfg in settings.servers.items()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    # -- the background loop ---------------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._guard:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def main() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()
                self._thread = threading.Thread(target=main, name="loomex-mcp", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
                _register_exit(self)
            return self._loop

    def submit(self, coro: Awaitable[T]) -> "concurrent.futures.Future[T]":
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def run(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        """Runs ``coro`` on the servers' loop and waits (from a thread with no loop)."""
        fut = self.submit(coro)
        try:
            return fut.result(timeout)
        except BaseException:
            fut.cancel()
            raise

    async def arun(self, coro: Awaitable[T]) -> T:
        """Awaits ``coro`` on the servers' loop from any other loop (cancellation goes over)."""
        return await asyncio.wrap_future(self.submit(coro))

    # -- servers ---------------------------------------------------------------------------
    def server(self, name: str) -> Server:
        s = self.servers.get(name)
        if s is None:
            known = ", ".join(self.servers) or "none configured"
            raise ConfigError(f"unknown MCP server {name!r} (known: {known})")
        return s

    async def start_all(self, names: list[str]) -> dict[str, BaseException | None]:
        """Starts ``names`` in parallel; what went wrong with each (None: running)."""
        async def one(n: str) -> BaseException | None:
            try:
                await self.servers[n].list_tools()
                return None
            except Exception as e:  # noqa: BLE001
                return e
        errors = await asyncio.gather(*(one(n) for n in names))
        return dict(zip(names, errors))

    async def stop_all(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.servers.values()),
                             return_exceptions=True)

    def shutdown(self) -> None:
        """Closes every session (politely, briefly), then kills what is left."""
        if self._loop is not None and self._loop.is_running():
            try:
                self.run(self.stop_all(), timeout=3)
            except BaseException:  # noqa: BLE001
                pass
        kill_all()


def kill_all() -> None:
    """SIGKILL to every server process group still alive (synchronous: exit handlers)."""
    from .stdio import LIVE, signal_group
    for pid, pgid in list(LIVE.items()):
        signal_group(pgid, signal.SIGKILL)
        LIVE.pop(pid, None)


_MANAGERS: list[Manager] = []
_SIGNALS_SET = False


def _register_exit(manager: Manager) -> None:
    global _SIGNALS_SET
    if not _MANAGERS:
        atexit.register(_at_exit)
    _MANAGERS.append(manager)
    if _SIGNALS_SET or threading.current_thread() is not threading.main_thread():
        return
    _SIGNALS_SET = True
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            _chain(getattr(signal, name))


def _chain(sig: int) -> None:
    """On ``sig``: kill the servers' groups, then do what was done before (the default:
    die of the signal, as if loomex had not been here)."""
    previous = signal.getsignal(sig)
    if previous == signal.SIG_IGN:
        return

    def handler(signum: int, frame: Any) -> None:
        kill_all()
        if callable(previous):
            previous(signum, frame)
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
    try:
        signal.signal(sig, handler)
    except (ValueError, OSError):  # pragma: no cover - not the main thread after all
        pass


def _at_exit() -> None:
    for m in list(_MANAGERS):
        m.shutdown()
    kill_all()
