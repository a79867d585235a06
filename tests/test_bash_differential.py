"""bash itself is the oracle: every command line here runs in a real bash whose PATH holds
only stubs that log their argv (nothing real runs), and what bash executed is compared with
what loomex's checker saw and decided.

- P1: for a *plain* line, every program bash ran is one of the simple commands the checker
  computed, with the same argv (globs expanded as bash does).
- P2: for any line (unless it runs code the checker cannot know, e.g. ``eval "$x"``), every
  program bash ran has a name the checker saw somewhere in the line.
- P3: a line the policy approves without a person (an allow rule ``*``, or ``--yes``) ran
  only what the checker computed, and nothing dangerous.

The oracle: ``bash --norc --noprofile -c LINE`` with ``BASH_ENV`` pointing at a prelude that
disables the builtins that stand for programs (``enable -n echo printf test [ ...``, so they
too go through the stubs) and defines ``command_not_found_handle`` so that a name no stub has
is logged too. The stubs are ``/bin/sh`` scripts (dash ignores BASH_ENV); ``env``, ``nohup``,
``timeout``, ``nice``, ``stdbuf``, ``setsid`` and ``bash``/``sh`` log and then run the real
program, so what they start is logged as well; ``sudo``, ``xargs`` and ``find`` only log.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from loomex_cli import RunContext
from loomex_cli.tools.bash import BashTool
from loomex_cli.tools.bash_grammar import analyse
from loomex_cli.tools.bash_wrappers import unwrap
from loomex_cli.tools.danger import _simple_danger, analysis_danger
from loomex_cli.tools.policy import Policy

BASH = shutil.which("bash") or "/bin/bash"
STUBS = ["ls", "rm", "git", "echo", "printf", "cat", "grep", "make", "touch", "mkdir", "cp",
         "mv", "chmod", "curl", "wget", "id", "whoami", "test", "[", "pwd", "tee", "head",
         "sort", "wc", "sed", "awk", "python3", "node", "npm", "pytest", "victim", "kill",
         "type", "hash", "command", "builtin", "true", "sudo", "xargs", "find", "dd", "cd",
         "x", "y", "a", "b", "f"]
PASS_THROUGH = {"env": "/usr/bin/env", "nohup": "/usr/bin/nohup", "timeout": "/usr/bin/timeout",
                "nice": "/usr/bin/nice", "stdbuf": "/usr/bin/stdbuf", "setsid": "/usr/bin/setsid",
                "bash": BASH, "sh": BASH}
DISABLE = ("echo printf test [ true false pwd kill type hash command builtin times ulimit "
           "umask help jobs disown suspend dirs pushd popd mapfile readarray caller compgen "
           "complete compopt bind history fc logout enable")
#: names whose arguments are code the checker may not know (a line using them with unknown
#: words is "opaque" for P2)
CODE = {"eval", "source", ".", "bash", "sh", "trap", "alias", "exec", "env"}


class Oracle:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.logs = root / "logs"
        self.home = root / "home"
        self.cwd = root / "scratch" / "a" / "b"
        self.runs = 0
        for d in (self.bin, self.logs, self.home, self.cwd):
            d.mkdir(parents=True)
        (self.cwd / "victim").mkdir()
        for name in ("a.py", "b.py", "notes.txt", "-rf"):
            (self.cwd / name).write_text("x\n")
        # a file per program run (exec keeps the pid: env -> make would share "$$")
        log = ('f=$(/bin/mktemp "$ORACLE_LOGS/XXXXXXXX")\n'
               '/usr/bin/printf "%s\\0" x "${0##*/}" "$@" > "$f"\n')
        for name in STUBS:
            code = "exit 1\n" if name == "false" else ""
            self._stub(name, log + code)
        self._stub("false", log + "exit 1\n")
        for name, real in PASS_THROUGH.items():
            self._stub(name, log + f'exec {real} "$@"\n')
        self._stub(".notfound", 'f=$(/bin/mktemp "$ORACLE_LOGS/XXXXXXXX")\n'
                                '/usr/bin/printf "%s\\0" n "$@" > "$f"\nexit 127\n')
        self.prelude = root / "prelude.sh"
        self.prelude.write_text(
            f'command_not_found_handle() {{ "{self.bin}/.notfound" "$@"; }}\n'
            f"enable -n {DISABLE}\n")

    def _stub(self, name: str, body: str) -> None:
        p = self.bin / name
        p.write_text("#!/bin/sh\n" + body)
        p.chmod(0o755)

    def run(self, line: str) -> list[tuple[str, ...]] | None:
        """The argv of every program bash tried to run (None: bash did not finish in time)."""
        self.runs += 1  # a directory per run: a late background program cannot blur two runs
        logs = self.logs / str(self.runs)
        logs.mkdir()
        env = {"PATH": str(self.bin), "BASH_ENV": str(self.prelude), "HOME": str(self.home),
               "ORACLE_LOGS": str(logs), "LC_ALL": "C.UTF-8"}
        proc = subprocess.Popen([BASH, "--norc", "--noprofile", "-c", line], cwd=self.cwd,
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None
        for _ in range(200):  # programs left in the background (`ls &`) finish too
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)
        out = []
        for f in sorted(logs.iterdir(), key=lambda p: p.stat().st_mtime_ns):
            parts = f.read_bytes().split(b"\0")[:-1]
            if parts:
                out.append(tuple(p.decode("utf-8", "surrogateescape") for p in parts[1:]))
        return out


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    o = Oracle(tmp_path_factory.mktemp("oracle"))
    with pytest.MonkeyPatch.context() as mp:  # the checker reads ~ from HOME, as bash does
        mp.setenv("HOME", str(o.home))
        yield o


def _expand(cmd, cwd: Path) -> tuple[str, ...]:
    """A plain command's argv with its globs expanded the way bash does (sorted, and the
    pattern itself when nothing matches)."""
    import glob
    out: list[str] = []
    for word, pattern in zip(cmd.words, cmd.globs or [None] * len(cmd.words)):
        if pattern is None:
            out.append(word)
            continue
        found = sorted(glob.glob(pattern, root_dir=cwd))
        out.extend(found or [word])
    return tuple(out)


def _computed(a, cwd: Path) -> set[tuple[str, ...]]:
    out = set()
    for c in a.commands:
        if any(w is None for w in c.words):
            continue
        argv = _expand(c, cwd)
        out.add(argv)
        for k in range(1, len(argv)):  # what wrappers (env, nohup ...) run in turn
            if unwrap([*argv[:k], "\x01"])[0] == "\x01":
                out.add(argv[k:])
    return out


def _runs_a_file(a) -> bool:
    """``bash FILE``, ``. FILE``: what runs is in the file (here, a stub found on PATH)."""
    for c in a.commands:
        name, args, _root, _ = unwrap([w if w is not None else "\0" for w in c.words])
        if name in ("bash", "sh") and args and not args[0].startswith("-"):
            return True
        if name in (".", "source") and args:
            return True
    return False


def _names(a) -> tuple[set[str], bool]:
    """The command names the checker saw, and whether the line runs code it cannot know."""
    names: set[str] = set()
    opaque = False
    for c in a.commands:
        words = [w if w is not None else "\0" for w in c.words]
        if not words or words[0] == "\0":
            opaque = True
            continue
        names.add(os.path.basename(words[0]))
        name, args, _root, _ = unwrap(words)
        names.add(name)
        if any(os.path.basename(w) in CODE for w in words) and "\0" in "".join(words):
            opaque = True
        if os.path.basename(words[0]) in ("source", ".", "alias"):
            opaque = True
    return names, opaque


def _decide(policy: Policy, line: str, cwd: Path):
    ctx = RunContext(agent=None, messages=[], deps={"cwd": str(cwd)})  # type: ignore[arg-type]
    return asyncio.run(policy(BashTool(), {"command": line}, ctx))


def check(oracle: Oracle, line: str) -> tuple[bool, list[tuple[str, ...]]]:
    """Runs ``line`` in the oracle and asserts P1-P3; returns (plain, what bash ran)."""
    ran = oracle.run(line)
    if ran is None:  # a generated line that loops: nothing to compare
        assume(False)
    assert ran is not None
    a = analyse(line)
    if _runs_a_file(a):
        return a.plain, ran
    if a.plain:
        computed = _computed(a, oracle.cwd)
        for argv in ran:
            assert argv in computed, f"P1: bash ran {argv!r}, the checker computed {computed!r}"
    names, opaque = _names(a)
    if not opaque:
        for argv in ran:
            assert argv[0] in names, f"P2: bash ran {argv!r}; the checker saw {names!r}"
    for policy in (Policy({"bash": {"allow": ["*"]}}, cwd=str(oracle.cwd)),
                   Policy(yes=True, cwd=str(oracle.cwd))):
        if _decide(policy, line, oracle.cwd).allowed:
            assert a.plain
            computed = _computed(a, oracle.cwd)
            for argv in ran:
                assert argv in computed, f"P3: approved, and bash ran {argv!r}"
                name, args, root, _ = unwrap(list(argv))
                assert not root and not _simple_danger(name, args), \
                    f"P3: approved, and bash ran the dangerous {argv!r}"
            assert analysis_danger(a, str(oracle.cwd)) is None
    return a.plain, ran


# -- the attacks of issue 10 and their relatives ---------------------------------------------

BYPASSES = [
    "ls #'\nrm -rf victim #'",
    "git status $'\\'';rm -rf victim;#'",
    "ls $'\\x3b' rm -rf victim",
    "ls \\\nrm -rf victim",
    "ls\\\n;rm -rf victim",
    "l\\\ns -la",
    "echo a\\\nb; rm -rf victim",
    "ls\r\nrm -rf victim",
    "ls\u00a0-la; rm\u00a0-rf victim",
    "ls\u2028rm -rf victim",
    "ls\u200b; rm -rf victim",
    "ls {rm,-rf,victim}",
    "{rm,-rf,victim}",
    "ls; {rm,-rf,victim}",
    "ls ] [; rm -rf victim",
    "ls `rm -rf victim`",
    "ls $(rm -rf victim)",
    "ls \"$(rm -rf victim)\"",
    "ls <(rm -rf victim)",
    "ls >(rm -rf victim)",
    "ls & rm -rf victim",
    "ls && (rm -rf victim)",
    "ls && { rm -rf victim; }",
    "ls; f() { rm -rf victim; }; f",
    "ls; if true; then rm -rf victim; fi",
    "ls; for i in 1; do rm -rf victim; done",
    "ls; case x in x) rm -rf victim;; esac",
    "ls; X=rm; $X -rf victim",
    "ls; ${X:-rm} -rf victim",
    "RM=rm ls; $RM -rf victim",
    "ls; eval 'rm -rf victim'",
    "ls; eval \"rm\" -rf victim",
    "ls; bash -c 'rm -rf victim'",
    "ls; sh -c \"rm -rf victim\"",
    "ls; bash -c 'bash -c \"rm -rf victim\"'",
    "ls; env rm -rf victim",
    "ls; env -S 'rm -rf victim'",
    "ls; nohup rm -rf victim",
    "ls; timeout 5 rm -rf victim",
    "ls; nice -n 5 rm -rf victim",
    "ls; trap 'rm -rf victim' EXIT",
    "ls; exec rm -rf victim",
    "ls | xargs rm -rf",
    "ls; find . -exec rm -rf {} +",
    "ls; r\\m -rf victim",
    "ls; 'rm' -rf victim",
    "ls; \"r\"m -rf victim",
    "ls; rm -r''f victim",
    "ls; rm * ",
    "ls; rm -- *",
    "ls; rm ./*",
    "ls; cat <<EOF\n$(rm -rf victim)\nEOF",
    "ls; bash <<EOF\nrm -rf victim\nEOF",
    "ls; bash <<< 'rm -rf victim'",
    "ls; echo x >> ../../x",
    "ls > ../../y",
    "ls; echo x > ~/z",
    "ls; echo x >| /tmp/loomex-oracle-w",
    "ls 2>&1 > ../out",
    "ls; shopt -s expand_aliases; alias ls='rm -rf victim'\nls",
    "ls; ! rm -rf victim",
    "ls; time rm -rf victim",
    "ls; [[ -d victim ]] && rm -rf victim",
    "ls; [ -d victim ] && rm -rf victim",
    "ls; (( 1 )) && rm -rf victim",
    "ls; echo $((1+1)); rm -rf victim",
    "ls; declare -x A=1; rm -rf victim",
    "ls; export PATH=.; rm -rf victim",
    "ls;; rm -rf victim",
    "ls &&",
    "ls ||\nrm -rf victim",
    "ls |\nrm -rf victim",
    "ls $\"x\"; rm -rf victim",
    "ls '; rm -rf victim",
    "ls \"; rm -rf victim",
    "ls \\",
    "ls ~root; rm -rf victim",
    "ls a=~/x",
    "ls #; rm -rf victim",
    "ls a#b; rm -rf victim",
    "ls\trm -rf victim",
    "sudo ls; rm -rf victim",
    "ls > /dev/null; rm -rf victim",
    "ls &> /dev/null b; rm -rf victim",
    "ls 2>/dev/null x; rm -rf victim",
    "2>/dev/null rm -rf victim",
    "ls; command rm -rf victim",
    "ls; builtin eval 'rm -rf victim'",
    "ls; . /dev/stdin",
    "ls; coproc rm -rf victim",
    "ls |& rm -rf victim",
    "ls; git -c alias.st='!rm -rf victim' st",
    # found by the generator (bash and the grammar disagreed on these)
    "*", "*A=1", "{ls", "for'a b'", "{'a b'", "\\ ls", "ls`ls`ls", "[ab]", "env env",
    "EOF &\nEOFEOF", "bash ls", "sh sh ls", "\\", "\\ls\\",
    # env reads "=x" as a setting: the old unwrapping took it for the command
    "env = ls", "env =x rm -rf victim", "env a-b=1 rm -rf victim",
]


@pytest.mark.parametrize("line", BYPASSES)
def test_attacks_are_seen_and_never_approved_alone(oracle, line):
    plain, ran = check(oracle, line)
    # whatever bash ran, the rule `ls *` (or --yes alone) did not approve anything but ls
    policy = Policy({"bash": {"allow": ["ls *", "ls"]}}, cwd=str(oracle.cwd))
    if _decide(policy, line, oracle.cwd).allowed:
        assert all(argv[0] == "ls" for argv in ran), (line, ran)


PLAIN = [
    ("ls -la", [("ls", "-la")]),
    ("git status --short", [("git", "status", "--short")]),
    ("git commit -m 'fix: a \"quoted\" thing'", [("git", "commit", "-m", 'fix: a "quoted" thing')]),
    ('echo "a b"  c\\ d \'e\'f', [("echo", "a b", "c d", "ef")]),
    ('echo "a\\"b" "c\\\\d" "e\\f"', [("echo", 'a"b', "c\\d", "e\\f")]),
    ("ls && git status || make; pytest -q\nnpm test", None),
    ("ls | grep x | wc -l", None),
    ("make 2>&1 | tee build.log", None),
    ("make > /dev/null 2>&1", [("make",)]),
    ("docker run \\\n  -v x \\\n  img", None),
    ("echo 'a\\\nb'", [("echo", "a\\\nb")]),
    ('echo "a\\\nb"', [("echo", "ab")]),
    ("ls *.py", [("ls", "a.py", "b.py")]),
    ("ls '*.py' \\*.py", [("ls", "*.py", "*.py")]),
    ("ls n?tes.txt [ab].py", [("ls", "notes.txt", "a.py", "b.py")]),
    ("ls ~ ~/x", None),
    ("git show HEAD~1 a=b x:y", [("git", "show", "HEAD~1", "a=b", "x:y")]),
    ("find . -name '*.o' -exec ls {} \\;", [("find", ".", "-name", "*.o", "-exec", "ls", "{}", ";")]),
    ("echo a#b '#c' \"#d\"", [("echo", "a#b", "#c", "#d")]),
    ("echo héllo wörld", [("echo", "héllo", "wörld")]),
    ("set -euo pipefail; make", None),
    ("env A=1 make test", [("env", "A=1", "make", "test"), ("make", "test")]),
    ("bash -c 'ls -la'", [("bash", "-c", "ls -la"), ("ls", "-la")]),
    ("echo '' \"\"", [("echo", "", "")]),
    ("true", [("true",)]),
]


@pytest.mark.parametrize("line,expected", PLAIN)
def test_plain_lines_compute_what_bash_runs(oracle, line, expected):
    plain, ran = check(oracle, line)
    assert plain, analyse(line).why
    if expected is not None:
        assert sorted(ran) == sorted(expected)


def test_the_issue_attacks_are_not_plain_and_dangerous_where_they_should_be(oracle):
    for line in ("ls #'\nrm -rf victim #'", "git status $'\\'';rm -rf victim;#'"):
        a = analyse(line)
        assert not a.plain
        assert analysis_danger(a, str(oracle.cwd)) == "recursive delete"
    a = analyse("echo x >> ../../x")
    assert not a.plain
    assert analysis_danger(a, str(oracle.cwd)) == "writes outside the working directory"
    # a pattern that would hand rm a file called -rf is dangerous even though it is plain
    a = analyse("rm *")
    assert a.plain and "option" in (analysis_danger(a, str(oracle.cwd)) or "")


# -- generated lines ----------------------------------------------------------------------

ATOMS = ["ls", "rm", "-rf", "victim", "git", "status", "echo", "x", "a.py", "*", "?", "*.py",
         "[ab]", "'", '"', "\\", "$", "'a b'", '"c d"', "$'\\''", "$'\\x3b'", "#", ";", "&&",
         "||", "|", "&", "\n", "\\\n", "(", ")", "{", "}", "{a,b}", "$(", "`", "~", "~/y",
         "=", "A=1", ">", ">>", "2>&1", "/dev/null", "<", "<<", "EOF", "bash", "-c", "eval",
         "env", "\u00a0", "\r", "\t", "!", "if", "then", "fi", "for", "in", "do", "done",
         "$x", "${x}", "$((1))", "2>", "|&", ";;", "../z", "-S", "sh",
         # wrappers and their options
         "nohup", "timeout", "5", "nice", "-n", "sudo", "-u", "--", "=x", "-i", "command",
         "exec", "xargs", "-0", "stdbuf", "-oL", "setsid", "-C", ".", "-u"]


#: LOOMEX_DIFF_EXAMPLES=5000 hunts with fresh random lines (CI runs the same 300 every time)
_HUNT = int(os.environ.get("LOOMEX_DIFF_EXAMPLES", "0"))


@settings(max_examples=_HUNT or 300, deadline=None, derandomize=not _HUNT, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.tuples(st.sampled_from(ATOMS), st.sampled_from(["", " ", " "])),
                      min_size=1, max_size=10))
def test_generated_lines(oracle, parts):
    line = "".join(a + sep for a, sep in parts).strip(" ")
    assume(line.strip())
    check(oracle, line)
