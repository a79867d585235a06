"""``loomex tools check 'COMMAND'``: how the approval policy reads a bash command.

Prints whether the line is plain (and why not), each simple command bash would run (with
the ``[tools.bash]`` rule of config.toml that matches it), the danger, and the verdict.
Exit codes: 0 allow, 10 ask a person, 11 deny.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase

ALLOW, ASK, DENY = 0, 10, 11


def check_command(command: str, *, yes: bool = False, terminal: bool = True) -> int:
    from ..engine.agent import Approval
    from ..tools.bash import BashTool
    from ..tools.bash_grammar import analyse
    from ..tools.danger import analysis_danger
    from ..tools.policy import Policy, command_forms
    from ..wire.config import load_config
    from ..errors import ConfigError
    cwd = os.getcwd()
    try:
        policy = Policy.from_config(load_config(), ask=(lambda req: "no") if terminal else None,
                                    yes=yes, cwd=cwd)
    except ValueError as e:
        raise ConfigError(f"config.toml [tools]: {e}") from None
    rules = policy.rules.get("bash", {})
    a = analyse(command)
    print(f"plain: {'yes' if a.plain else 'no, ' + str(a.why)}")
    print("commands:" if a.commands else "commands: none found")
    shown: set[str] = set()
    for c in a.commands:
        if c.line in shown:
            continue
        shown.add(c.line)
        where = "" if c.depth == 0 else f"  (inside shell code, level {c.depth})"
        if c.rough:
            where += "  (rough reading)"
        forms = command_forms(_One(c))
        deny = next((p for p in rules.get("deny", ()) if any(
            fnmatchcase(f, " ".join(p.split())) for f in forms)), None)
        allow = next((p for p in rules.get("allow", ())
                      if fnmatchcase(c.line, " ".join(p.split()))), None)
        rule = f'deny = ["{deny}"]' if deny else f'allow = ["{allow}"]' if allow else "no rule"
        print(f"  {_visible(c.line)}{where}\n      rule: {rule}")
    print(f"danger: {analysis_danger(a, cwd, command) or 'none'}")
    decided = policy.decide(BashTool(), {"command": command})
    if isinstance(decided, Approval):
        verdict, code = ("allow", ALLOW) if decided.allowed else ("deny", DENY)
        print(f"verdict: {verdict} ({decided.reason})")
        return code
    print("verdict: ask (a person approves or refuses it; without a terminal it is denied)")
    return ASK


class _One:
    """One simple command in the shape command_forms() reads."""

    def __init__(self, c: object) -> None:
        self.commands = (c,)


def _visible(text: str) -> str:
    """Control and invisible characters shown as escapes."""
    import unicodedata
    out = []
    for ch in text:
        if ch == " " or (ch.isprintable() and unicodedata.category(ch)[0] not in "CZ"):
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)
