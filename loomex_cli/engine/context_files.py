"""Project instructions: the AGENTS.md files added to the system prompt.

Which files, in this order (each at most once):

1. the global one: ``AGENTS.md`` (else ``CLAUDE.md``) in the config directory;
2. in a git repository (a ``.git`` directory or file in the working directory or above it),
   one per directory from the repository's root down to the working directory: ``AGENTS.md``,
   else ``CLAUDE.md``; outside a repository, the working directory's only.

A repository is untrusted (it may have been cloned a minute ago), so a file is read only when
it is a regular file: a symlink is followed only to a file inside the repository (the working
directory outside one), never to a FIFO or a device (opened non-blocking, checked with fstat
on what was opened); at most :data:`MAX_FILE` bytes of a file and :data:`MAX_TOTAL` of all are
read; a file with a NUL byte or that is not UTF-8 is skipped. What a file says is given to the
model as it is (that is what the file is for); what is shown on a terminal of it is its path
and size only, through the faces' sanitizer.

The section appended to the system prompt (:func:`prompt_section`)::

    # Project instructions

    Instruction files (AGENTS.md) found for this directory, from the most general to the
    most specific; where they disagree, the more specific one wins.

    ## /home/me/.config/loomex/AGENTS.md

    <the file's text>

    ## /home/me/src/app/AGENTS.md

    <the file's text>

    [loomex: this file has 40,000 bytes; only the first 32,768 are included]

The cost when on: a few ``stat`` calls (one per directory up to the repository's root, one or
two per directory of the repository down to here); nothing when off.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

#: the names looked for in each directory: the first that exists is used
NAMES = ("AGENTS.md", "CLAUDE.md")
#: bytes read of one file at most
MAX_FILE = 32 * 1024
#: bytes read of all the files together at most (later files are cut or left out)
MAX_TOTAL = 64 * 1024
#: the first line of the section in the system prompt
HEADING = "# Project instructions"
INTRO = ("Instruction files (AGENTS.md) found for this directory, from the most general to "
         "the most specific; where they disagree, the more specific one wins.")


@dataclass(slots=True)
class ContextFile:
    """One file found. ``text`` is what goes into the prompt (None: skipped, see ``skipped``)."""

    path: str
    #: the file's size in bytes (from fstat on what was opened)
    size: int = 0
    text: str | None = None
    #: bytes of the file in ``text`` (smaller than ``size``: cut)
    used: int = 0
    #: why nothing of it was used: "binary", "not UTF-8", "not a regular file", "outside the
    #: repository", "unreadable", "over the total cap"
    skipped: str | None = None
    #: "global" or "project"
    scope: str = "project"
    #: the file that is opened: ``path`` with symlinks resolved (and checked)
    real: str = ""

    @property
    def cut(self) -> bool:
        return self.text is not None and self.used < self.size

    def note(self) -> str | None:
        """The note in the prompt for a cut file (None: whole)."""
        if not self.cut:
            return None
        return (f"[loomex: this file has {self.size:,} bytes; only the first {self.used:,} "
                "are included]")


def git_root(cwd: str) -> str | None:
    """The nearest directory at or above ``cwd`` holding ``.git`` (a directory, or the file
    of a worktree or submodule); None outside a repository."""
    d = cwd
    while True:
        try:
            os.lstat(os.path.join(d, ".git"))
            return d
        except OSError:
            pass
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def directories(cwd: str) -> tuple[list[str], str]:
    """(the directories to look in, root to cwd; the directory symlinks must stay inside)."""
    root = git_root(cwd)
    if root is None:
        return [cwd], cwd
    dirs = [cwd]
    d = cwd
    while d != root:
        d = os.path.dirname(d)
        dirs.append(d)
    dirs.reverse()
    return dirs, root


def discover(cwd: str | None = None, global_dir: str | os.PathLike[str] | None = None,
             max_file: int = MAX_FILE, max_total: int = MAX_TOTAL) -> list[ContextFile]:
    """The files for ``cwd`` (default: the working directory), the global one first."""
    cwd = os.path.realpath(cwd or os.getcwd())
    found: list[ContextFile] = []
    if global_dir is not None:
        g = os.fspath(global_dir)
        f = _candidate(g, None)  # the user's own directory: symlinks are theirs to make
        if f is not None:
            f.scope = "global"
            found.append(f)
    dirs, inside = directories(cwd)
    for d in dirs:
        f = _candidate(d, inside)
        if f is not None and all(f.path != g.path for g in found):
            found.append(f)
    budget = max_total
    for f in found:
        if f.skipped is None:
            if budget <= 0:
                f.skipped = "over the total cap"
                continue
            _read(f, min(max_file, budget))
            budget -= f.used
    return found


def _candidate(d: str, inside: str | None) -> ContextFile | None:
    """The first of :data:`NAMES` in ``d`` that exists (as anything), checked but not read."""
    for name in NAMES:
        path = os.path.join(d, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        f = ContextFile(path, real=path)
        if stat.S_ISLNK(st.st_mode):
            f.real = real = os.path.realpath(path)
            if inside is not None and not _within(real, inside):
                f.skipped = "a symlink out of the repository"
                return f
            try:
                st = os.stat(real)
            except OSError:
                f.skipped = "a broken symlink"
                return f
        if not stat.S_ISREG(st.st_mode):
            f.skipped = "not a regular file"
        f.size = st.st_size
        return f
    return None


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _read(f: ContextFile, cap: int) -> None:
    """Reads at most ``cap`` bytes of ``f`` (a regular file, else skipped)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | \
        getattr(os, "O_NOFOLLOW", 0)  # the path checked, not a symlink put there since
    try:
        fd = os.open(f.real or f.path, flags)
    except OSError:
        f.skipped = "unreadable"
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped since it was looked at
            f.skipped = "not a regular file"
            return
        f.size = st.st_size
        data = b""
        while len(data) < min(cap, st.st_size):
            piece = os.read(fd, min(cap, st.st_size) - len(data))
            if not piece:
                break
            data += piece
    except OSError:
        f.skipped = "unreadable"
        return
    finally:
        os.close(fd)
    if b"\0" in data:
        f.skipped = "binary"
        return
    text = _decode(data, whole=len(data) >= f.size)
    if text is None:
        f.skipped = "not UTF-8"
        return
    f.text, f.used = text, len(text.encode("utf-8"))


