"""Asking the person at the terminal: tool approval and the ``human`` tool.

Questions go to the controlling terminal (``/dev/tty``), so they work while stdin is a pipe
(``git diff | loomex -t bash "..."``). With no terminal there is no one to ask (None).

The answer is read from the event loop (``add_reader`` on a non-blocking ``/dev/tty``), in
the terminal's line mode: Ctrl-C raises SIGINT as usual, the run's interrupt handler cancels
the run, and the pending read is cancelled with it (a "no": the one-shot saves and exits 130,
the REPL goes back to its prompt). Keys typed before a question appears are discarded, so
they cannot answer it.

The approval prompt shows exactly what will run: the command with every invisible or control
character made visible (:func:`.sanitize.visible`), numbered when it has several lines, its
size restated under it, and for ``write_file``/``edit_file`` the change itself.
"""

from __future__ import annotations

import os
from typing import Any, Callable

# the terminal itself (opening /dev/tty, line mode, a cancellable read): engine/terminal.py
from ..engine.terminal import exchange, tty_available  # noqa: F401  (re-exported)
from .sanitize import clean, visible

#: lines of a diff or of a new file's content shown in an approval prompt
PREVIEW_LINES = 40
#: characters of one preview line shown
PREVIEW_WIDTH = 200


# -- what the prompt shows ------------------------------------------------------------------
def _subject_lines(text: str) -> list[str]:
    """The subject as it will run, every invisible character made visible; numbered when it
    has several lines, with its size restated under it when it may not fit on screen."""
    shown = visible(text).split("\n")
    if len(shown) == 1:
        out = [f"    {shown[0]}"]
    else:
        w = len(str(len(shown)))
        out = [f"    \x1b[2m{i:>{w}}│\x1b[0m {line}" for i, line in enumerate(shown, 1)]
    if len(shown) > 1 or len(text) > 200:
        lines = f"{len(shown):,} line{'s' if len(shown) != 1 else ''}"
        out.append(f"    \x1b[2m↑ {lines}, {len(text):,} characters in all\x1b[0m")
    return out


def _preview_line(line: str) -> str:
    """A line of a file as a preview shows it: made visible, cut at PREVIEW_WIDTH characters
    with the size of what was cut said."""
    line = line.expandtabs(4)
    if len(line) <= PREVIEW_WIDTH:
        return visible(line)
    more = len(line) - PREVIEW_WIDTH
    return visible(line[:PREVIEW_WIDTH]) + f"\x1b[2m… ({more:,} more characters)\x1b[22m"


def _diff_lines(before: str, after: str, name: str) -> list[str]:
    import difflib
    out = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), f"a/{name}",
                                     f"b/{name}", n=2, lineterm=""):
        color = "31" if line.startswith("-") else "32" if line.startswith("+") else "2"
        out.append(f"    \x1b[{color}m{_preview_line(line)}\x1b[0m")
    return out


def _clip_preview(lines: list[str], what: str) -> list[str]:
    if len(lines) <= PREVIEW_LINES:
        return lines
    more = len(lines) - PREVIEW_LINES
    return lines[:PREVIEW_LINES] + [f"    \x1b[2m… {more} more {what} not shown\x1b[0m"]


def _read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            data = f.read(4 * 1024 * 1024 + 1)
    except OSError:
        return None
    if b"\0" in data[:8192] or len(data) > 4 * 1024 * 1024:
        return None
    return data.decode("utf-8", "replace")


