"""Globs with ``**``, a ``.gitignore`` matcher, and the directory walk that grep and glob use.

The matcher follows git's rules: blank lines and ``#`` comments are skipped; ``!`` negates;
a trailing ``/`` matches directories only; a pattern with a slash at the start or in the
middle is anchored to its ``.gitignore``'s directory, one without matches a name at any depth;
``*`` and ``?`` stop at ``/``, ``**`` crosses directories; the last matching line wins and a
deeper ``.gitignore`` overrides a shallower one. ``.gitignore`` files of the directories
above the walked one count too, up to the repository root.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Iterator


# -- globs ---------------------------------------------------------------------------

def _component(part: str) -> str:
    """One path component of a glob as a regular expression (``*``/``?`` stop at ``/``)."""
    out: list[str] = []
    i, n = 0, len(part)
    while i < n:
        c = part[i]
        if c == "*":
            while i + 1 < n and part[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "{" and "}" in part[i + 1:]:  # {a,b}: alternatives (as ripgrep's globs)
            j = part.index("}", i + 1)
            alts = part[i + 1:j].split(",")
            out.append("(?:" + "|".join(_component(a) for a in alts) + ")")
            i = j
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(part[i]))
        elif c == "[":
            j = i + 1
            if j < n and part[j] in "!^":
                j += 1
            if j < n and part[j] == "]":
                j += 1
            while j < n and part[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal "["
                out.append("\\[")
            else:
                body = part[i + 1:j]
                neg = body[:1] in ("!", "^")
                if neg:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("[", "\\[")
                out.append(f"[{'^' if neg else ''}{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def glob_regex(pattern: str) -> str:
    """A glob over ``/``-separated paths as a regular expression (not anchored)."""
    parts = pattern.split("/")
    res: list[str] = []
    last = len(parts) - 1
    for i, part in enumerate(parts):
        if part == "**":
            res.append(".+" if i == last else "(?:.*/)?")
        else:
            res.append(_component(part))
            if i != last:
                res.append("/")
    return "".join(res)


def compile_path_glob(pattern: str) -> re.Pattern[str]:
    """A glob matched against a whole relative path: ``*.py`` is top-level only,
    ``**/*.py`` any depth, ``src/**`` everything under ``src``."""
    p = pattern.strip()
    while p.startswith("./"):
        p = p[2:]
    p = p.rstrip("/") if p not in ("", "/") else p
    return re.compile(glob_regex(p) + r"\Z", re.S)


# -- .gitignore rules -----------------------------------------------------------------

@dataclass(slots=True, frozen=True)
class Rule:
    """One ``.gitignore`` rule, compiled."""
    pattern: str
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool


def parse_rule(line: str) -> Rule | None:
    """One ``.gitignore`` line as a Rule (None for blanks and comments)."""
    raw = line.rstrip("\n").rstrip("\r")
    if not raw.strip() or raw.startswith("#"):
        return None
    # trailing spaces are dropped unless escaped with a backslash
    s = raw
    while s.endswith(" ") and not s.endswith("\\ "):
        s = s[:-1]
    negated = s.startswith("!")
    if negated:
        s = s[1:]
    elif s.startswith("\\!") or s.startswith("\\#"):
        s = s[1:]
    dir_only = s.endswith("/")
    s = s.rstrip("/")
    if not s:
        return None
    anchored = "/" in s
    s = s.lstrip("/")
    body = glob_regex(s)
    if not anchored and not s.startswith("**"):
        body = "(?:.*/)?" + body
    return Rule(raw, re.compile(body + r"\Z", re.S), negated, dir_only)


class Rules:
    """The rules of one ``.gitignore`` (or of override globs); the last match wins."""

    __slots__ = ("rules", "has_positive")

    def __init__(self, lines: list[str] | str) -> None:
        if isinstance(lines, str):
            lines = lines.splitlines()
        self.rules = [r for r in map(parse_rule, lines) if r is not None]
        self.has_positive = any(not r.negated for r in self.rules)

    def match(self, rel: str, is_dir: bool) -> Rule | None:
        for r in reversed(self.rules):
            if (is_dir or not r.dir_only) and r.regex.match(rel):
                return r
        return None

    def __bool__(self) -> bool:
        return bool(self.rules)


