"""The ``read_file`` and ``write_file`` tools."""

from __future__ import annotations

import os
from typing import Any

from ..engine.tools import Tool, ToolError
from . import nofollow
from ._common import (MAX_LINE_CHARS, SNIFF_BYTES, PathTool, check_hard_link, count_lines,
                      display_path, encode_text, is_binary, numbered, open_error)

DEFAULT_LIMIT = 2000


class ReadFileTool(PathTool, Tool):
    name = "read_file"
    summary = "read a text file, with line numbers (offset/limit for long files)"
    description = (
        "Reads a text file and returns its lines numbered like `cat -n` (number, tab, text): "
        "2000 lines from the start by default; use offset (the first line number to show) "
        "and limit to read on in a long file. Lines over 2000 characters are cut. Relative "
        "paths are relative to the working directory. Binary files and directories are not "
        "shown.")
    parameters = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "the file to read"},
            "offset": {"type": "integer",
                       "description": "the line number to start at (1 = the first line)"},
            "limit": {"type": "integer",
                      "description": "how many lines to show (default 2000)"},
        },
        "required": ["path"],
    }
    risk = "read"

    def execute(self, args: dict[str, Any], ctx: Any) -> str:
        cwd, path = self.target(args, ctx)
        offset = _int_arg(args, "offset", 1)
        limit = _int_arg(args, "limit", DEFAULT_LIMIT)
        if offset < 1:
            offset = 1
        if limit < 1:
            raise ToolError(f"limit must be at least 1, got {limit}")
        shown = display_path(path, cwd)
        try:  # the resolved path, nothing on the way followed: what was approved
            fd, st = nofollow.open_regular(path)
        except OSError as e:
            raise open_error(e, path, cwd) from None
        with os.fdopen(fd, "rb") as f:
            if self.read_protection(args, ctx) is None:  # else a person was asked about it
                check_hard_link(st, path, cwd)
            if is_binary(f.read(SNIFF_BYTES)):
                raise ToolError(f"{shown} is a binary file ({st.st_size:,} bytes); it cannot be "
                                "shown as text")
            f.seek(0)
            picked: list[str] = []
            total = 0
            last = offset + limit - 1
            for total, line in enumerate(f, 1):
                if offset <= total <= last:
                    text = line.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
                    picked.append(text)
        if total == 0:
            return f"({shown} is empty)"
        if offset > total:
            raise ToolError(f"offset {offset} is past the end of {shown}, which has "
                            f"{total:,} line{'s' if total != 1 else ''}")
        end = offset + len(picked) - 1
        body = numbered(picked, offset, MAX_LINE_CHARS)
        if end < total:
            foot = (f"(lines {offset:,}-{end:,} of {total:,}; read on with offset={end + 1})")
        elif offset > 1:
            foot = f"(lines {offset:,}-{end:,} of {total:,}; end of file)"
        else:
            foot = f"({total:,} line{'s' if total != 1 else ''}; end of file)"
        return body + "\n" + foot


class WriteFileTool(PathTool, Tool):
    name = "write_file"
    summary = "create or overwrite a file with the given content (atomic)"
    description = (
        "Writes content to a file, replacing it whole if it exists (use edit_file to change "
        "part of a file). Parent directories are created. The write is atomic: readers see "
        "the old file or the new one, never half of it. Relative paths are relative to the "
        "working directory.")
    parameters = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "the file to write"},
            "content": {"type": "string", "description": "the whole new content"},
        },
        "required": ["path", "content"],
    }
    risk = "write"

    def execute(self, args: dict[str, Any], ctx: Any) -> str:
        cwd, path = self.target(args, ctx)
        content = args.get("content")
        if not isinstance(content, str):
            raise ToolError("content must be a string")
        shown = display_path(path, cwd)
        if os.path.isdir(path):
            raise ToolError(f"{shown} is a directory; give a file path")
        try:
            old_size = os.lstat(path).st_size
        except OSError:
            old_size = None
        data = encode_text(content)
        try:  # into the resolved path's directory, by rename: no symlink is followed
            created = nofollow.replace_file(path, data)
        except IsADirectoryError:
            raise ToolError(f"{shown} is a directory; give a file path") from None
        except OSError as e:
            raise ToolError(f"cannot write {shown}: {e.strerror or e}") from None
        lines = count_lines(content)
        what = f"{len(data):,} bytes, {lines:,} line{'s' if lines != 1 else ''}"
        if created:
            return f"Created {shown} ({what})."
        return f"Replaced {shown} ({what}; it had {old_size or 0:,} bytes)."


def _int_arg(args: dict[str, Any], key: str, default: int) -> int:
    v = args.get(key)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ToolError(f"{key} must be an integer, got {v!r}") from None
