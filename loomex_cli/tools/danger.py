"""Calls that always need a person's yes: recursive deletes, root, a download piped into a
shell, force pushes, recursive chmod/chown, dd, mkfs, and writes outside the working
directory. Each check returns a short human reason, or None.

The command is read with bash's own grammar (:mod:`.bash_grammar`): every simple command
anywhere in the line is checked (inside ``$(...)``, subshells, functions, loops, and
``bash -c``/``eval``/``env -S`` strings, recursively), wrappers such as ``env``, ``nohup``,
``timeout`` or ``xargs`` are looked through, and every redirection target is resolved against
the working directory. It is a guard against accidents, not a sandbox.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from .bash_words import SAFE_TARGETS
from .bash_wrappers import INTERPRETERS, exec_parts, real_command, unwrap
from .paths import (PlaceDanger, holder_of, path_danger, places, protected_place,
                    real_root, resolve_in)

if TYPE_CHECKING:  # pragma: no cover
    from .bash_grammar import Analysis

_DOWNLOADERS = {"curl", "wget", "fetch", "aria2c", "http", "https"}
_WRITES = {">", ">>", "&>", "&>>", ">|", "<>", ">&"}
_SAFE_FD = re.compile(r"^/dev/fd/[0-9]+$")
#: git settings that run a program (``git -c core.pager=...``), and aliases that run a shell
_GIT_RUNS = re.compile(r"^(?:alias\.[^=]*=\s*!|[^=]*(?:command|pager|editor|fsmonitor|"
                       r"hookspath|askpass|proxy|textconv|program|helper)[^=]*=)", re.I)
#: used too when bash's grammar finds a syntax error
_RAW = [
    (re.compile(r"\brm\s+(?:\S+\s+)*?(?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)\b"),
     "recursive delete"),
    (re.compile(r"(?:^|[;&|(\s])(?:sudo|doas)\s"), "runs as root (sudo)"),
    (re.compile(r"\bgit\s+(?:\S+\s+)*?push\b.*\s(?:-f|--force\S*)\b"), "force push"),
    (re.compile(r"\b(?:chmod|chown|chgrp)\s+(?:\S+\s+)*?-[a-zA-Z]*R"), "recursive chmod/chown"),
    (re.compile(r"(?:^|[;&|(\s])dd\s"), "dd (raw copy to a file or device)"),
    (re.compile(r"\bmkfs\b"), "formats a filesystem (mkfs)"),
    (re.compile(r"\bfind\b.*\s-delete\b"), "deletes files (find -delete)"),
    (re.compile(r"\b(?:curl|wget|fetch)\b[^;&\n]*\|\s*(?:sudo\s+|env\s+)*(?:\S*/)?"
                r"(?:ba|z|da|k|fi)?sh\b"), "pipes a download into a shell"),
]
#: most files a pattern is expanded to when looking for names like options
_GLOB_LIMIT = 10_000


def command_danger(command: str, cwd: str | None = None) -> str | None:
    """Why a shell command is dangerous, or None."""
    from .bash_grammar import analyse
    return analysis_danger(analyse(command), cwd, command)


def analysis_danger(a: "Analysis", cwd: str | None, text: str = "") -> str | None:
    """Why the analysed command line is dangerous, or None."""
    if a.too_deep:
        return "shell code nested too deeply to check"
    reads = None
    if cwd is not None:  # a protected place outranks every other reason: it always asks
        try:
            reads = _Reads(cwd)
        except (OSError, ValueError):
            return "the working directory cannot be resolved"
        for c in a.commands:
            why = _reads_protected(c, reads)
            if why:
                return why
    downloaded: set[int] = set()
    for c in a.commands:
        known = [w if w is not None else "\0" for w in c.words]
        name, args, root = real_command(known)
        if name in INTERPRETERS or name == "eval":
            if c.pipeline != -1 and c.pipeline in downloaded or \
                    any(f in _DOWNLOADERS for f in c.feeds):
                return "pipes a download into a shell"
        if name in _DOWNLOADERS and c.pipeline != -1:
            downloaded.add(c.pipeline)
        if root:
            return f"runs as root ({root})"
        why = _simple_danger(name, args)
        if why:
            return why
        if cwd is not None:
            for pattern in filter(None, c.globs):
                why = _glob_danger(pattern, cwd)
                if why:
                    return why
    if cwd is not None and a.redirects:
        # a `cd` anywhere in the line: relative targets may be relative to where it went
        bases = [cwd]
        for c in a.commands:
            if c.words and c.words[0] in ("cd", "pushd"):
                dest = next((w for w in c.words[1:] if w is None or not w.startswith("-")),
                            "~")
                if dest is None:
                    bases.append("")  # unknown
                else:
                    bases.append(os.path.join(cwd, os.path.expanduser(dest)))
        for op, target in a.redirects:
            if op == "<" and target is not None:
                why = reads.danger(target) if reads is not None else None
                if why:
                    return why
            for base in bases:
                why = _target_danger(op, target, cwd, base)
                if why:
                    return why
    if a.why in ("a syntax error", "an incomplete command"):
        for rx, why in _RAW:
            if rx.search(text):
                return why
    return None


def _target_danger(op: str, target: str | None, cwd: str, base: str) -> str | None:
    """Why writing to a redirection target is dangerous; ``base`` is the directory a
    relative target is relative to ("" when a `cd` went somewhere unknown)."""
    if op not in _WRITES:
        return None
    if target is None:
        return "writes to a file named only when the command runs"
    if op == ">&" and (target.isdigit() or target == "-"):
        return None
    if target in SAFE_TARGETS or _SAFE_FD.match(target):
        return None
    target = os.path.expanduser(target)
    if not base and not os.path.isabs(target):
        return "writes to a file after a cd to a directory named only when it runs"
    path = os.path.normpath(os.path.join(base, target))
    return path_danger(path, cwd)


def _reads_protected(c: object, reads: "_Reads") -> PlaceDanger | None:
    """A word (or a ``--opt=VALUE``/``if=VALUE`` value, or what a glob matches) naming a
    protected place (keys.toml, ~/.ssh, ...) or a directory that holds one: bash reads with
    the user's rights, so ``cat ~/.ssh/id_rsa`` always asks, as ``read_file`` does."""
    import glob
    import itertools
    for w in getattr(c, "words", ())[1:]:
        if w is None or "\0" in w:
            continue
        why = reads.danger(w) or ("=" in w and reads.danger(w.split("=", 1)[1]))
        if why:
            return why
    for pattern in filter(None, getattr(c, "globs", ())):
        for match in itertools.islice(glob.iglob(os.path.expanduser(pattern),
                                                 root_dir=reads.cwd), _GLOB_LIMIT):
            why = reads.danger(match)
            if why:
                return why
    return None


