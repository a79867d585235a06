"""``@path`` in a REPL message: the file goes with it, as ``-f`` or ``-a`` would send it.

    What does @src/app.py do?          # a text file: a <file path="src/app.py"> block
    Compare @"my notes.md" and @docs   # quotes for spaces; a directory is walked
    What is in @shot.png?              # an image (known by its bytes): an image part

A mention starts a word: ``a@b.com`` and ``user@host`` are not paths. A word after ``@`` that is
no file or directory here (``@alice``) is left as it was typed; one with a ``/`` in it gets a
note. Trailing punctuation (``@notes.md,``) is not part of the path unless the file has it.
A message may be pasted from elsewhere, so an ``@`` naming a credential store or loomex's
config directory is not sent, nor one that would walk a directory outside the working
directory (``@~``, ``@/``): ``/file PATH`` adds those on purpose."""

from __future__ import annotations

import os
import re
from typing import Any

from .attach import Extra, glob_root, add_files, check_model, name_list
from .exits import CliError, say

#: ``@"a path"`` or ``@word``, at the start of a word
MENTION = re.compile(r'(?<![\w@./\\~-])@(?:"([^"\n]+)"|([^\s"]+))')
#: characters that end a sentence rather than a path
TRAILING = ".,;:!?)]}>'`"
_MAGIC = set("*?[")


def expand(text: str, cwd: str) -> Extra:
    """The files and images ``text`` mentions, read (a bad one: :class:`CliError`)."""
    from ..tools.paths import inside, protected_place, real_root, resolve_path
    extra = Extra()
    for m in MENTION.finditer(text):
        quoted, token = m.group(1), m.group(1) or m.group(2)
        path = _existing(token, cwd, strip=quoted is None)
        if path is None:
            if "/" in token:
                say(f"note: @{token}: no such file here; sent as written")
            continue
        real = resolve_path(path, cwd)
        why = protected_place(real, write=False)
        if not why and not os.path.isfile(real):  # a directory or a glob: a walk
            root = real if os.path.isdir(real) else resolve_path(glob_root(path, cwd)[0], cwd)
            if not inside(root, real_root(cwd)):
                why = "walks a directory outside the working directory"
        if why:
            say(f"@{path}: not added: it {why} (/file {path} adds it on purpose)")
            continue
        add_files(extra, path, cwd, flag="@", images=True)
    return extra


def _existing(token: str, cwd: str, strip: bool) -> str | None:
    """The longest form of ``token`` (trailing punctuation taken off one by one) that is a
    file, a directory or a glob matching something."""
    while token:
        full = os.path.join(cwd, os.path.expanduser(token))
        if os.path.lexists(full) or (_MAGIC & set(token) and _glob_matches(token, cwd)):
            return token
        if not strip or token[-1] not in TRAILING:
            return None
        token = token[:-1]
    return None


def _glob_matches(token: str, cwd: str) -> bool:
    probe = Extra()
    try:
        add_files(probe, token, cwd, flag="@")
    except CliError:
        return False
    return True


def compose_turn(text: str, attached: list[str], pending: Extra | None, resolved: Any,
                 cwd: str | None = None) -> Any:
    """The content of a REPL message: ``text`` as typed, the files it mentions and the
    ``/file`` blocks after it, and its images (with ``pending``: what ``-f``/``-a`` gave the
    first message). A bad mention or an image for a text-only model: :class:`CliError`,
    and nothing is sent."""
    mentioned = expand(text, cwd or os.getcwd())
    extra = Extra()
    for part in (pending, mentioned):  # a new one: a refused turn leaves ``pending`` as it was
        if part:
            extra.merge(part)
    check_model(extra, resolved)
    if mentioned:  # a message may be pasted: say what goes with it
        import sys
        print(f"adding {name_list(mentioned.labels)}", file=sys.stderr)
    return extra.content("\n\n".join([extra.text(text), *attached]))


def pending_from(opts: Any, setup: Any) -> Extra | None:
    """``loomex chat -f ... -a ...``: read and checked now (a bad one ends chat before it
    starts), sent with the first message."""
    from .attach import from_options
    extra = from_options(opts, setup)
    if not extra:
        return None
    if not (getattr(opts, "prompt", "") or "").strip():
        import sys
        print(f"{extra.summary()} will go with your first message", file=sys.stderr)
    return extra
