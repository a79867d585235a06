"""Every loomex error, in one place. Each has a ``kind`` (a stable string for programs and the
web stream); none ever carries a key. The CLI alone maps kinds to exit codes (cli/exits.py).
"""

from __future__ import annotations

import re
from typing import Any


class LoomexError(Exception):
    kind = "error"


class ConfigError(LoomexError):
    """No model, no key, an unknown provider, a config file that does not parse."""
    kind = "config"


class ProviderError(LoomexError):
    """The provider refused or failed. ``message`` is the provider's own words."""
    kind = "provider"
    retryable = False

    def __init__(self, message: str, *, status: int | None = None, provider: str | None = None,
                 code: Any = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.provider = provider
        self.code = code
        self.retry_after = retry_after
        #: set when the failure came after output had been streamed (never retried)
        self.after_output = False
        #: loomex's own words about it, shown after the message (for a 401: the key's source)
        self.note: str | None = None

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        status = f"HTTP {self.status}: " if self.status else ""
        note = f" ({self.note})" if self.note else ""
        return f"{where}{status}{self.message}{note}"


class AuthError(ProviderError):
    kind = "auth"


class NotFoundError(ProviderError):
    """Usually a model name the provider does not know: a configuration problem."""
    kind = "not_found"


class BadRequestError(ProviderError):
    kind = "bad_request"


class ContextLengthError(BadRequestError):
    kind = "context_length"


class RateLimitError(ProviderError):
    kind = "rate_limited"
    retryable = True


class ServerError(ProviderError):
    kind = "server"

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """A 500 whose body is the server's own request validation (llama-cpp-python answers a
        request it cannot parse with 500 and pydantic's errors) fails again the same way."""
        if self.status == 500 and _VALIDATION_RE.search(self.message):
            return False
        return self.status in (None, 500, 502, 503, 504, 529)


_VALIDATION_RE = re.compile(r"\b\d+ validation errors?\b|validation errors? for \w+"
                            r"|'loc': \(['\"]body['\"]", re.I)


class ConnectError(ProviderError):
    """Could not reach the provider, or it timed out."""
    kind = "unreachable"
    retryable = True


class IdleTimeoutError(ProviderError):
    """The provider accepted the request, then sent nothing that carries content for the
    idle timeout (keep-alive comments do not count). Not retried: the server may be working
    on the request, and retrying a silent server would multiply the wait."""
    kind = "timeout"


class StreamError(ProviderError):
    """The response broke or was malformed after it began, or carried an error event."""
    kind = "stream"


class SchemaMismatch(LoomexError):
    """The model's answer did not match the output schema, even after a repair turn."""
    kind = "schema_mismatch"


class StoreError(LoomexError):
    """The database cannot be opened, read or written (every ``sqlite3.Error`` a Store method
    meets comes out as this)."""

    kind = "store"


class UnknownConversation(StoreError):
    """No conversation has that id, or a prefix matches several."""

    kind = "unknown_conversation"
