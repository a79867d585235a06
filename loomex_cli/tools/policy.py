"""The approval policy: which tool calls run, which are refused, and which ask a person.

    policy = Policy(config.get("tools"), ask=ask_on_terminal, yes=args.yes, cwd=cwd)
    run(agent, prompt, approver=policy, context={"cwd": cwd})

In order: read-only tools run, unless they read a protected place (see :mod:`.paths`). A
``deny`` rule refuses. ``allow_all`` (``--dangerously-allow-all``) allows the rest. A
protected place (writing ``.git``, shell start-up files or loomex's config; reading or writing
credential stores or loomex's config) asks a person whatever the rules and ``yes`` say, and is
refused when nobody can be asked. A dangerous call (see :mod:`.danger`) asks; without a way to
ask it is refused, unless ``yes`` is set and an explicit ``allow`` rule matches it. An
``allow`` rule allows. An earlier "yes for this session" allows. A command loomex cannot read
(not *plain*, see :mod:`.bash_grammar`: expansions, substitutions, redirections to files,
control flow, ...) asks, and is refused when nobody can be asked, even with ``yes``. ``yes``
allows the rest. Otherwise the person is asked, and when nobody can be asked the call is
refused (fail closed).

Rules come from ``config.toml``::

    [tools.bash]
    allow = ["git status*", "ls *"]
    deny = ["rm -rf *", "sudo *"]
    [tools.write_file]
    allow = ["./**"]

They are globs on the command (bash: the words of each simple command as bash will pass
them, joined by one space, a word with spaces or special characters in single quotes; every
simple command of a line like ``a && b`` must be allowed, and only a plain line can be; one
denied simple command anywhere, even inside ``$(...)`` or ``bash -c '...'``, denies the
line) or on the path (``write_file``, ``edit_file``: relative patterns match the path
relative to the working directory, ``./src/x.py`` and ``src/x.py`` alike; ``*`` stays within a
directory, ``**`` crosses them; absolute and ``~/`` patterns match the absolute path).
Paths are judged resolved (symlinks followed, ``..`` taken): a relative rule covers only what
really lies inside the working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Literal

from ..engine.agent import Approval
from ._common import call_person, interaction_lock, work_dir
from .danger import analysis_danger
from .paths import inside, path_danger, protected_place, real_root, resolve_path
from .ignore import compile_path_glob

Choice = Literal["once", "session", "no"]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """What the face shows the person."""
    tool: str
    #: the command (bash) or the absolute path (write_file, edit_file) or the arguments
    subject: str
    args: dict[str, Any]
    #: why the call is dangerous ("recursive delete", ...), or None
    danger: str | None = None
    risk: str = "exec"
    #: "command", "path" or "args": what ``subject`` is
    kind: str = "args"
    #: the subject as the person reads it (a path relative to the working directory)
    display: str = ""
    #: what the tool says of itself, unverified (an MCP server's readOnlyHint/destructiveHint)
    hints: str = ""
    #: a command loomex cannot read (not plain): why, e.g. "a command substitution"
    unreadable: str | None = None

    @property
    def can_remember(self) -> bool:
        """Whether "yes for this session" is offered (never for a dangerous call)."""
        return self.danger is None


@dataclass(frozen=True, slots=True)
class ApprovalAnswer:
    """The person's answer to an approval question."""
    choice: Choice
    #: told to the model when the choice is "no"
    reason: str = ""
    #: with "session": remember this glob instead of the exact subject
    pattern: str | None = None


def _rule_list(name: str, key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"[tools.{name}] {key} must be a list of strings, got {value!r}")
    return [v for v in value if v.strip()]


def normalize_rules(rules: dict[str, Any] | None) -> dict[str, dict[str, list[str]]]:
    """``config["tools"]`` as ``{tool: {"allow": [...], "deny": [...]}}``; ValueError when a
    rule list is not a list of strings. Keys of ``[tools]`` that are not tables are left
    alone (other settings may live there)."""
    if rules is None:
        return {}
    if not isinstance(rules, dict):
        raise ValueError(f"[tools] must be a table, got {type(rules).__name__}")
    out: dict[str, dict[str, list[str]]] = {}
    for name, table in rules.items():
        if not isinstance(table, dict):
            continue
        out[name] = {"allow": _rule_list(name, "allow", table.get("allow")),
                     "deny": _rule_list(name, "deny", table.get("deny"))}
    return out


