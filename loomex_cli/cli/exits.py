"""Exit codes (documented in README.md) and the one-line error printer."""

from __future__ import annotations

import sys
from typing import Any, Callable, NoReturn

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


def run_guarded(debug: bool, fn: Callable[[], Any],
                passthrough: tuple[type[BaseException], ...] = ()) -> tuple[Any, int | None]:
    """Runs a command body: ``(its value, None)``, or ``(None, exit code)`` once the error is
    one line on stderr (a traceback too under --debug). Exceptions of the ``passthrough``
    types (Typer's Exit) go up untouched. Imports nothing heavy: the one-shot fast path and
    the Typer commands (``app.guarded``) share it."""
    try:
        return fn(), None
    except passthrough:
        raise
    except CliError as e:
        say(str(e))
        return None, e.code
    except KeyboardInterrupt:
        say("interrupted")
        return None, INTERRUPTED
    except BrokenPipeError:  # `loomex ... | head -1`: the reader left; quietly (pipes.py)
        from .pipes import BROKEN_PIPE, silence_stdout
        silence_stdout()
        return None, BROKEN_PIPE
    except Exception as e:  # noqa: BLE001
        from ..errors import LoomexError
        if debug:
            import traceback
            traceback.print_exc()
        if isinstance(e, LoomexError):
            say(str(e))
        else:
            say(f"internal error: {type(e).__name__}: {e} (run with --debug for details)")
        return None, code_for(e)


def exit_flushed(code: Any) -> NoReturn:
    """Flushes stdout (141 when the reader has gone, pipes.py) and exits with ``code``: the
    end of every command, through Typer or the fast path."""
    from .pipes import BROKEN_PIPE, flush_stdout
    if not flush_stdout():  # the reader left before the last of the output was flushed
        code = BROKEN_PIPE
    sys.exit(code)
