"""The ``grep`` tool: a regular-expression search over files.

It runs ripgrep when ``rg`` is on PATH and a pure-Python search otherwise; both skip ``.git``,
binary files and what ``.gitignore`` excludes, walk in the same (name) order and produce the
same text: ``path:line: text`` for a matching line, ``path-line- text`` for a context line,
``--`` between separate groups, paths relative to the search root.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any, Iterable, Iterator

from ..engine.tools import Tool, ToolError
from . import nofollow
from ._common import (PathTool, check_hard_link, display_path, is_binary, not_found_message,
                      open_error)
from .ignore import Rules, walk
from .paths import places_under, skipped_note

#: None: use rg when it is on PATH; False: always the Python search; True: require rg
USE_RG: bool | None = None
DEFAULT_MAX_RESULTS = 200
MAX_CONTEXT = 20
#: characters of a result line shown before it is cut
MAX_RESULT_CHARS = 500

Record = tuple[str, int, str, bool]  # (path, line number, text, is a match)


class GrepTool(PathTool, Tool):
    name = "grep"
    summary = "search file contents with a regular expression (ripgrep when installed)"
    description = (
        "Searches files for a regular expression and lists the matching lines as "
        "`path:line: text` (paths relative to the searched directory). Skips .git, binary "
        "files and what .gitignore excludes. path: a directory or a file (default: the "
        "working directory); glob: only files whose name or path matches it (e.g. `*.py`, "
        "`src/**/*.ts`); context: lines to show around each match; max_results: the most "
        "matching lines to list (default 200). Credential stores and loomex's config "
        "directory inside the searched directory are not searched.")
    parameters = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "the regular expression"},
            "path": {"type": "string", "description": "a directory or file to search"},
            "glob": {"type": "string", "description": "only files matching this glob"},
            "ignore_case": {"type": "boolean", "description": "case-insensitive (default "
                                                              "false)"},
            "context": {"type": "integer", "description": "lines of context around each "
                                                          "match (default 0)"},
            "max_results": {"type": "integer", "description": "the most matching lines "
                                                              "to list (default 200)"},
        },
        "required": ["pattern"],
    }
    risk = "read"
    default_path = "."

    def execute(self, args: dict[str, Any], ctx: Any) -> str:
        pattern = args.get("pattern")
        if not isinstance(pattern, str) or pattern == "":
            raise ToolError("pattern is empty")
        cwd, root = self.target(args, ctx)
        glob = str(args.get("glob") or "").strip() or None
        icase = bool(args.get("ignore_case", False))
        context = max(0, min(MAX_CONTEXT, int(args.get("context") or 0)))
        limit = max(1, int(args.get("max_results") or DEFAULT_MAX_RESULTS))
        if not os.path.exists(root):
            raise ToolError(not_found_message(root, cwd).replace("file not found", "not found"))
        if os.path.isfile(root):
            try:  # the approved path, nothing on the way followed
                data, st = nofollow.read_all(root)
            except OSError as e:
                raise open_error(e, root, cwd) from None
            if self.read_protection(args, ctx) is None:  # else a person was asked about it
                check_hard_link(st, root, cwd)
            records = search_data(data, display_path(root, cwd), _compile(pattern, icase),
                                  context, explicit=True)
            return render(records, limit, context, pattern, None)
        if os.path.realpath(root) != root:  # swapped for a symlink since it was approved
            raise ToolError(f"{display_path(root, cwd)} changed after it was approved (a "
                            "symlink is now in its way); not followed")
        skipped = places_under(root)  # credential stores below root are not read
        skip = [p for p, _ in skipped]
        rg = rg_path()
        records: Iterable[Record] | None = None
        if rg:
            records = rg_search(rg, root, pattern, glob, icase, context, skip=skip)
        if records is None:  # no rg, or rg refused the pattern (Python's syntax may take it)
            records = python_search(root, _compile(pattern, icase), glob, context, skip=skip)
        header = None if root in (cwd, os.path.realpath(cwd)) else \
            f"(paths relative to {display_path(root, cwd)})"
        out = render(records, limit, context, pattern, header)
        return out + "\n" + skipped_note(skipped, root) if skipped else out


def rg_path() -> str | None:
    if USE_RG is False:
        return None
    import shutil
    found = shutil.which("rg")
    if USE_RG and not found:
        raise ToolError("ripgrep (rg) is required but not on PATH")
    return found


def _compile(pattern: str, icase: bool) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE if icase else 0)
    except re.error as e:
        raise ToolError(f"invalid regular expression {pattern!r}: {e}") from None


# -- the output, the same for both searches --------------------------------------------

def _cut(text: str) -> str:
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return text[:MAX_RESULT_CHARS] + f" … [cut: {len(text):,} characters]"


def render(records: Iterable[Record], limit: int, context: int, pattern: str,
           header: str | None) -> str:
    out: list[str] = [header] if header else []
    kept: list[Record] = []
    matches = 0
    hit_limit = False
    files: set[str] = set()
    it = iter(records)
    for rec in it:
        if rec[3]:
            if matches == limit:
                hit_limit = True
                break
            matches += 1
            files.add(rec[0])
        kept.append(rec)
    close = getattr(records, "close", None)
    if close is not None:
        close()  # stops ripgrep when the limit cut the search short
    if hit_limit:  # drop the context lines that belong to the match after the limit
        last = max(i for i, r in enumerate(kept) if r[3])
        lp, ll = kept[last][0], kept[last][1]
        kept = kept[:last + 1] + [r for r in kept[last + 1:]
                                  if r[0] == lp and r[1] <= ll + context]
    if not matches:
        return "\n".join(out + [f"No matches for /{pattern}/."])
    prev: tuple[str, int] | None = None
    for path, ln, text, is_match in kept:
        if context and prev is not None and (path != prev[0] or ln != prev[1] + 1):
            out.append("--")
        sep = ":" if is_match else "-"
        out.append(f"{path}{sep}{ln}{sep} {_cut(text)}")
        prev = (path, ln)
    if hit_limit:
        out.append(f"(stopped at {limit} matching lines; there are more: narrow the search "
                   "with path, glob or a more specific pattern, or raise max_results)")
    else:
        out.append(f"({matches} matching line{'s' if matches != 1 else ''} in {len(files)} "
                   f"file{'s' if len(files) != 1 else ''})")
    return "\n".join(out)


# -- ripgrep ---------------------------------------------------------------------------

def rg_search(rg: str, root: str, pattern: str, glob: str | None, icase: bool,
              context: int, skip: Iterable[str] = ()) -> Iterator[Record] | None:
    """ripgrep's results as records, or None when rg rejects the pattern. ``skip``: absolute
    paths below ``root`` that rg must not enter (given last, so they win over ``glob``)."""
    import json
    import subprocess
    cmd = [rg, "--json", "--sort", "path", "--no-config", "--hidden", "--no-require-git",
           "--no-ignore-dot", "--no-ignore-global", "--no-ignore-exclude", "-g", "!.git"]
    if glob:
        cmd += ["-g", glob]
    for path in skip:
        cmd += ["-g", "!/" + _glob_escape(os.path.relpath(path, root).replace(os.sep, "/"))]
    if icase:
        cmd.append("-i")
    if context:
        cmd += ["-C", str(context)]
    cmd += ["-e", pattern, "."]
    import tempfile
    errf = tempfile.TemporaryFile()  # a file, not a pipe: rg never blocks on its warnings
    proc = subprocess.Popen(cmd, cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=errf)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first:
        proc.wait()
        proc.stdout.close()
        errf.seek(0)
        err = errf.read().decode("utf-8", "replace")
        errf.close()
        if proc.returncode == 2 and "regex" in err.lower():
            return None
        if proc.returncode == 2 and err.strip():
            raise ToolError(f"rg: {err.strip().splitlines()[-1]}")
        return iter(())

    def records() -> Iterator[Record]:
        try:
            line = first
            while line:
                ev = json.loads(line)
                kind = ev.get("type")
                if kind in ("match", "context"):
                    d = ev["data"]
                    path = _rg_text(d["path"])
                    if path.startswith("./"):
                        path = path[2:]
                    text = _rg_text(d["lines"]).rstrip("\n").rstrip("\r")
                    yield path, d["line_number"], text, kind == "match"
                line = proc.stdout.readline()  # type: ignore[union-attr]
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
            errf.close()
    return records()


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]{}\\!" else c for c in text)


def _rg_text(d: dict[str, Any]) -> str:
    if "text" in d:
        return d["text"]
    import base64
    return base64.b64decode(d.get("bytes", "")).decode("utf-8", "replace")


# -- the pure-Python search --------------------------------------------------------------

def python_search(root: str, rx: re.Pattern[str], glob: str | None,
                  context: int, skip: Iterable[str] = ()) -> Iterator[Record]:
    override = Rules([glob]) if glob else None
    for abs_path, rel in walk(root, override=override, skip=skip):
        yield from python_search_file(abs_path, rel, rx, context)


def python_search_file(path: str, shown: str, rx: re.Pattern[str],
                       context: int) -> Iterator[Record]:
    try:  # a file swapped for a symlink during the walk is not followed
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return
            data = f.read()
    except OSError:
        return
    yield from search_data(data, shown, rx, context)


def search_data(data: bytes, shown: str, rx: re.Pattern[str], context: int,
                explicit: bool = False) -> Iterator[Record]:
    """The records of one file's bytes (a binary file: none, or an error when ``explicit``)."""
    if b"\0" in data:
        if explicit and is_binary(data):
            raise ToolError(f"{shown} is a binary file")
        return
    lines = data.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    hits = [i for i, line in enumerate(lines) if rx.search(line)]
    if not hits:
        return
    if context:
        show = sorted({j for i in hits
                       for j in range(max(0, i - context), min(len(lines), i + context + 1))})
    else:
        show = hits
    hit_set = set(hits)
    for j in show:
        yield shown, j + 1, lines[j].rstrip("\r"), j in hit_set
