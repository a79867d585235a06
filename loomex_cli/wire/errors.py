"""Provider errors as they come off the wire: the typed error for an HTTP status, the message
out of any error body, secrets redacted. The error classes live in ``loomex_cli.errors``."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import (AuthError, BadRequestError, ConfigError, ConnectError,  # noqa: F401
                      ContextLengthError, IdleTimeoutError, LoomexError, NotFoundError,
                      ProviderError, RateLimitError, ServerError, StreamError)


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
