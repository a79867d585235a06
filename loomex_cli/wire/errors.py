"""Typed errors. Each carries the exit code the CLI uses for it; none ever carries a key."""

from __future__ import annotations

import json
import re
from typing import Any


class LoomexError(Exception):
    exit_code = 1
    kind = "error"


class ConfigError(LoomexError):
    """No model, no key, an unknown provider, a config file that does not parse."""
    exit_code = 3
    kind = "config"


class ProviderError(LoomexError):
    """The provider refused or failed. ``message`` is the provider's own words."""
    exit_code = 5
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
    exit_code = 4
    kind = "auth"


class NotFoundError(ProviderError):
    """Usually a model name the provider does not know: a configuration problem."""
    exit_code = 3
    kind = "not_found"


class BadRequestError(ProviderError):
    kind = "bad_request"


class ContextLengthError(BadRequestError):
    kind = "context_length"


class RateLimitError(ProviderError):
    exit_code = 6
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


_CONTEXT_RE = re.compile(
    r"context[ _-]?length|context window|maximum context|too many tokens|prompt is too long"
    r"|reduce the length|input is too long|exceeds? the (?:model'?s? )?(?:max|context)", re.I)
_CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length", "context_too_long"}


def error_for_status(status: int, message: str, *, code: Any = None, provider: str | None = None,
                     retry_after: float | None = None) -> ProviderError:
    """The typed error for an HTTP status (or a status-like code inside an error event)."""
    if status in (400, 413, 422) and (code in _CONTEXT_CODES or _CONTEXT_RE.search(message)):
        cls: type[ProviderError] = ContextLengthError
    elif status in (401, 403):
        cls = AuthError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    else:
        cls = BadRequestError
    return cls(message, status=status, provider=provider, code=code, retry_after=retry_after)


def extract_message(body: Any, fallback: str = "") -> tuple[str, Any]:
    """(message, code) from any of the error shapes providers send: ``{"error": {...}}``,
    ``{"error": "text"}``, ``{"message": ...}``, ``{"detail": ...}``, a list of those, or text."""
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            if text.lstrip()[:1] == "<":  # an HTML error page (a proxy, a load balancer)
                return (_html_text(text) or fallback), None
            line = text.strip().splitlines()[0] if text.strip() else ""
            return (_clip(line) or fallback), None
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return fallback, None
    err = body.get("error", body)
    if isinstance(err, str):
        return _clip(err), body.get("code")
    if not isinstance(err, dict):
        return fallback, None
    msg = err.get("message") or err.get("detail") or err.get("msg") or ""
    if isinstance(msg, (list, dict)):
        msg = json.dumps(msg)
    raw = (err.get("metadata") or {}).get("raw") if isinstance(err.get("metadata"), dict) else None
    if isinstance(raw, str) and raw and raw not in msg:
        msg = f"{msg}: {raw}" if msg else raw
    code = err.get("code") if err.get("code") is not None else err.get("type")
    return _clip(str(msg)) or fallback, code


def _html_text(html: str) -> str:
    """An HTML page's title, else its text without tags (one line, clipped)."""
    m = re.search(r"<title[^>]*>(.*?)</title>", html, re.I | re.S)
    text = m.group(1) if m and m.group(1).strip() else re.sub(r"<[^>]*>", " ", html)
    return _clip(text, 200)


def _clip(text: str, limit: int = 500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redact(text: str, secret: str | None) -> str:
    """Removes a secret (and its long tail) from text that may be shown to the user."""
    if not secret or len(secret) < 6:
        return text
    text = text.replace(secret, "***")
    tail = secret[-8:]
    return text.replace(tail, "***") if len(tail) >= 6 else text
