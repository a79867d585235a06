"""Programs that run other programs: ``env``, ``nohup``, ``timeout``, ``xargs``, ``sudo`` ...
(:func:`unwrap` finds the command that really runs), and those whose arguments are shell
code (``bash -c``, ``eval``, ``env -S``, ``trap``, ``find -exec sh -c``)."""

from __future__ import annotations

import os

from .bash_words import ASSIGN

SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "ash", "busybox", "rbash"}
INTERPRETERS = SHELLS | {"python", "python2", "python3", "perl", "ruby", "node", "php",
                         "source", "."}
ROOT = {"sudo": "sudo", "doas": "doas", "su": "su", "pkexec": "pkexec", "run0": "run0"}
#: wrappers that run their arguments as a command: name -> options that take a value
WRAPPERS: dict[str, set[str]] = {
    "env": {"-u", "--unset", "-C", "--chdir"},
    "nohup": set(), "command": set(), "builtin": set(), "exec": {"-a"},
    "nice": {"-n", "--adjustment"}, "ionice": {"-c", "-n", "-p", "-t"},
    "stdbuf": {"-i", "-o", "-e"}, "time": {"-f", "-o"}, "chronic": set(),
    "timeout": {"-s", "--signal", "-k", "--kill-after"},
    "xargs": {"-I", "-i", "-n", "-P", "-L", "-l", "-d", "-s", "-a", "-E", "-e",
              "--max-args", "--max-procs", "--delimiter", "--arg-file", "--replace"},
    "watch": {"-n", "--interval", "-d"}, "unbuffer": set(), "caffeinate": set(),
    "setsid": set(), "flock": {"-w", "--timeout", "-E", "--conflict-exit-code"},
    "script": set(), "faketime": set(), "taskset": set(), "chrt": set(), "coproc": set(),
}


def unwrap(words: list[str]) -> tuple[str, list[str], str | None, list[str]]:
    """The command that really runs: (name, its arguments, a root wrapper or None, scripts
    that wrappers run as shell code, e.g. ``env -S '...'``)."""
    i, n = 0, len(words)
    scripts: list[str] = []
    last = ""
    while i < n:
        w = words[i]
        if ASSIGN.match(w):
            i += 1
            continue
        name = os.path.basename(w)
        if name in ROOT:
            return name, words[i + 1:], ROOT[name], scripts
        opts = WRAPPERS.get(name)
        if opts is None:
            return name, words[i + 1:], None, scripts
        last = name
        i += 1
        if name == "timeout":  # options, then the duration
            while i < n and words[i].startswith("-"):
                i += 2 if words[i] in opts else 1
            i += 1
            continue
        # env takes any word with "=" as a setting (even "=x"), not only NAME=...
        while i < n and (words[i].startswith("-") or (name == "env" and "=" in words[i])):
            w = words[i]
            if w == "--":
                i += 1
                break
            if name == "env" and (w in ("-S", "--split-string") or w.startswith("-S")
                                  or w.startswith("--split-string=")):
                if w in ("-S", "--split-string"):
                    scripts.append(words[i + 1] if i + 1 < n else "")
                    i += 2
                else:
                    scripts.append(w.split("=", 1)[1] if w.startswith("--") else w[2:])
                    i += 1
                continue
            i += 2 if w in opts else 1
        if name in ("flock", "taskset", "chrt") and i < n:
            i += 1  # flock's lock file, taskset's mask, chrt's priority
        elif name in ("nice", "watch", "ionice", "stdbuf") and i < n and words[i].isdigit():
            i += 1
    return last, [], None, scripts  # a wrapper with nothing to run: it runs itself


_ROOT_OPTS = {"-u", "-g", "-p", "-C", "-h", "-U", "-r", "-t", "-T", "-D", "-R"}


def real_command(words: list[str]) -> tuple[str, list[str], str | None]:
    """Like :func:`unwrap`, through ``sudo``/``doas`` too: (name, arguments, root wrapper)."""
    name, args, root, _ = unwrap(words)
    if not root:
        return name, args, None
    i = 0
    while i < len(args) and args[i].startswith("-"):  # sudo's options, then the command
        i += 2 if args[i] in _ROOT_OPTS else 1
    name, args, _r, _ = unwrap(args[i:])
    return name, args, root


def inner_scripts(words: list[str]) -> list[str]:
    """Shell code a command runs from its own arguments: ``bash -c CODE``, ``eval WORDS``,
    ``env -S CODE``, ``find -exec sh -c CODE``, ``xargs sh -c CODE``, ``trap CODE``."""
    name, args, _root, scripts = unwrap(words)
    out = list(scripts)
    if name in SHELLS:
        for i, a in enumerate(args):
            if a == "--":
                break
            if a == "-c" or (a.startswith("-") and not a.startswith("--") and "c" in a[1:]):
                out.append(args[i + 1] if i + 1 < len(args) else "")
                break
    elif name == "eval":
        out.append(" ".join(args))
    elif name == "trap" and args and not args[0].startswith("-"):
        out.append(args[0])
    elif name == "find":
        for sub in exec_parts(args):
            out.extend(inner_scripts(sub))
    return out


def exec_parts(args: list[str]) -> list[list[str]]:
    """The commands of find's ``-exec``/``-execdir``/``-ok``/``-okdir`` actions."""
    out = []
    for i, a in enumerate(args):
        if a in ("-exec", "-execdir", "-ok", "-okdir"):
            rest = args[i + 1:]
            end = next((j for j, x in enumerate(rest) if x in (";", "+")), len(rest))
            out.append(rest[:end])
    return out
