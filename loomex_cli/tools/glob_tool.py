"""The ``glob`` tool: files by name pattern, newest first."""

from __future__ import annotations

import os
from typing import Any

from ..engine.tools import Tool, ToolError
from ._common import display_path, not_found_message, resolve, work_dir
from .ignore import compile_path_glob, walk

DEFAULT_MAX_RESULTS = 200
_MAGIC = set("*?[")


class GlobTool(Tool):
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

    def execute(self, args: dict[str, Any], ctx: Any) -> str:
        pattern = str(args.get("pattern") or "").strip()
        if not pattern:
            raise ToolError("pattern is empty")
        cwd = work_dir(ctx)
        root = resolve(str(args.get("path") or "."), cwd)
        absolute = os.path.isabs(os.path.expanduser(pattern))
        if absolute:
            root, pattern = os.sep, os.path.expanduser(pattern).lstrip("/")
        if not os.path.isdir(root):
            if os.path.exists(root):
                raise ToolError(f"{display_path(root, cwd)} is not a directory")
            raise ToolError(not_found_message(root, cwd).replace("file not found",
                                                                 "directory not found"))
        # walk only from the pattern's literal leading directories
        parts = [p for p in pattern.split("/") if p not in ("", ".")]
        lit: list[str] = []
        while len(parts) > 1 and not (_MAGIC & set(parts[0])):
            lit.append(parts.pop(0))
        start = os.path.normpath(os.path.join(root, *lit))
        rest = "/".join(parts)
        found: list[tuple[float, str]] = []
        if os.path.isdir(start):
            rx = compile_path_glob(rest)
            for abs_path, rel in walk(start, links=True):
                if rx.match(rel):
                    found.append((_mtime(abs_path), abs_path))
        found.sort(key=lambda t: (-t[0], t[1]))
        header = [] if root == cwd or absolute else [f"(paths relative to {display_path(root, cwd)})"]
        if not found:
            if absolute:
                return f"No files match {'/' + pattern!r}."
            where = "the working directory" if root == cwd else display_path(root, cwd)
            return "\n".join(header + [f"No files match {pattern!r} in {where}."])
        limit = max(1, self.max_results)
        shown = [p if absolute else os.path.relpath(p, root) for _, p in found[:limit]]
        if len(found) > limit:
            shown.append(f"(showing the {limit} newest of {len(found):,} matching files; "
                         "narrow the pattern or the path)")
        return "\n".join(header + shown)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        try:
            return os.lstat(path).st_mtime
        except OSError:
            return 0.0
