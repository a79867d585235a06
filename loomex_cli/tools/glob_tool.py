"""The ``glob`` tool: files by name pattern, newest first."""

from __future__ import annotations

import os
from typing import Any

from ..engine.tools import Tool, ToolError
from ._common import PathTool, display_path, not_found_message, resolve, work_dir
from .ignore import compile_path_glob, walk
from .paths import Resolved, places_under, skipped_note

DEFAULT_MAX_RESULTS = 200
_MAGIC = set("*?[")


class GlobTool(PathTool, Tool):
    name = "glob"
    summary = "find files by name pattern (`**/*.py`), newest first"
    description = (
        "Lists the files whose path matches a glob pattern, newest (most recently modified) "
        "first. `*` and `?` match within one path component, `**` any number of "
        "directories: `**/*.py` is every Python file, `src/**/test_*.py` the tests under "
        "src, `*.md` the Markdown files at the top. path: the directory to search (default: "
        "the working directory); the results are relative to it. Skips .git and what "
        ".gitignore excludes; lists at most 200 files.")
    parameters = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "the glob, e.g. **/*.ts"},
            "path": {"type": "string", "description": "the directory to search in"},
        },
        "required": ["pattern"],
    }
    risk = "read"
    max_results = DEFAULT_MAX_RESULTS
    default_path = "."

    def target_path(self, args: dict[str, Any], cwd: str) -> str:
        """The resolved directory the walk starts from (the pattern's literal leading
        directories taken): what the policy decides on."""
        return _where(args, cwd)[3]

    def prepare(self, args: dict[str, Any], ctx: Any) -> dict[str, Any]:
        root = args.get("path")
        if not isinstance(root, Resolved):
            root = Resolved(resolve(str(root or "."), work_dir(ctx)))
        return {**args, "path": root}

    def execute(self, args: dict[str, Any], ctx: Any) -> str:
        pattern = str(args.get("pattern") or "").strip()
        if not pattern:
            raise ToolError("pattern is empty")
        cwd, start = self.target(args, ctx)
        root, rest, absolute, _ = _where(args, cwd)
        if absolute:
            pattern = os.path.expanduser(pattern).lstrip("/")
        if not os.path.isdir(root):
            if os.path.exists(root):
                raise ToolError(f"{display_path(root, cwd)} is not a directory")
            raise ToolError(not_found_message(root, cwd).replace("file not found",
                                                                 "directory not found"))
        found: list[tuple[float, str]] = []
        skipped = places_under(start) if os.path.isdir(start) else []
        if os.path.isdir(start):
            rx = compile_path_glob(rest)
            for abs_path, rel in walk(start, links=True, skip=[p for p, _ in skipped]):
                if rx.match(rel):
                    found.append((_mtime(abs_path), abs_path))
        found.sort(key=lambda t: (-t[0], t[1]))
        header = [] if _same(root, cwd) or absolute else \
            [f"(paths relative to {display_path(root, cwd)})"]
        note = [skipped_note(skipped, start)] if skipped else []
        if not found:
            if absolute:
                return "\n".join([f"No files match {'/' + pattern!r}."] + note)
            where = "the working directory" if _same(root, cwd) else display_path(root, cwd)
            return "\n".join(header + [f"No files match {pattern!r} in {where}."] + note)
        limit = max(1, self.max_results)
        shown = [p if absolute else os.path.relpath(p, root) for _, p in found[:limit]]
        if len(found) > limit:
            shown.append(f"(showing the {limit} newest of {len(found):,} matching files; "
                         "narrow the pattern or the path)")
        return "\n".join(header + shown + note)


def _where(args: dict[str, Any], cwd: str) -> tuple[str, str, bool, str]:
    """(the resolved root, the pattern after its literal leading directories, whether the
    pattern is absolute, the resolved directory the walk starts from)."""
    pattern = os.path.expanduser(str(args.get("pattern") or "").strip())
    absolute = os.path.isabs(pattern)
    root = args.get("path")
    if absolute:
        root = os.sep
    elif not isinstance(root, Resolved):  # a prepared root is used as approved
        root = resolve(str(root or "."), cwd)
    parts = [p for p in pattern.lstrip("/").split("/") if p not in ("", ".")]
    lit: list[str] = []
    while len(parts) > 1 and not (_MAGIC & set(parts[0])):
        lit.append(parts.pop(0))
    start = resolve(os.path.join(root, *lit), cwd) if lit else root
    return root, "/".join(parts), absolute, start


def _same(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        try:
            return os.lstat(path).st_mtime
        except OSError:
            return 0.0
