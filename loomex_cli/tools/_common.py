"""Small helpers the built-in tools share: the working directory, paths (the path tools'
common part), binary detection, numbered lines and near-name suggestions. Atomic writes that
follow no symlink are in :mod:`.nofollow`."""

from __future__ import annotations

import errno
import os
import weakref
from typing import Any, Iterable


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
    """``path`` as the kernel will find it (see :func:`.paths.resolve_path`): absolute,
    ``~`` expanded, symlinks followed, ``..`` taken after them."""
    from .paths import resolve_path
    return resolve_path(path, cwd)


def is_within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it (both absolute, compared as given)."""
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root if root == os.sep else root + os.sep)


def display_path(path: str, cwd: str) -> str:
    """A path for messages: relative to ``cwd`` (or to its real path) when inside it, else
    absolute."""
    for root in (cwd, os.path.realpath(cwd)):
        if is_within(path, root) and path != root:
            return os.path.relpath(path, root)
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


def open_error(e: OSError, path: str, cwd: str) -> "Exception":
    """The ToolError for a failed open or read of ``path``."""
    from ..engine.tools import ToolError
    shown = display_path(path, cwd)
    if isinstance(e, FileNotFoundError):
        return ToolError(not_found_message(path, cwd))
    if isinstance(e, IsADirectoryError):
        return ToolError(f"{shown} is a directory, not a file; list it with the glob tool "
                         "(or bash ls)")
    if isinstance(e, PermissionError):
        return ToolError(f"permission denied: {shown}")
    if e.errno == errno.EINVAL:
        return ToolError(f"{shown} is not a regular file")
    return ToolError(f"cannot read {shown}: {e.strerror or e}")


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


def check_hard_link(st: os.stat_result, path: str, cwd: str) -> None:
    """A ToolError when the open file is a hard link into a credential store or loomex's
    config directory: its contents go to the model only when read by the protected name,
    where a person is asked."""
    from .paths import hard_link_to_protected
    why = hard_link_to_protected(st)
    if why:
        from ..engine.tools import ToolError
        raise ToolError(f"denied: {why}; {display_path(path, cwd)} is the same file. Name the "
                        "protected path itself so that a person can be asked")


class PathTool:
    """What the path-taking tools share: a ``path`` argument, resolved once against the
    working directory before approval (:meth:`prepare`), so that the policy decides on the
    real place and ``execute`` works on that same place. Reading a protected place (see
    :mod:`.paths`) goes through the approver even for a read-only tool."""

    subject_kind = "path"
    #: the path when none is given (None: a path is required)
    default_path: str | None = None

    def target_path(self, args: dict[str, Any], cwd: str) -> str:
        """The resolved path this call touches (what the policy decides on)."""
        from ..engine.tools import ToolError
        from .paths import Resolved
        if isinstance(args.get("path"), Resolved):  # prepared: the path that was approved
            return args["path"]
        raw = str(args.get("path") or "")
        if not raw.strip():
            if self.default_path is None:
                raise ToolError("path is empty")
            raw = self.default_path
        return resolve(raw, cwd)

    def approval_subject(self, args: dict[str, Any], ctx: Any = None) -> str:
        return self.target_path(args, work_dir(ctx))

    def prepare(self, args: dict[str, Any], ctx: Any) -> dict[str, Any]:
        """The arguments with ``path`` resolved: approved and executed as they are."""
        from .paths import Resolved
        return {**args, "path": Resolved(self.target_path(args, work_dir(ctx)))}

    def needs_approval(self, args: dict[str, Any], ctx: Any) -> bool:
        if getattr(self, "risk", "exec") != "read":
            return True
        return self.read_protection(args, ctx) is not None

    def read_protection(self, args: dict[str, Any], ctx: Any) -> str | None:
        """Why reading what this call reads asks a person first, or None."""
        return self.read_danger(self.target_path(args, work_dir(ctx)))

    def read_danger(self, path: str) -> str | None:
        """Why reading the resolved ``path`` asks a person first, or None."""
        from .paths import protected_place
        walks = self.default_path is not None and os.path.isdir(path)  # grep, glob
        return protected_place(path, write=False, walk=walks)

    def target(self, args: dict[str, Any], ctx: Any) -> tuple[str, str]:
        """(working directory, the resolved path); ToolError when no path was given, or
        when the path is a protected place and no approver was there to ask a person."""
        cwd = work_dir(ctx)
        path = self.target_path(args, cwd)
        if getattr(self, "risk", "exec") == "read" and getattr(ctx, "approver", None) is None:
            why = self.read_protection(args, ctx)
            if why:
                from ..engine.tools import ToolError
                raise ToolError(f"denied: {why}; that needs a person's yes and no approver "
                                "was set")
        return cwd, path