@dataclass
class _Subject:
    """What a rule is matched against: a command line or a path."""
    kind: str
    value: str
    rel: str | None = None          # path kind: relative to the root, when inside it
    analysis: Any = None            # command kind: what bash will run (bash_grammar)


class Policy:
    """An approver for the engine: ``run(..., approver=Policy(...))``."""

    def __init__(self, rules: dict[str, Any] | None = None, *,
                 ask: Callable[[ApprovalRequest], Any] | None = None, yes: bool = False,
                 cwd: str | None = None, allow_all: bool = False) -> None:
        self.rules = normalize_rules(rules)
        self.ask = ask
        self.yes = yes
        #: --dangerously-allow-all: every call runs (deny rules still refuse)
        self.allow_all = allow_all
        self.cwd = os.path.abspath(os.path.expanduser(cwd)) if cwd else None
        #: (tool name, exact subject or glob, is a glob) allowed for the rest of the session
        self.session: list[tuple[str, str, bool]] = []

    @classmethod
    def from_config(cls, config: dict[str, Any] | None, **kw: Any) -> "Policy":
        """From the whole parsed ``config.toml`` (its ``[tools]`` table)."""
        return cls((config or {}).get("tools"), **kw)

    # -- the decision ---------------------------------------------------------------------
    async def __call__(self, tool: Any, args: dict[str, Any], ctx: Any = None) -> Approval:
        decided, subj = self._decide(tool, args, ctx)
        if isinstance(decided, Approval):
            return decided
        return await self._ask(decided, subj)

    def decide(self, tool: Any, args: dict[str, Any], ctx: Any = None
               ) -> "Approval | ApprovalRequest":
        """Everything but the asking: an Approval, or the request to put to the person."""
        return self._decide(tool, args, ctx)[0]

    def _decide(self, tool: Any, args: dict[str, Any], ctx: Any
                ) -> "tuple[Approval | ApprovalRequest, _Subject | None]":
        name = getattr(tool, "name", str(tool))
        risk = getattr(tool, "risk", "exec")
        if risk == "read" and getattr(tool, "subject_kind", None) != "path":
            return Approval(True, "read-only tool", "read-only"), None
        base = work_dir(ctx) if _ctx_cwd(ctx) else (self.cwd or os.getcwd())
        root = self.cwd or base
        try:
            subj = self._subject(tool, args, base, root)
        except Exception as e:  # noqa: BLE001 - a subject that cannot be worked out refuses
            return Approval(False, f"cannot tell what this call touches ({e})", "policy"), None
        if subj.kind == "command":
            danger = analysis_danger(subj.analysis, root, subj.value)
        elif subj.kind == "path" and risk == "read":
            judge = getattr(tool, "read_danger", None)
            danger = judge(subj.value) if judge else protected_place(subj.value, write=False)
            if danger is None:  # reading anywhere else runs freely
                return Approval(True, "read-only tool", "read-only"), subj
        elif subj.kind == "path":
            danger = path_danger(subj.value, root)
        else:
            danger = None
        rules = self._rules_for(name)
        denied = _deny_match(rules.get("deny", ()), subj)
        if denied is not None:
            return Approval(False, f"refused by the rule deny = [\"{denied}\"] under "
                                   f"[tools.{name}] in config.toml", "rule"), subj
        if self.allow_all:
            return Approval(True, "allowed by --dangerously-allow-all", "allow-all"), subj
        allowed = _allow_match(rules.get("allow", ()), subj)
        unreadable = subj.analysis.why if subj.analysis is not None else None
        request = ApprovalRequest(name, subj.value, dict(args), danger, risk, subj.kind,
                                  subj.rel if subj.rel is not None else subj.value,
                                  hints=str(getattr(tool, "approval_hints", "") or ""),
                                  unreadable=unreadable)
        if danger and getattr(danger, "always_ask", False):
            # a protected place: neither --yes nor an allow rule covers it
            if self.ask is not None:
                return request, subj
            return Approval(False, f"{danger}: this always needs a person's yes and none can "
                                   "be asked here (not on a terminal, or loomex serve); "
                                   "--yes and allow rules do not cover it", "policy"), subj
        if danger:
            if self.yes and allowed is not None:
                return Approval(True, f"{danger}, allowed by --yes with the rule "
                                      f"{allowed!r} under [tools.{name}]", "yes+rule"), subj
            if self.ask is not None:
                return request, subj
            if unreadable is not None:
                return Approval(False, f"{danger}, in a command loomex cannot read "
                                       f"({unreadable}): this needs a person's approval and none "
                                       "can be asked (not on a terminal). Neither --yes nor an "
                                       "allow rule approves it", "policy"), subj
            return Approval(False, f"{danger}: this needs a person's approval and none can be "
                                   "asked (not on a terminal). --yes alone does not allow it; "
                                   f"--yes with an allow rule under [tools.{name}] in "
                                   "config.toml that matches it does", "policy"), subj
        if allowed is not None:
            return Approval(True, f"allowed by the rule {allowed!r} under [tools.{name}]",
                            "rule"), subj
        if self._remembered(name, subj):
            return Approval(True, "approved earlier for this session", "session"), subj
        if unreadable is not None:
            if self.ask is not None:
                return request, subj
            return Approval(False, f"loomex cannot read this command ({unreadable}), so it "
                                   "needs a person's approval and none can be asked (not on a "
                                   "terminal). Neither --yes nor an allow rule approves it: "
                                   "write it as plain commands (see `loomex tools check`)",
                            "policy"), subj
        if self.yes:
            return Approval(True, "allowed by --yes", "yes-flag"), subj
        if self.ask is not None:
            return request, subj
        return Approval(False, "needs approval: run on a terminal, pass --yes, or add an allow "
                               f"rule under [tools.{name}] in config.toml", "policy"), subj

    async def _ask(self, req: ApprovalRequest, subj: "_Subject | None") -> Approval:
        async with interaction_lock():  # one prompt at a time
            # a parallel call may have just been allowed "for the session"
            if req.can_remember and subj is not None and self._remembered(req.tool, subj):
                return Approval(True, "approved earlier for this session", "session")
            try:
                raw = await call_person(self.ask, req)
            except EOFError:
                raw = None
            except Exception as e:  # noqa: BLE001 - a broken prompt refuses (fail closed)
                return Approval(False, f"the approval prompt failed ({type(e).__name__}: {e})",
                                "policy")
        answer = _coerce(raw)
        if answer.choice == "no":
            why = "the user said no" + (f": {answer.reason.strip()}" if answer.reason.strip()
                                        else "")
            return Approval(False, why, "user")
        if answer.choice == "session" and req.can_remember:
            if answer.pattern:
                self.session.append((req.tool, answer.pattern, True))
            else:
                self.session.append((req.tool, req.subject, False))
            return Approval(True, "approved by the user for this session", "user")
        return Approval(True, "approved by the user", "user")

    # -- matching -------------------------------------------------------------------------
    def _rules_for(self, name: str) -> dict[str, list[str]]:
        """The rules of ``[tools.NAME]``, plus those of glob tables like ``[tools."srv__*"]``
        that match an MCP tool's name (``SERVER__tool``)."""
        rules = self.rules.get(name, {})
        if "__" not in name:
            return rules
        from fnmatch import fnmatchcase
        merged = {"allow": list(rules.get("allow", ())), "deny": list(rules.get("deny", ()))}
        for key, table in self.rules.items():
            if key != name and "*" in key and fnmatchcase(name, key):
                merged["allow"] += table["allow"]
                merged["deny"] += table["deny"]
        return merged

    def _subject(self, tool: Any, args: dict[str, Any], base: str, root: str) -> _Subject:
        kind = getattr(tool, "subject_kind", None)
        if kind == "command" or (kind is None and getattr(tool, "name", "") == "bash"
                                 and "command" in args):
            from .bash_grammar import analyse
            cmd = str(args.get("command", ""))
            return _Subject("command", cmd, analysis=analyse(cmd))
        if kind == "path":
            # the real place (symlinks followed, ``..`` taken): rules and dangers judge that
            where = getattr(tool, "target_path", None)
            path = where(args, base) if where is not None else \
                resolve_path(str(args.get("path", "")), base)
            top = real_root(root)
            rel = os.path.relpath(path, top) if inside(path, top) and path != top else None
            return _Subject("path", path, rel=rel)
        try:
            value = tool.approval_subject(args)
        except Exception:  # noqa: BLE001
            value = repr(args)
        return _Subject("args", value)


    def _remembered(self, name: str, subj: _Subject) -> bool:
        for tname, value, is_glob in self.session:
            if tname != name:
                continue
            if not is_glob and value == subj.value:
                return True
            if is_glob and _matches(value, subj, deny=False):
                return True
        return False


