"""Retry with exponential backoff and jitter, honouring ``Retry-After``.

Retried: 429, 500, 502, 503, 504, 529, connection errors and timeouts, and only while nothing
has been streamed yet (a broken stream is never silently replayed). Never: 400/401/403/404.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Awaitable, Callable, TypeVar

from .errors import ProviderError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and how long apart, a failed provider call is tried again."""
    #: tries in all, the first one included
    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 20.0
    #: the most a server's Retry-After is honoured for
    max_retry_after: float = 60.0
    jitter: float = 0.25

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        d = min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)
        return d * (1 + random.uniform(0, self.jitter))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def should_retry(err: BaseException, attempt: int, policy: RetryPolicy) -> bool:
    return (isinstance(err, ProviderError) and bool(err.retryable) and not err.after_output
            and attempt < policy.max_attempts)


async def with_retry(call: Callable[[], Awaitable[T]], policy: RetryPolicy,
                     on_retry: Callable[[int, float, ProviderError], None] | None = None) -> T:
    """Awaits ``call()`` until it succeeds or fails in a way that must not be retried."""
    attempt = 1
    while True:
        try:
            return await call()
        except ProviderError as e:
            if not should_retry(e, attempt, policy):
                raise
            delay = policy.delay(attempt, e.retry_after)
            if on_retry is not None:
                on_retry(attempt, delay, e)
            await asyncio.sleep(delay)
            attempt += 1
