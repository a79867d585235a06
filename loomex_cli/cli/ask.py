"""Asking the person at the terminal: tool approval and the ``human`` tool.

Questions go to the controlling terminal (``/dev/tty``), so they work while stdin is a pipe
(``git diff | loomex -t bash "..."``). With no terminal there is no one to ask (None).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable

def tty_available() -> bool:
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def _tty_exchange(text: str) -> str | None:
    """Writes ``text`` to the terminal and reads one line; None on EOF / no terminal."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None
    try:
        os.write(fd, text.encode("utf-8", "replace"))
        data = bytearray()
        while not data.endswith(b"\n"):
            chunk = os.read(fd, 1024)
            if not chunk:
                return None if not data else data.decode("utf-8", "replace")
            data += chunk
        return data.decode("utf-8", "replace").rstrip("\r\n")
    except OSError:
        return None
    finally:
        os.close(fd)


def make_askers(suspend: Callable[[], Any]) -> tuple[Callable[..., Any], Callable[[str], Any]]:
    """(ask_approval, ask_human) as async callables; ``suspend()`` is a context manager that
    takes the renderer's live region down while the question is on screen. The policy and
    the human tool already ask one question at a time."""

    async def ask_approval(request: Any) -> Any:
        from ..tools.policy import ApprovalAnswer
        danger = f"  \x1b[31m[{request.danger}]\x1b[0m" if request.danger else ""
        what = getattr(request, "display", None) or request.subject
        hints = f"  \x1b[2m({request.hints})\x1b[0m" if getattr(request, "hints", "") else ""
        head = (f"\n\x1b[33m?\x1b[0m \x1b[1m{request.tool}\x1b[0m wants to run: {what}{danger}"
                f"{hints}\n")
        remember = getattr(request, "can_remember", not request.danger)
        choices = "  [y] yes once   [s] yes for this session   [n] no" if remember \
            else "  [y] yes once   [n] no"
        with suspend():
            while True:
                line = await asyncio.to_thread(_tty_exchange, f"{head}{choices}\n  > ")
                if line is None:
                    return ApprovalAnswer("no", "no answer from the terminal")
                c = line.strip().lower()[:1]
                if c == "y":
                    return ApprovalAnswer("once")
                if c == "s" and remember:
                    return ApprovalAnswer("session")
                if c in ("n", ""):
                    why = await asyncio.to_thread(_tty_exchange,
                                                  "  reason for the model (optional): ")
                    return ApprovalAnswer("no", (why or "").strip())

    async def ask_human(question: str) -> str:
        with suspend():
            answer = await asyncio.to_thread(
                _tty_exchange, f"\n\x1b[36m? the model asks:\x1b[0m {question}\n  > ")
        if answer is None:
            from ..engine.tools import ToolError
            raise ToolError("no human answered (the terminal closed)")
        return answer

    return ask_approval, ask_human