def _ctx_cwd(ctx: Any) -> bool:
    deps = getattr(ctx, "deps", None)
    return isinstance(deps, dict) and bool(deps.get("cwd"))


def _norm_cmd(text: str) -> str:
    return " ".join(text.split())


def _matches(pattern: str, subj: _Subject, deny: bool) -> bool:
    return (_deny_match if deny else _allow_match)([pattern], subj) is not None


def _deny_match(patterns: Any, subj: _Subject) -> str | None:
    """The first pattern that refuses the call: for a command, one matching the whole line
    or any simple command anywhere in it (also as the command its wrappers run)."""
    from fnmatch import fnmatchcase
    if subj.kind != "command":
        return next((p for p in patterns if _path_or_args_match(p, subj)), None)
    forms = {_norm_cmd(subj.value)} | set(command_forms(subj.analysis))
    for pat in patterns:
        norm = _norm_cmd(pat)
        if any(fnmatchcase(f, norm) for f in forms):
            return pat
    return None


def command_forms(analysis: Any) -> list[str]:
    """Each simple command as rules see it, as its bare words, and as the command that its
    wrappers (sudo, env, xargs ...) run."""
    from .bash_wrappers import exec_parts, real_command
    out: list[str] = []
    for c in analysis.commands:
        out.append(c.line)
        bare = [w if w is not None else s for w, s in zip(c.words, c.shown)]
        out.append(" ".join(bare))
        name, rest, _root = real_command(bare)
        if name and name != bare[0]:
            out.append(" ".join([name, *rest]))
        if name == "find":  # find -exec CMD ... ;
            for sub in exec_parts(rest):
                sname, sargs, _r = real_command(sub)
                out.append(" ".join([sname, *sargs]))
    # a deny rule "rm *" also refuses a bare "rm" (xargs adds the arguments when it runs)
    return out + [f + " " for f in out]