def load_rules(path: str) -> Rules | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            rules = Rules(f.read())
    except OSError:
        return None
    return rules or None


class IgnoreStack:
    """The ``.gitignore`` files in force for one directory of a walk, deepest last.

    Each level is ``(prefix, strip, rules)``: a path relative to the walk's root becomes
    relative to the level's directory as ``prefix + rel[strip:]``."""

    __slots__ = ("levels",)

    def __init__(self, levels: tuple[tuple[str, int, Rules], ...] = ()) -> None:
        self.levels = levels

    @classmethod
    def for_root(cls, root: str) -> "IgnoreStack":
        """The ``.gitignore`` files above ``root``, up to its repository's root (or up to
        the filesystem root when it is in no repository)."""
        root = os.path.abspath(root)
        chain: list[str] = []
        d = root
        while True:
            if d != root:
                chain.append(d)
            if os.path.exists(os.path.join(d, ".git")):
                break
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
        levels = []
        for anc in reversed(chain):
            rules = load_rules(os.path.join(anc, ".gitignore"))
            if rules:
                prefix = os.path.relpath(root, anc).replace(os.sep, "/") + "/"
                levels.append((prefix, 0, rules))
        return cls(tuple(levels))

    def push(self, rel_dir: str, rules: Rules) -> "IgnoreStack":
        strip = len(rel_dir) + 1 if rel_dir else 0
        return IgnoreStack(self.levels + (("", strip, rules),))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        for prefix, strip, rules in reversed(self.levels):
            r = rules.match(prefix + rel[strip:], is_dir)
            if r is not None:
                return not r.negated
        return False


# -- the walk -------------------------------------------------------------------------

def walk(root: str, *, gitignore: bool = True, override: Rules | None = None,
         links: bool = False, skip: Iterable[str] = ()) -> Iterator[tuple[str, str]]:
    """Yields ``(absolute path, path relative to root)`` of the files under ``root``, depth
    first in name order, skipping ``.git`` and what ``.gitignore`` excludes. ``override``
    globs decide before the ignore files do, as ripgrep's ``--glob`` does: a file matching a
    plain glob is kept, one matching a ``!glob`` is dropped, and when there are plain globs a
    file matching none is dropped (directories are still entered). ``links``: also yield
    symlinks to files (symlinked directories are never followed). ``skip``: absolute paths
    (below ``root``, as the walk spells them) of directories and files left out, such as the
    credential stores :func:`.paths.places_under` names."""
    stack = IgnoreStack.for_root(root) if gitignore else None
    yield from _walk(root, "", stack, override, links, frozenset(skip))


def _walk(abs_dir: str, rel_dir: str, stack: IgnoreStack | None, override: Rules | None,
          links: bool, skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, str]]:
    try:
        with os.scandir(abs_dir) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    if stack is not None:
        rules = load_rules(os.path.join(abs_dir, ".gitignore"))
        if rules:
            stack = stack.push(rel_dir, rules)
    for e in entries:
        name = e.name
        if name == ".git" or (skip and e.path in skip):
            continue
        rel = f"{rel_dir}/{name}" if rel_dir else name
        try:
            link = e.is_symlink()
            is_dir = not link and e.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if link and not links:
            continue
        if override is not None:
            r = override.match(rel, is_dir)
            if r is not None:
                if r.negated:
                    continue
            elif override.has_positive and not is_dir:
                continue
            elif stack is not None and stack.ignored(rel, is_dir):
                continue
        elif stack is not None and stack.ignored(rel, is_dir):
            continue
        if is_dir:
            yield from _walk(e.path, rel, stack, override, links, skip)
        elif link:
            if os.path.isfile(e.path):
                yield e.path, rel
        else:
            try:
                if e.is_file(follow_symlinks=False):
                    yield e.path, rel
            except OSError:
                continue
