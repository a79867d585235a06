"""The ``edit_file`` tool: exact string replacement, with a diff of what changed."""

from __future__ import annotations

from typing import Any

from ..engine.tools import Tool, ToolError
from . import nofollow
from ._common import (SNIFF_BYTES, PathTool, check_hard_link, display_path, encode_text,
                      is_binary, numbered, open_error)
from .paths import protected_place

#: lines of the unified diff shown in the result
MAX_DIFF_LINES = 80
#: lines of context around the closest region when old_string is not found
REGION_CONTEXT = 2


class EditFileTool(PathTool, Tool):
    name = "edit_file"
    summary = "replace an exact piece of text in a file, showing the diff"
    description = (
        "Edits a file by replacing old_string with new_string. old_string must match the "
        "file exactly (whitespace and indentation included) and only once, unless "
        "replace_all is true; include enough surrounding lines to make it unique. Read the "
        "file first. The result shows a diff of the change. Use write_file to create a file.")
    parameters = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "the file to edit"},
            "old_string": {"type": "string", "description": "the exact text to replace"},
            "new_string": {"type": "string", "description": "the text to put in its place"},
            "replace_all": {"type": "boolean",
                            "description": "replace every occurrence (default false)"},
        },
        "required": ["path", "old_string", "new_string"],
    }
    risk = "write"

    def execute(self, args: dict[str, Any], ctx: Any) -> str:
        cwd, path = self.target(args, ctx)
        old, new = args.get("old_string"), args.get("new_string")
        if not isinstance(old, str) or not isinstance(new, str):
            raise ToolError("old_string and new_string must be strings")
        replace_all = bool(args.get("replace_all", False))
        shown = display_path(path, cwd)
        if old == "":
            raise ToolError("old_string is empty; give the exact text to replace (to create "
                            "or overwrite a whole file, use write_file)")
        if old == new:
            raise ToolError("old_string and new_string are the same; nothing would change")
        try:  # the resolved path, nothing on the way followed: what was approved
            data, st = nofollow.read_all(path)
        except OSError as e:
            raise open_error(e, path, cwd) from None
        if not protected_place(path, write=False):  # else a person was asked about this name
            check_hard_link(st, path, cwd)
        if is_binary(data[:SNIFF_BYTES]):
            raise ToolError(f"{shown} is a binary file; edit_file only edits text")
        text = data.decode("utf-8", "surrogateescape")

        count = text.count(old)
        if count == 0 and "\r\n" in text and "\r\n" not in old and "\n" in old:
            # the file has Windows line ends and the model wrote Unix ones
            crlf_old = old.replace("\n", "\r\n")
            if text.count(crlf_old):
                old, new = crlf_old, new.replace("\r\n", "\n").replace("\n", "\r\n")
                count = text.count(old)
        if count == 0:
            raise ToolError(_not_found(text, old, shown))
        if count > 1 and not replace_all:
            lines = _match_lines(text, old)
            where = ", ".join(map(str, lines[:20])) + (", ..." if len(lines) > 20 else "")
            raise ToolError(f"old_string occurs {count} times in {shown} (at lines {where}); "
                            "include more surrounding text to make it unique, or set "
                            "replace_all to replace every occurrence")
        updated = text.replace(old, new) if replace_all else text.replace(old, new, 1)
        try:
            nofollow.replace_file(path, encode_text(updated))
        except OSError as e:
            raise ToolError(f"cannot write {shown}: {e.strerror or e}") from None
        first = text[:text.find(old)].count("\n") + 1
        n = count if replace_all else 1
        head = (f"Edited {shown}: {n} replacement{'s' if n != 1 else ''}"
                f"{'' if n > 1 else f' at line {first}'}.")
        return head + "\n" + _diff(text, updated, shown)


def _match_lines(text: str, old: str) -> list[int]:
    lines, i, line, pos = [], text.find(old), 1, 0
    while i != -1:
        line += text.count("\n", pos, i)
        pos = i
        lines.append(line)
        i = text.find(old, i + len(old))
    return lines


def _diff(before: str, after: str, shown: str) -> str:
    import difflib
    out = list(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                    f"a/{shown}", f"b/{shown}", n=2, lineterm=""))
    if len(out) > MAX_DIFF_LINES:
        more = len(out) - MAX_DIFF_LINES
        out = out[:MAX_DIFF_LINES] + [f"... ({more} more diff lines not shown)"]
    return "\n".join(out)


def _not_found(text: str, old: str, shown: str) -> str:
    if not text:
        return f"old_string was not found: {shown} is empty"
    lines = text.splitlines()
    olines = old.strip("\n").splitlines() or [old]
    k = len(olines)
    best, score = _closest(lines, olines)
    msg = f"old_string was not found in {shown}."
    if best < 0 or score < 0.3:
        return msg + " Nothing in the file looks like it; read the file again."
    lo = max(0, best - REGION_CONTEXT)
    hi = min(len(lines), best + k + REGION_CONTEXT)
    region = numbered(lines[lo:hi], lo + 1, 300)
    window = lines[best:best + k]
    hint = ""
    if [w.strip() for w in window] == [o.strip() for o in olines]:
        hint = " The text matches except for indentation or spaces at the line ends."
    return (f"{msg} The closest region ({score:.0%} similar) is at lines "
            f"{best + 1}-{best + len(window)}:\n{region}\n"
            f"old_string must match exactly, whitespace included.{hint}")


def _closest(lines: list[str], olines: list[str]) -> tuple[int, float]:
    """The start line (0-based) of the window of ``len(olines)`` lines most like them."""
    import difflib
    k = len(olines)
    target = "\n".join(olines)
    n = max(1, len(lines) - k + 1)
    starts: Any = range(n)
    if n > 5000:  # a big file: only windows that share a whole (stripped) line with old
        keys = {o.strip() for o in olines if o.strip()}
        hits = {j for j, line in enumerate(lines) if line.strip() in keys}
        starts = sorted({s for j in hits for s in range(max(0, j - k + 1), min(j + 1, n))})
    sm = difflib.SequenceMatcher(autojunk=False)
    sm.set_seq2(target)
    quick: list[tuple[float, int]] = []
    for i in starts:
        sm.set_seq1("\n".join(lines[i:i + k]))
        quick.append((sm.quick_ratio(), i))
    quick.sort(reverse=True)
    best, score = -1, 0.0
    for _, i in quick[:25]:
        sm.set_seq1("\n".join(lines[i:i + k]))
        r = sm.ratio()
        stripped = difflib.SequenceMatcher(
            None, "\n".join(x.strip() for x in lines[i:i + k]),
            "\n".join(x.strip() for x in olines), autojunk=False).ratio()
        r = max(r, stripped * 0.99)
        if r > score:
            best, score = i, r
    return best, score
