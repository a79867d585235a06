"""Calls that always need a person's yes: recursive deletes, root, a download piped into a
shell, force pushes, recursive chmod/chown, dd, mkfs, and writes outside the working
directory. Each check returns a short human reason, or None.

The command is split into simple commands the way the shell would (``&&``, ``||``, ``;``,
pipes, ``&``, newlines, subshells, ``$(...)`` and backticks), wrappers such as ``env``,
``nohup``, ``timeout`` or ``xargs`` are looked through, and ``bash -c '...'``/``eval`` are
checked recursively. It is a guard against accidents, not a sandbox.
"""

from __future__ import annotations

import os
import re
from typing import Iterator

from ._common import is_within
from .paths import path_danger  # noqa: F401 - where writing a path is dangerous

_PUNCT = "();<>|&\n"
_REDIRECT = re.compile(r"^(?:&>>?|>>?&?|>\||<<?<?|<>|<&)$")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "ash", "busybox"}
_INTERPRETERS = _SHELLS | {"python", "python2", "python3", "perl", "ruby", "node", "php"}
_DOWNLOADERS = {"curl", "wget", "fetch", "aria2c", "http", "https"}
_ROOT = {"sudo": "sudo", "doas": "doas", "su": "su", "pkexec": "pkexec", "run0": "run0"}
_KEYWORDS = {"{", "}", "!", "if", "then", "else", "elif", "fi", "do", "done", "while", "until",
             "for", "case", "esac", "time", "coproc", "in"}
#: wrappers that run their arguments as a command: name -> options that take a value
_WRAPPERS: dict[str, set[str]] = {
    "env": {"-u", "--unset", "-C", "--chdir", "-S", "--split-string"},
    "nohup": set(), "command": set(), "builtin": set(), "exec": {"-a"},
    "nice": {"-n", "--adjustment"}, "ionice": {"-c", "-n", "-p", "-t"},
    "stdbuf": {"-i", "-o", "-e"}, "time": {"-f", "-o"}, "chronic": set(),
    "timeout": {"-s", "--signal", "-k", "--kill-after"},
    "xargs": {"-I", "-i", "-n", "-P", "-L", "-l", "-d", "-s", "-a", "-E", "-e",
              "--max-args", "--max-procs", "--delimiter", "--arg-file", "--replace"},
    "watch": {"-n", "--interval", "-d"}, "unbuffer": set(), "caffeinate": set(),
}
#: what writing to is harmless wherever the working directory is
_SAFE_TARGETS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/fd/")
_DL_EXEC = [re.compile(p) for p in (
    r"\b(?:ba|z|da|k|fi)?sh\s+(?:-\S+\s+)*<\(\s*(?:curl|wget|fetch)\b",
    r"(?:^|[;&|\s])(?:source|\.)\s+<\(\s*(?:curl|wget|fetch)\b",
    r"\b(?:ba|z|da|k|fi)?sh\s+-c\s+[\"']?\$\(\s*(?:curl|wget|fetch)\b",
    r"\beval\s+[\"']?\$\(\s*(?:curl|wget|fetch)\b",
    r"\b(?:curl|wget|fetch)\b[^;&\n]*\|\s*(?:sudo\s+|env\s+)*(?:\S*/)?(?:ba|z|da|k|fi)?sh\b",
)]
#: used only when the command cannot be tokenised (unbalanced quotes)
_RAW = [
    (re.compile(r"\brm\s+(?:\S+\s+)*?(?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)\b"),
     "recursive delete"),
    (re.compile(r"(?:^|[;&|(\s])(?:sudo|doas)\s"), "runs as root (sudo)"),
    (re.compile(r"\bgit\s+(?:\S+\s+)*?push\b.*\s(?:-f|--force\S*)\b"), "force push"),
    (re.compile(r"\b(?:chmod|chown|chgrp)\s+(?:\S+\s+)*?-[a-zA-Z]*R"), "recursive chmod/chown"),
    (re.compile(r"(?:^|[;&|(\s])dd\s"), "dd (raw copy to a file or device)"),
    (re.compile(r"\bmkfs\b"), "formats a filesystem (mkfs)"),
    (re.compile(r"\bfind\b.*\s-delete\b"), "deletes files (find -delete)"),
]
_MAX_DEPTH = 4
_SUBST = re.compile(r"\$\(|`|[<>]\(")


def command_danger(command: str, cwd: str | None = None, _depth: int = 0) -> str | None:
    """Why a shell command is dangerous, or None."""
    if _depth > _MAX_DEPTH:
        return None
    for rx in _DL_EXEC:
        if rx.search(command):
            return "pipes a download into a shell"
    try:
        tokens = _tokens(command)
    except ValueError:  # unbalanced quotes: fall back to patterns on the raw text
        for rx, why in _RAW:
            if rx.search(command):
                return why
        return None
    for pipeline in _pipelines(tokens):
        why = _pipeline_danger(pipeline, cwd, _depth)
        if why:
            return why
    return None


# -- splitting ------------------------------------------------------------------------

def _tokens(command: str) -> list[str]:
    import shlex
    lex = shlex.shlex(command, posix=True, punctuation_chars=_PUNCT)
    lex.whitespace = " \t\r"
    lex.commenters = ""
    lex.wordchars += "$@%+,:^!{}[]#"
    return list(lex)


def _is_op(tok: str) -> bool:
    return bool(tok) and all(c in _PUNCT for c in tok)


