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


def code_for(error: BaseException) -> int:
    """The exit code for an exception from the engine or the wire."""
    code = getattr(error, "exit_code", None)
    if isinstance(code, int):
        return code
    if isinstance(error, CliError):
        return error.code
    return INTERNAL
