"""``loomex --help`` from a cached rendering: Typer's own text, kept beside the bytecode.

Importing Typer and building the command tree is most of ``--help``'s time, for a text that
changes only with the code. The first ``--help`` renders it with Typer (exactly as before) and
keeps the text in ``cli/__pycache__`` (where Python keeps the bytecode, and only when that is
writable); later ones print that file. The file's name holds what the text depends on: the
terminal width Click formats for (``min(columns, 80) - 2``, at least 50), the loomex version
and the size and modification time of app.py (which defines the tree) and of Typer's
``__init__.py``: any change to either gives a new name, so a stale text is never printed.
The frozen binary carries the text rendered when it was built (at 80 columns and more, the
width nearly every terminal and every pipe gets); unusual layouts render with Typer.
"""

from __future__ import annotations

import os
import sys

HELP_ARGS = (["--help"], ["-h"])
_PREFIX = "root-help-"


def _width() -> int:
    import shutil  # the width exactly as Click's HelpFormatter computes it
    return max(min(shutil.get_terminal_size().columns, 80) - 2, 50)


def cache_file() -> str | None:
    """Where the root help for this terminal width and this code is (or would be) kept;
    None when it cannot be keyed (no Typer found on sys.path). The frozen binary carries the
    text scripts/build-binary rendered at its build for terminals of 80 columns and more
    (``loomex_help/``); at other widths it renders with Typer."""
    if getattr(sys, "frozen", False):
        from .._version import __version__
        base = getattr(sys, "_MEIPASS", None)
        path = os.path.join(base, "loomex_help", f"{_PREFIX}{__version__}-{_width()}.txt") \
            if base else None
        return path if path and os.path.isfile(path) else None
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        app = os.stat(os.path.join(here, "app.py"))
        typer = next((os.stat(p) for d in sys.path if d and os.path.isfile(
            p := os.path.join(d, "typer", "__init__.py"))), None)
    except OSError:
        return None
    if typer is None:
        return None
    width = _width()
    from .._version import __version__
    key = (f"{__version__}-{width}-{app.st_size}-{app.st_mtime_ns}-{typer.st_size}-"
           f"{typer.st_mtime_ns}")
    return os.path.join(here, "__pycache__", f"{_PREFIX}{key}.txt")


def read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except (OSError, ValueError):
        return None


def write(path: str, text: str) -> None:
    """Keeps ``text`` (plain ASCII only) at ``path``, replacing older renderings; quietly
    does nothing where the directory is not writable."""
    if not text.isascii() or "\x1b" in text:
        return
    folder = os.path.dirname(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="ascii") as f:
            f.write(text)
        os.replace(tmp, path)
        for name in os.listdir(folder):
            if name.startswith(_PREFIX) and name != os.path.basename(path):
                os.unlink(os.path.join(folder, name))
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