def change_preview(request: Any) -> list[str]:
    """For write_file/edit_file: the diff of what the call would change, or the first lines
    of a new file (cleaned and made visible); [] for other tools."""
    args = getattr(request, "args", None) or {}
    path = request.subject
    name = visible(getattr(request, "display", "") or path, mark=False)
    if request.tool == "edit_file":
        old, new = args.get("old_string"), args.get("new_string")
        before = _read_text(path)
        if not isinstance(old, str) or not isinstance(new, str) or not old:
            return ["    \x1b[2m(the edit is malformed and will fail)\x1b[0m"]
        if before is None:
            return ["    \x1b[2m(the file cannot be read as text: the edit will fail)\x1b[0m"]
        count = before.count(old)
        if count == 0 or (count > 1 and not args.get("replace_all")):
            how = "not found" if count == 0 else f"found {count} times"
            return [f"    \x1b[2m(old_string is {how}: the edit will fail)\x1b[0m"]
        after = before.replace(old, new) if args.get("replace_all") else \
            before.replace(old, new, 1)
        return _clip_preview(_diff_lines(before, after, name), "diff lines")
    if request.tool == "write_file":
        content = args.get("content")
        if not isinstance(content, str):
            return []
        before = _read_text(path) if os.path.isfile(path) else None
        if before is not None:
            diff = _diff_lines(before, content, name)
            return _clip_preview(diff, "diff lines") if diff else \
                ["    \x1b[2m(the content is unchanged)\x1b[0m"]
        lines = content.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        head = [f"    \x1b[2mnew file, {len(lines):,} line{'s' if len(lines) != 1 else ''}:\x1b[0m"]
        return head + _clip_preview([f"    \x1b[32m+{_preview_line(ln)}\x1b[0m" for ln in lines],
                                    "lines")
    return []


def approval_text(request: Any) -> str:
    """The whole approval question as written to the terminal."""
    danger = f"  \x1b[31m[{clean(request.danger)}]\x1b[0m" if request.danger else ""
    kind = getattr(request, "kind", "args")
    verb = {"command": "wants to run", "path": "wants to write"}.get(kind, "wants to call")
    # a command is shown exactly as it will run; a path as the person reads it
    what = request.subject if kind == "command" else \
        getattr(request, "display", None) or request.subject
    hints = getattr(request, "hints", "")
    hints = f"  \x1b[2m({clean(hints)})\x1b[0m" if hints else ""
    lines = [f"\n\x1b[33m?\x1b[0m \x1b[1m{clean(request.tool)}\x1b[0m {verb}:{danger}{hints}",
             *_subject_lines(what)]
    unreadable = getattr(request, "unreadable", None)
    if unreadable:  # not plain: say why no rule or --yes could approve it
        lines.append(f"    \x1b[2m(not a plain command: {clean(unreadable)})\x1b[0m")
    try:
        lines += change_preview(request)
    except Exception:  # noqa: BLE001 - a preview that fails still leaves the question
        lines.append("    \x1b[2m(no preview of the change)\x1b[0m")
    return "\n".join(lines) + "\n"


def make_askers(suspend: Callable[[], Any]) -> tuple[Callable[..., Any], Callable[[str], Any]]:
    """(ask_approval, ask_human) as async callables; ``suspend()`` is a context manager that
    holds the renderer's output back while the question is on screen. The policy and the
    human tool ask one question at a time (``interaction_lock``)."""

    async def ask_approval(request: Any) -> Any:
        from ..tools.policy import ApprovalAnswer
        remember = getattr(request, "can_remember", not request.danger)
        choices = "  [y] yes once   [s] yes for this session   [n] no" if remember \
            else "  [y] yes once   [n] no"
        head = approval_text(request)
        with suspend():
            while True:
                line = await exchange(f"{head}{choices}\n  > ")
                if line is None:
                    return ApprovalAnswer("no", "no answer from the terminal")
                c = line.strip().lower()[:1]
                if c == "y":
                    return ApprovalAnswer("once")
                if c == "s" and remember:
                    return ApprovalAnswer("session")
                if c in ("n", ""):
                    why = await exchange("  reason for the model (optional): ")
                    return ApprovalAnswer("no", (why or "").strip())
                head = ""

    async def ask_human(question: str) -> str:
        with suspend():
            answer = await exchange(f"\n\x1b[36m? the model asks:\x1b[0m {clean(question)}\n  > ")
        if answer is None:
            from ..engine.tools import ToolError
            raise ToolError("no human answered (the terminal closed)")
        return answer

    return ask_approval, ask_human
