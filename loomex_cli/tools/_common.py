"""Small helpers the built-in tools share: the working directory, paths, atomic writes,
binary detection, numbered lines and near-name suggestions."""

from __future__ import annotations

import os
import stat
import weakref
from typing import Any, Iterable

from ..wire.atomic import atomic_write  # noqa: F401 - the tools' atomic writes

#: bytes looked at to decide whether a file is binary
SNIFF_BYTES = 8192
#: characters of one line shown before it is cut
MAX_LINE_CHARS = 2000


def work_dir(ctx: Any) -> str:
    """The directory tools work in: ``context={"cwd": ...}`` of the run, else the process's."""
    deps = getattr(ctx, "deps", None) or {}
    cwd = deps.get("cwd") if isinstance(deps, dict) else None
    return os.path.abspath(os.path.expanduser(str(cwd))) if cwd else os.getcwd()


def resolve(path: str, cwd: str) -> str:
    """``path`` made absolute against ``cwd`` (``~`` expanded, ``..`` folded; symlinks kept)."""
    p = os.path.expanduser(str(path).strip())
    return os.path.normpath(p if os.path.isabs(p) else os.path.join(cwd, p))


def is_within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it (both absolute, compared as given)."""
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root if root == os.sep else root + os.sep)


def real_within(path: str, root: str) -> bool:
    """Like :func:`is_within` after following symlinks (of the path's existing part)."""
    return is_within(os.path.realpath(path), os.path.realpath(root))


def display_path(path: str, cwd: str) -> str:
    """A path for messages: relative to ``cwd`` when inside it, else absolute."""
    if is_within(path, cwd) and path != cwd:
        return os.path.relpath(path, cwd)
    return path


def encode_text(text: str) -> bytes:
    """UTF-8 bytes of ``text``; bytes that were undecodable on reading (surrogate escapes)
    come back as they were, and a lone surrogate from a model becomes U+FFFD."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        import re
        return re.sub("[\ud800-\udfff]", "\ufffd", text).encode("utf-8")


def is_binary(head: bytes) -> bool:
    """A NUL byte in the first bytes means binary (as git and ripgrep decide)."""
    return b"\0" in head[:SNIFF_BYTES]


def count_lines(text: str) -> int:
    """Lines as an editor counts them (a last line without a newline still counts)."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def cut_line(text: str, limit: int = MAX_LINE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … [line cut: {len(text):,} characters in all]"


def numbered(lines: Iterable[str], start: int, limit: int = MAX_LINE_CHARS) -> str:
    """Lines as ``cat -n`` shows them: right-aligned number, a tab, the text."""
    return "\n".join(f"{n:>6}\t{cut_line(line, limit)}" for n, line in enumerate(lines, start))


def near_names(path: str, n: int = 3) -> list[str]:
    """Names in ``path``'s directory that look like its name (for "not found" messages)."""
    import difflib
    parent, name = os.path.split(path)
    try:
        names = os.listdir(parent or ".")
    except OSError:
        return []
    hits = difflib.get_close_matches(name, names, n=n, cutoff=0.5)
    lower = name.lower()
    for other in names:  # a different case or a missing extension is a near name too
        if other not in hits and len(hits) < n and (
                other.lower() == lower or os.path.splitext(other)[0] == name):
            hits.append(other)
    return [os.path.join(parent, h) for h in hits]


def not_found_message(path: str, cwd: str) -> str:
    shown = display_path(path, cwd)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        anc = parent
        while anc and not os.path.isdir(anc):
            anc = os.path.dirname(anc)
        return (f"file not found: {shown} (the directory {display_path(parent, cwd)} does "
                f"not exist either; the nearest existing one is {display_path(anc, cwd) or '/'})")
    near = near_names(path)
    if near:
        return (f"file not found: {shown}. Did you mean: "
                + ", ".join(display_path(p, cwd) for p in near) + "?")
    return f"file not found: {shown}"


def check_regular_file(path: str, cwd: str) -> os.stat_result:
    """The file's stat, or a ToolError saying why it cannot be read as a file."""
    from ..engine.tools import ToolError
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ToolError(not_found_message(path, cwd)) from None
    except PermissionError:
        raise ToolError(f"permission denied: {display_path(path, cwd)}") from None
    except OSError as e:
        raise ToolError(f"cannot read {display_path(path, cwd)}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ToolError(f"{display_path(path, cwd)} is a directory, not a file; list it with "
                        "the glob tool (or bash ls)")
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{display_path(path, cwd)} is not a regular file")
    return st


def interaction_lock() -> Any:
    """One asyncio.Lock per event loop: questions to the person (approval prompts and the
    human tool) are asked one at a time."""
    import asyncio
    loop = asyncio.get_running_loop()
    lock = _LOCKS.get(loop)
    if lock is None:
        lock = _LOCKS[loop] = asyncio.Lock()
    return lock


_LOCKS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


async def call_person(fn: Any, *args: Any) -> Any:
    """Calls a face's callback (sync or async). A sync one runs in a worker thread so that it
    may block on the terminal without freezing the event loop."""
    import asyncio
    import inspect
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)):
        value = await fn(*args)
    else:
        value = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(value):
        value = await value
    return value


class PathTool:
    """What the file tools share: a ``path`` argument, resolved against the working
    directory, that is also what approval rules match."""

    subject_kind = "path"

    def approval_subject(self, args: dict[str, Any], ctx: Any = None) -> str:
        return resolve(str(args.get("path", "")), work_dir(ctx))

    @staticmethod
    def target(args: dict[str, Any], ctx: Any) -> tuple[str, str]:
        """(working directory, the absolute path); ToolError when no path was given."""
        from ..engine.tools import ToolError
        cwd = work_dir(ctx)
        raw = str(args.get("path") or "")
        if not raw.strip():
            raise ToolError("path is empty")
        return cwd, resolve(raw, cwd)
