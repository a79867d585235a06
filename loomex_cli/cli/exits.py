"""Exit codes (documented in README.md) and the one-line error printer."""

from __future__ import annotations

import sys
from typing import NoReturn

OK = 0
INTERNAL = 1
USAGE = 2
CONFIG = 3
AUTH = 4
PROVIDER = 5
RATE_LIMITED = 6
LIMIT = 7
#: the answer did not match --schema, even after a repair turn
SCHEMA_MISMATCH = 8
INTERRUPTED = 130


class CliError(Exception):
    """An error that ends the command with a message and an exit code."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = USAGE) -> NoReturn:
    raise CliError(message, code)


def say(message: str) -> None:
    """A line on stderr, prefixed like every loomex diagnostic (cleaned of escape sequences:
    it may quote the model or a provider)."""
    from .sanitize import clean
    sys.stderr.write(f"loomex: {clean(message)}\n")
    sys.stderr.flush()


#: error kind (``loomex_cli.errors``) -> exit code; a kind not listed: its class's parent's
BY_KIND: dict[str, int] = {
    "config": CONFIG, "not_found": CONFIG, "auth": AUTH, "rate_limited": RATE_LIMITED,
    "provider": PROVIDER, "schema_mismatch": SCHEMA_MISMATCH, "store": INTERNAL,
    "unknown_conversation": USAGE, "error": INTERNAL,
}


def code_for(error: BaseException) -> int:
    """The exit code for an exception from the engine or the wire (the CLI alone decides
    them: the errors carry only their kind)."""
    if isinstance(error, CliError):
        return error.code
    for cls in type(error).__mro__:
        code = BY_KIND.get(getattr(cls, "kind", None) or "")
        if code is not None and "kind" in vars(cls):
            return code
    return INTERNAL
