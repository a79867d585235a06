"""How long loomex waits, and the watch that ends a stream gone quiet.

Two timeouts, each with its own message: **connect** (15 s) and **idle** (120 s): the most
time without a content-bearing SSE event, and the longest wait for the answer to begin (SSE
comments and keep-alives do not count). Each comes from, in order: the provider's table in
config.toml (``[providers.X] idle_timeout``), the top level of config.toml, the environment
(``$LOOMEX_IDLE_TIMEOUT``, or its older name ``$LOOMEX_READ_TIMEOUT``;
``$LOOMEX_CONNECT_TIMEOUT``), the default.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from .providers import Route

#: seconds without a content-bearing event before a stream is given up (keep-alive
#: comments do not count); ``idle_timeout`` in config.toml, globally or per provider
DEFAULT_IDLE_TIMEOUT = 120.0
DEFAULT_CONNECT_TIMEOUT = 15.0


def _timeout_env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def connect_timeout(route: Route | None = None) -> float:
    """``connect_timeout`` of the route (config.toml), else $LOOMEX_CONNECT_TIMEOUT, else 15."""
    if route is not None and route.connect_timeout:
        return float(route.connect_timeout)
    return _timeout_env("LOOMEX_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)


def idle_timeout(route: Route | None = None) -> float:
    """``idle_timeout`` of the route (config.toml), else $LOOMEX_IDLE_TIMEOUT (the older
    $LOOMEX_READ_TIMEOUT is read too), else 120."""
    if route is not None and route.idle_timeout:
        return float(route.idle_timeout)
    default = _timeout_env("LOOMEX_READ_TIMEOUT", DEFAULT_IDLE_TIMEOUT)
    return _timeout_env("LOOMEX_IDLE_TIMEOUT", default)


class IdleWatch:
    """Ends the ``asyncio.timeout`` it is given once no event has arrived for ``idle``
    seconds. The reader only sets ``busy = True`` after a read that completed an event (the
    cheapest thing the hot path can do); a timer every ``idle / 4`` seconds notes the time
    when it finds ``busy`` set and clears it. So the stream is ended between ``idle`` and
    ``1.25 * idle`` seconds after its last event, never before ``idle``."""

    __slots__ = ("loop", "idle", "busy", "last", "cm", "handle")

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: float, cm: Any) -> None:
        self.loop, self.idle, self.cm = loop, idle, cm
        self.busy = False
        self.last = loop.time()
        self.handle = loop.call_at(self.last + idle / 4, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        if self.busy:
            self.busy = False
            self.last = now  # the last event came after the previous check
        elif now - self.last >= self.idle:
            self.cm.reschedule(now)  # TimeoutError at the end of the ``async with``
            return
        self.handle = self.loop.call_at(min(now + self.idle / 4, self.last + self.idle),
                                        self._check)

    def stop(self) -> None:
        self.handle.cancel()