def _pipelines(tokens: list[str]) -> Iterator[list[list[str]]]:
    """Simple commands (lists of words and redirections), grouped into pipelines."""
    pipeline: list[list[str]] = []
    seg: list[str] = []
    for tok in tokens:
        if _is_op(tok) and not _REDIRECT.match(tok):
            if seg:
                pipeline.append(seg)
            seg = []
            if tok not in ("|", "|&"):
                if pipeline:
                    yield pipeline
                pipeline = []
            continue
        if tok == "`":  # backticks: a command substitution, a separate command
            if seg:
                pipeline.append(seg)
            if pipeline:
                yield pipeline
            seg, pipeline = [], []
            continue
        seg.append(tok)
    if seg:
        pipeline.append(seg)
    if pipeline:
        yield pipeline


def _unwrap(words: list[str]) -> tuple[str, list[str], str | None]:
    """The command that really runs: (name, its arguments, a root-wrapper if any)."""
    i, n = 0, len(words)
    while i < n:
        w = words[i]
        if w in _KEYWORDS or _ASSIGN.match(w):
            i += 1
            continue
        name = os.path.basename(w)
        if name in _ROOT:
            return name, words[i + 1:], _ROOT[name]
        opts = _WRAPPERS.get(name)
        if opts is None:
            return name, words[i + 1:], None
        i += 1
        if name == "timeout":  # options, then the duration
            while i < n and words[i].startswith("-"):
                i += 2 if words[i] in opts else 1
            i += 1
            continue
        while i < n and (words[i].startswith("-") or (name == "env" and _ASSIGN.match(words[i]))):
            if words[i] == "--":
                i += 1
                break
            i += 2 if words[i] in opts else 1
        if name in ("nice", "watch", "ionice", "stdbuf") and i < n and words[i].isdigit():
            i += 1
    return "", [], None


def _short_flags(args: list[str]) -> Iterator[str]:
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


# -- the checks -----------------------------------------------------------------------

def _pipeline_danger(pipeline: list[list[str]], cwd: str | None, depth: int) -> str | None:
    downloaded = False
    for seg in pipeline:
        words, redirects = _split_redirects(seg)
        for w in words:  # $(...) or `...` inside a word runs too
            if "$(" in w or "`" in w or "<(" in w:
                why = command_danger(w, cwd, depth + 1)
                if why:
                    return why
        if cwd is not None:
            for target in redirects:
                why = _target_danger(target, cwd)
                if why:
                    return why
        name, args, root = _unwrap(words)
        if root:
            return f"runs as root ({root})"
        if downloaded and name in _INTERPRETERS:
            return "pipes a download into a shell"
        if name in _DOWNLOADERS:
            downloaded = True
        why = _simple_danger(name, args, cwd, depth)
        if why:
            return why
    return None


def _split_redirects(seg: list[str]) -> tuple[list[str], list[str]]:
    words: list[str] = []
    targets: list[str] = []
    i = 0
    while i < len(seg):
        tok = seg[i]
        if _REDIRECT.match(tok):
            if words and words[-1].isdigit():
                words.pop()  # the fd number of "2>"
            if i + 1 < len(seg) and ">" in tok and not tok.startswith("<"):
                targets.append(seg[i + 1])
            i += 2
            continue
        words.append(tok)
        i += 1
    return words, targets


def _target_danger(target: str, cwd: str) -> str | None:
    t = os.path.expanduser(target)
    if not os.path.isabs(t) or t.startswith(_SAFE_TARGETS):
        return None
    import tempfile
    norm = os.path.normpath(t)
    for tmp in {"/tmp", os.path.realpath(tempfile.gettempdir())}:
        if is_within(os.path.realpath(norm), tmp):
            return None
    if not is_within(os.path.realpath(norm), os.path.realpath(cwd)):
        return "writes outside the working directory"
    return None


def _simple_danger(name: str, args: list[str], cwd: str | None, depth: int) -> str | None:
    if not name:
        return None
    if name == "rm" and (_has_flag(args, "r", ("--recursive",)) or _has_flag(args, "R", ())):
        return "recursive delete"
    if name == "find":
        if "-delete" in args:
            return "deletes files (find -delete)"
        for i, a in enumerate(args):
            if a in ("-exec", "-execdir", "-ok", "-okdir"):
                rest = args[i + 1:]
                end = next((j for j, x in enumerate(rest) if x in (";", "+")), len(rest))
                sub, subargs, root = _unwrap(rest[:end])
                if root:
                    return f"runs as root ({root})"
                why = _simple_danger(sub, subargs, cwd, depth)
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
    if name in _SHELLS or name == "eval":
        script = None
        if name == "eval":
            script = " ".join(args)
        else:
            for i, a in enumerate(args):
                if a == "-c" or (a.startswith("-") and not a.startswith("--") and "c" in a[1:]):
                    script = args[i + 1] if i + 1 < len(args) else None
                    break
        if script:
            return command_danger(script, cwd, depth + 1)
    return None


def _git_danger(args: list[str]) -> str | None:
    i = 0
    while i < len(args) and args[i].startswith("-"):  # git's own options
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


# -- simple commands, for rule matching --------------------------------------------------

def simple_commands(command: str) -> tuple[list[str], bool] | None:
    """The simple commands of a command line as normalised text (words joined by one
    space), and whether it has command substitutions (``$(...)``, backticks, ``<(...)``);
    None when it cannot be tokenised."""
    try:
        tokens = _tokens(command)
    except ValueError:
        return None
    subst = bool(_SUBST.search(command))
    out: list[str] = []
    for pipeline in _pipelines(tokens):
        for seg in pipeline:
            words = [w for w in seg if w not in ("$", "")]
            if words:
                out.append(" ".join(words))
            for w in seg:
                if "$(" in w or "`" in w:
                    inner = simple_commands(w)
                    if inner:
                        out.extend(inner[0])
    return out, subst