def _allow_match(patterns: Any, subj: _Subject) -> str | None:
    """The pattern(s) that allow the call: for a command, every simple command of a plain
    line must match one (a line that is not plain is never allowed by a pattern)."""
    from fnmatch import fnmatchcase
    if subj.kind != "command":
        return next((p for p in patterns if _path_or_args_match(p, subj)), None)
    a = subj.analysis
    parts = [c.line for c in a.commands if c.depth == 0] if a is not None and a.plain else []
    if not parts:
        return None
    pats = [(p, _norm_cmd(p)) for p in patterns]
    used: list[str] = []
    for part in parts:
        for pat, norm in pats:
            if fnmatchcase(part, norm):
                if pat not in used:
                    used.append(pat)
                break
        else:
            return None
    return ", ".join(used)


def _path_or_args_match(pattern: str, subj: _Subject) -> bool:
    from fnmatch import fnmatchcase
    if subj.kind == "path":
        p = os.path.expanduser(pattern.strip())
        if os.path.isabs(p):  # matched on the real path, the pattern's own symlinks followed
            return bool(compile_path_glob(_real_pattern(p).lstrip("/"))
                        .match(subj.value.lstrip("/")))
        if subj.rel is None:  # a relative rule covers only what truly lies inside
            return False
        return bool(compile_path_glob(p).match(subj.rel.replace(os.sep, "/")))
    return fnmatchcase(subj.value, pattern)


def _real_pattern(pattern: str) -> str:
    """An absolute glob with its literal leading directories resolved (``/home/me/x/**``
    still matches when /home is a symlink)."""
    parts = pattern.split("/")
    lit = 0
    while lit < len(parts) - 1 and not set("*?[{") & set(parts[lit]):
        lit += 1
    head = "/".join(parts[:lit]) or "/"
    return os.path.join(os.path.realpath(head), *parts[lit:])


_CHOICES = {"once": "once", "yes": "once", "y": "once", "allow": "once",
            "session": "session", "always": "session", "a": "session",
            "no": "no", "n": "no", "deny": "no"}


def _coerce(raw: Any) -> ApprovalAnswer:
    """The face's answer as an ApprovalAnswer (a string or a bool will do); anything
    unrecognised is a no."""
    if isinstance(raw, ApprovalAnswer):
        return raw if raw.choice in ("once", "session", "no") else ApprovalAnswer("no")
    if isinstance(raw, Approval):
        return ApprovalAnswer("once" if raw.allowed else "no", raw.reason)
    if isinstance(raw, bool):
        return ApprovalAnswer("once" if raw else "no")
    if isinstance(raw, str):
        return ApprovalAnswer(_CHOICES.get(raw.strip().lower(), "no"))  # type: ignore[arg-type]
    return ApprovalAnswer("no")