def _decode(data: bytes, whole: bool) -> str | None:
    """UTF-8 text; a cut file may end in the middle of a character (dropped)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if whole or e.start < len(data) - 3:
            return None
        try:
            return data[:e.start].decode("utf-8")
        except UnicodeDecodeError:
            return None


def heading_path(path: str) -> str:
    """A path as its heading shows it: control characters escaped (a directory named with a
    newline cannot start a heading of its own)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in path)


def prompt_section(files: list[ContextFile]) -> str:
    """The text appended to the system prompt ("" when no file has text)."""
    parts = []
    for f in files:
        if not (f.text or "").strip():
            continue
        block = f"## {heading_path(f.path)}\n\n{f.text.strip()}"
        note = f.note()
        if note:
            block += f"\n\n{note}"
        parts.append(block)
    if not parts:
        return ""
    return "\n\n".join([HEADING, INTRO, *parts])


def with_context(system: str | None, files: list[ContextFile]) -> str | None:
    """``system`` with the section appended (the section alone when there is no prompt)."""
    section = prompt_section(files)
    if not section:
        return system
    return f"{system.rstrip()}\n\n{section}" if system else section


def cut_note(f: ContextFile) -> str | None:
    """The one line for stderr about a file that was cut or left out (None: nothing to say)."""
    if f.cut:
        return f"{f.path} is cut to its first {f.used:,} of {f.size:,} bytes in the prompt"
    if f.skipped:
        return f"{f.path} is not used ({f.skipped})"
    return None

