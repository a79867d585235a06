"""The AGENTS.md files on a terminal: the notes when one is cut, ``/context`` and the lines of
``loomex config show``. Only paths and sizes are shown, never what a file says, and a path
(a directory of a cloned repository may be named with escape sequences) goes through
:func:`.sanitize.visible` first."""

from __future__ import annotations

from typing import Any

from .exits import say


def load_context_files(quiet: bool = False) -> list[Any]:
    """The files for the working directory (engine/context_files.py); unless ``quiet`` (a
    conversation resumed goes on with the system prompt it was saved with: these are not
    sent), one line on stderr for each that is cut or not used."""
    from ..engine.context_files import cut_note, discover
    from ..wire.config import config_dir
    files = discover(global_dir=config_dir())
    for f in files:
        note = cut_note(f)
        if note and not quiet:
            say(shown(note))
    return files


def shown(text: str) -> str:
    from .sanitize import visible
    return visible(text, mark=False).replace("\n", "<LF>")


def describe(f: Any) -> str:
    """``/path/AGENTS.md  1,234 bytes`` (``, cut to 32,768``; ``: not used (binary)``)."""
    line = f"{shown(f.path)}  {f.size:,} bytes"
    if f.text is None:
        return f"{line}, not used ({f.skipped})"
    if f.cut:
        return f"{line}, cut to {f.used:,}"
    return line


def context_lines(files: list[Any] | None, why_off: str = "--no-context-files") -> list[str]:
    """What ``/context`` prints."""
    if files is None:
        return [f"context files are off ({why_off})"]
    if not files:
        return ["no context files (AGENTS.md or CLAUDE.md) in the config directory, nor from "
                "the repository's root down to here"]
    head = "context files, in the order they are in the system prompt:"
    return [head, *(f"  {describe(f)}" for f in files)]


def saved_prompt_lines(saved: str | None, files: list[Any] | None) -> list[str]:
    """What ``/context`` says first in a resumed conversation that still has the system
    prompt it was saved with: the files found now are not in it (they go in with /clear,
    /system or /role)."""
    from ..engine.context_files import HEADING, heading_path
    held = [f for f in files or () if f"\n## {heading_path(f.path)}\n" in (saved or "")]
    if saved and f"\n{HEADING}\n" in f"\n{saved}":
        what = "with the project instructions it was started with" + (
            f" (from {', '.join(shown(f.path) for f in held)})" if held else "")
    else:
        what = "without project instructions"
    return [f"this resumed conversation keeps the system prompt it was saved with, {what};",
            "the files found here now go in after /clear, /system or /role:"]


def config_show_lines(config: dict[str, Any]) -> list[str]:
    """``loomex config show``: the files a run here would use, as TOML comments."""
    import os
    where = shown(os.getcwd())
    if config.get("context_files", True) is False:
        return ["# context files: off (context_files = false)"]
    files = _discover_quietly()
    if not files:
        return [f"# context files for {where}: none"]
    return [f"# context files for {where}:", *(f"#   {describe(f)}" for f in files)]


def _discover_quietly() -> list[Any]:
    from ..engine.context_files import discover
    from ..wire.config import config_dir
    return discover(global_dir=config_dir())