class _Reads:
    """Which words of one command line name read-protected places: the places and the real
    working directory are taken once, and each word is resolved once (a line repeats them)."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd
        self.rcwd = real_root(cwd)
        self.known = places()  # checks the directories on the way: once per line
        self.seen: dict[str, PlaceDanger | None] = {}

    def danger(self, word: str) -> PlaceDanger | None:
        """``word`` names a read-protected place, or a directory holding one."""
        if not word or word.startswith("-") or len(word) > 4096:
            return None
        if word not in self.seen:
            self.seen[word] = self._judge(word)
        return self.seen[word]

    def _judge(self, word: str) -> PlaceDanger | None:
        try:
            real = resolve_in(word, self.rcwd)
        except (OSError, ValueError):
            return None
        why = protected_place(real, write=False, known=self.known)
        if why or not (word[0] in "/~." or "/" in word):
            return why
        what = holder_of(real, self.known)  # an explicit path to a directory holding one
        return PlaceDanger(f"reads a directory that holds {what}") if what else None


def _glob_danger(pattern: str, cwd: str) -> str | None:
    """A pattern that would hand ``rm`` a file named ``-rf`` as an option."""
    import glob
    import itertools
    for match in itertools.islice(glob.iglob(pattern, root_dir=cwd), _GLOB_LIMIT):
        if match.startswith("-"):
            return f"the pattern {pattern} matches a file named like an option ({match})"
    return None


def _short_flags(args: list[str]):
    """Each option word before ``--``."""
    for a in args:
        if a == "--":
            return
        if a.startswith("-") and len(a) > 1:
            yield a


def _has_flag(args: list[str], short: str, long: tuple[str, ...]) -> bool:
    for a in _short_flags(args):
        if a.startswith("--"):
            if a.split("=", 1)[0] in long:
                return True
        elif short in a[1:]:
            return True
    return False


def _simple_danger(name: str, args: list[str]) -> str | None:
    if not name:
        return None
    if name == "rm" and (_has_flag(args, "r", ("--recursive",)) or _has_flag(args, "R", ())):
        return "recursive delete"
    if name == "find":
        if "-delete" in args:
            return "deletes files (find -delete)"
        for sub in exec_parts(args):
            sname, sargs, root, _ = unwrap(sub)
            if root:
                return f"runs as root ({root})"
            why = _simple_danger(sname, sargs)
            if why:
                return why
    if name == "git":
        return _git_danger(args)
    if name in ("chmod", "chown", "chgrp") and _has_flag(args, "R", ("--recursive",)):
        return f"recursive {name}"
    if name == "dd":
        return "dd (raw copy to a file or device)"
    if name.startswith("mkfs"):
        return "formats a filesystem (mkfs)"
    return None


def _git_danger(args: list[str]) -> str | None:
    i = 0
    while i < len(args) and args[i].startswith("-"):  # git's own options
        if args[i] == "-c" and i + 1 < len(args) and _GIT_RUNS.match(args[i + 1]):
            return f"git -c {args[i + 1].split('=', 1)[0]}=... runs a program"
        if args[i].startswith("--config-env"):
            return "git --config-env sets a setting from the environment"
        i += 2 if args[i] in ("-C", "-c", "--git-dir", "--work-tree", "--namespace") else 1
    if i >= len(args):
        return None
    sub, rest = args[i], args[i + 1:]
    if sub == "push":
        if _has_flag(rest, "f", ("--force", "--force-with-lease", "--force-if-includes")) or \
                any(a.startswith("--force") for a in rest) or \
                any(a.startswith("+") and len(a) > 1 for a in rest if not a.startswith("-")):
            return "force push"
        if _has_flag(rest, "d", ("--delete",)) or any(a.startswith(":") and len(a) > 1
                                                      for a in rest):
            return "deletes a remote branch (git push --delete)"
    if sub == "clean" and _has_flag(rest, "f", ("--force",)):
        return "deletes untracked files (git clean -f)"
    if sub == "reset" and "--hard" in rest:
        return "discards uncommitted changes (git reset --hard)"
    return None
