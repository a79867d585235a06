"""All MCP settings of a run, and a project's ``.mcp.json``, used only once the person trusts it.

A project file can start any program, so the first time loomex meets one (or meets it
changed) it asks on the terminal; the answer is stored in the data directory keyed by the
file's resolved path and the SHA-256 of its content. Without a terminal an untrusted file is
ignored with a one-line note.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Callable

from ..errors import ConfigError
from .config import McpSettings, add, from_toml, read_json_servers

PROJECT_FILE = ".mcp.json"


def load_settings(config: dict[str, Any], extra_files: list[str] | None = None, *,
                  cwd: str | None = None,
                  ask: Callable[[str], bool | None] | None = None) -> McpSettings:
    """config.toml's ``[mcp]``, then a trusted project ``.mcp.json``, then ``--mcp-config``
    files (later sources win for a server of the same name)."""
    settings = from_toml(config)
    project = find_project_file(cwd or os.getcwd())
    if project is not None:
        trusted, note = check_trust(project, ask)
        if trusted:
            for cfg in read_json_servers(project).values():
                cfg.source = project
                add(settings, cfg)
        elif note:
            settings.notes.append(note)
    for path in extra_files or ():
        for cfg in read_json_servers(path).values():
            add(settings, cfg)
    return settings


def find_project_file(start: str) -> str | None:
    """``.mcp.json`` in ``start`` or the nearest parent (not above the home directory)."""
    home = os.path.realpath(os.path.expanduser("~"))
    d = os.path.realpath(start)
    while True:
        p = os.path.join(d, PROJECT_FILE)
        if os.path.isfile(p):
            return p
        parent = os.path.dirname(d)
        if d == home or parent == d:
            return None
        d = parent


def _store_path() -> str:
    from ..wire.config import data_dir
    return str(data_dir() / "mcp-trust.json")


def _read_store() -> dict[str, Any]:
    try:
        with open(_store_path(), encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def file_hash(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def remember(path: str, digest: str, trusted: bool) -> None:
    from ..wire.atomic import atomic_write
    store = _read_store()
    store[os.path.realpath(path)] = {"sha256": digest, "trusted": trusted}
    target = _store_path()
    os.makedirs(os.path.dirname(target), exist_ok=True)
    atomic_write(target, json.dumps(store, indent=1, sort_keys=True).encode(), mode=0o600)


def check_trust(path: str, ask: Callable[[str], bool | None] | None) -> tuple[bool, str]:
    """(trusted, a note for the person when it is not)."""
    try:
        digest = file_hash(path)
    except OSError as e:
        return False, f"cannot read {path}: {e.strerror}"
    entry = _read_store().get(os.path.realpath(path))
    if isinstance(entry, dict) and entry.get("sha256") == digest:
        if entry.get("trusted"):
            return True, ""
        return False, ""  # the person said no to exactly this file: stay quiet
    changed = isinstance(entry, dict)
    if ask is None:
        return False, (f"ignoring {path}: MCP servers of a project run only after you trust "
                       "it once on a terminal (loomex mcp list)")
    try:
        servers = read_json_servers(path)
    except ConfigError as e:
        return False, str(e)
    lines = [f"{'changed: ' if changed else ''}{_visible(path)} wants to start these MCP servers:"]
    lines += [f"  {_visible(s.name)}: {_visible(s.shown())}" for s in servers.values()]
    answer = ask("\n".join(lines) + "\nTrust this project's .mcp.json? [y/N] ")
    if answer is None:
        return False, f"ignoring {path} (no answer)"
    remember(path, digest, bool(answer))
    return (True, "") if answer else (False, f"ignoring {path} (not trusted)")


def _visible(text: str) -> str:
    """The project file's words as they are: control characters, escape sequences and
    invisible or unusual spaces shown as <U+XXXX>, so the file cannot redraw or hide part of
    the question that decides whether its programs run."""
    import unicodedata
    return "".join(c if c == " " or unicodedata.category(c)[0] not in "CZ"
                   else f"<U+{ord(c):04X}>" for c in text)


def ask_on_tty(question: str) -> bool | None:
    """A yes/no on the controlling terminal (engine/terminal.py: line mode, keys typed before
    the question discarded, Ctrl-C leaves it); None when there is no terminal, or when an
    event loop already runs here (nobody can be asked synchronously: the file is ignored)."""
    import asyncio
    from ..engine.terminal import exchange
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        answer = asyncio.run(exchange(question))
        return None if answer is None else answer.strip().lower()[:1] == "y"
    return None


def tty_asker() -> Callable[[str], bool | None] | None:
    from ..engine.terminal import tty_available
    return ask_on_tty if tty_available() else None
