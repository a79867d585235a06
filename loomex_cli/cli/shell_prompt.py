"""What ``loomex -x`` tells the model (the user's shell and OS) and how the one command is
taken out of the answer (code fences and backticks stripped)."""

from __future__ import annotations

import os
import platform
import re
import sys

COMMAND_SYSTEM = """\
You turn a request into one command for the {shell} shell on {os}.
Answer with the command and nothing else: no explanation, no Markdown, no code fences, no \
backticks around it, no leading "$". The answer is shown to the user, who may run it as it is.
If the request leaves details open, choose the most sensible reading. If it takes several \
steps, join them into one line with && or a pipe. Prefer commands that come with {os}."""

DESCRIBE_SYSTEM = """\
In one short sentence of plain text (no Markdown), say what this {shell} command does on \
{os}, naming what its main options change."""

#: shells whose command lines loomex's bash reading (tools/bash_grammar.py) understands well
#: enough to judge; a command for any other shell always needs a typed confirmation
BASH_LIKE = frozenset({"bash", "sh", "dash", "ash", "ksh", "mksh", "zsh", "busybox"})


def user_shell() -> tuple[str, list[str]]:
    """(the shell's name, the argv prefix that runs a command line with it): ``$SHELL``,
    else sh (cmd.exe on Windows)."""
    path = os.environ.get("SHELL", "").strip()
    if path and os.path.isabs(path) and os.access(path, os.X_OK):
        name = os.path.basename(path)
        return name, [path, "-c"]
    if sys.platform == "win32":
        comspec = os.environ.get("COMSPEC") or "cmd.exe"
        return "cmd", [comspec, "/c"]
    return "sh", ["/bin/sh", "-c"]


def os_name() -> str:
    """The platform, with the distribution or version when it is cheap to know."""
    system = platform.system() or sys.platform
    if system == "Darwin":
        version = platform.mac_ver()[0]
        return f"macOS {version}".strip()
    if system == "Windows":
        return f"Windows {platform.release()}".strip()
    if system == "Linux":
        pretty = _os_release()
        return f"Linux ({pretty})" if pretty else "Linux"
    return system


def _os_release() -> str | None:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read(8192)
        except OSError:
            continue
        m = re.search(r'^PRETTY_NAME=(["\']?)(.*?)\1\s*$', text, re.M)
        if m and m.group(2).strip():
            return m.group(2).strip()[:80]
    return None


def command_system(shell: str, osname: str, extra: str | None = None) -> str:
    text = COMMAND_SYSTEM.format(shell=shell, os=osname)
    if extra and extra.strip():  # -s/--system: the user's own instructions, after ours
        text += "\n\n" + extra.strip()
    return text


def describe_system(shell: str, osname: str) -> str:
    return DESCRIBE_SYSTEM.format(shell=shell, os=osname)


_FENCE = re.compile(r"(`{3,}|~{3,})([^\n]*)\n(.*?)(?:\n[ \t]*\1[ \t]*(?:\n|$)|\Z)", re.S)
_TAG = re.compile(r"[\w.+#-]*")


def extract_command(answer: str) -> str:
    """The command in the model's answer: the body of its first fenced block if it has one
    (the language tag dropped), a single pair of backticks around the whole taken off, a
    leading ``$ `` prompt taken off a one-line command."""
    text = answer.strip()
    m = _FENCE.search(text)
    if m:
        tag, body = m.group(2).strip(), m.group(3)
        if tag and not _TAG.fullmatch(tag):  # ```ls -la\n...: the "tag" was code
            body = tag + "\n" + body
        text = body.strip()
    else:
        one = re.fullmatch(r"(`{3,})(.*?)\1", text, re.S)  # ```ls -la``` on one line
        if one:
            text = one.group(2).strip()
    if len(text) > 1 and text[0] == text[-1] == "`" and text.count("`") == 2:
        text = text[1:-1].strip()
    if "\n" not in text and text.startswith("$ "):
        text = text[2:].lstrip()
    return text
