"""Turning flags and config into an Agent, its approval policy and its output."""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any

from ..engine.agent import Agent
from ..wire.config import load_config, load_keys, take_warnings
from ..errors import ConfigError
from ..wire.providers import Route
from ..wire.resolve import ResolvedModel, resolve_model
from .choose_model import choose_model
from .exits import USAGE, fail, say

DEFAULT_SYSTEM = (
    "You are loomex, a capable assistant working in the user's terminal. Answer directly and "
    "concisely; use Markdown when it helps. Use the tools you are given when they help, and "
    "say what you did."
)


class Setup:
    """Everything a run or a REPL needs, resolved once from flags + config + environment."""

    def __init__(self, opts: Any, saved: Any = None) -> None:
        """``saved``: the conversation -c / --resume goes on with (its model is used unless
        -m or --role names one; its system prompt is kept)."""
        self.opts = opts
        self.config = load_config()  # types checked: a wrong one is a ConfigError (exit 3)
        self.keys = load_keys()
        for warning in take_warnings():  # unknown keys, a keys.toml others can read
            say(warning)
        #: --role NAME: its settings fill in what no flag gave (/role: see set_role)
        self.role_name: str | None = getattr(opts, "role", None)
        role = find_role(self.config, self.role_name) if self.role_name else {}
        saved_model = saved.model if saved is not None else None
        wanted = opts.model or role.get("model") or saved_model
        self.model, self.model_source = choose_model(wanted, self.config, self.keys)
        if not opts.model and role.get("model"):
            self.model_source = f"role {self.role_name}"
        elif not opts.model and saved_model:
            self.model_source = f"the conversation {saved.id}"
        if saved is not None and (opts.system is not None or "system" in role):
            what = "-s" if opts.system is not None else f"--role {self.role_name}"
            say(f"note: the system prompt of {what} is not used: a continued conversation "
                "keeps the one it was saved with (in chat, /system or /role changes it)")
        self.resolved: ResolvedModel = resolve_model(self.model, config=self.config,
                                                     keys=self.keys)
        self._named(self.model)
        for f in getattr(opts, "mcp_config", None) or ():  # --mcp-config: MCP servers' JSON
            from ..mcp.registry import add_config_file
            add_config_file(f)
        self.tool_names = opts.tools if opts.tools is not None else \
            role["tools"] if "tools" in role else default_tools(self.config)
        self.tools = resolve_tool_list(self.tool_names, role=self.role_name if
                                       opts.tools is None and "tools" in role else None)
        if self.tools:
            self.check_rules()
        self.temperature = opts.temperature if opts.temperature is not None else \
            role.get("temperature")
        #: the prompt before the AGENTS.md files are added (-s, the role's, config's, built in)
        self.base_system = opts.system if opts.system is not None else role["system"] \
            if "system" in role else self.config.get("system_prompt", DEFAULT_SYSTEM)
        #: the AGENTS.md files found (None: turned off)
        self.context_files: list[Any] | None = None
        if not getattr(opts, "no_context_files", False) and \
                self.config.get("context_files", True):
            from .context_view import load_context_files
            # -c / --resume: the saved system prompt is sent, not these (no notes on them)
            self.context_files = load_context_files(quiet=saved is not None)
        self.system = self.compose_system(self.base_system)
        if getattr(opts, "allow_all", False):
            say("warning: --dangerously-allow-all: every tool call runs without asking, "
                "dangerous ones too")

    def compose_system(self, base: str | None) -> str | None:
        """``base`` with the AGENTS.md files found appended (engine/context_files.py)."""
        if not self.context_files:
            return base
        from ..engine.context_files import with_context
        return with_context(base, self.context_files)

    def _named(self, asked: str) -> None:
        """The model is now the full name ``asked`` (an alias, a short name) resolved to."""
        full = self.resolved.model
        if full != asked:
            how = "alias" if asked in (self.config.get("aliases") or {}) else "short name"
            self.model_source += f", {how} {asked}"
        self.model = full

    def agent(self) -> Agent:
        o = self.opts
        if "loomex_cli.mcp.registry" in sys.modules:  # MCP in use: a server's tools changed?
            from ..mcp.registry import tools_changed
            if tools_changed(self.tools):
                self.tools = resolve_tool_list(self.tool_names)
        temp = self.temperature if self.temperature is not None else \
            self.config.get("temperature", 0.1)
        steps = o.max_steps if o.max_steps is not None else self.config.get("max_steps", 10)
        if steps is not None and int(steps) < 1:
            fail("--max-steps must be at least 1", USAGE)
        max_cost = getattr(o, "max_cost", None)
        if max_cost is None:
            max_cost = self.config.get("max_cost")
        effort = getattr(o, "effort", None)
        from ..wire.effort import EFFORTS
        if effort is not None and effort not in EFFORTS:
            fail(f"--effort {effort!r}: use one of {', '.join(EFFORTS)}", USAGE)
        agent = Agent(model=self.model, tools=list(self.tools), system_prompt=self.system,
                      temperature=temp, max_steps=int(steps), stream=not o.no_stream,
                      retry=self.retry_policy(), model_info=self.info,
                      max_cost=float(max_cost) if max_cost is not None else None,
                      reasoning_effort=effort)
        info = self.info  # the window, reserve and temperature come from self.resolved in arun
        if agent.max_cost is not None and (info is None or info.cost is None):
            raise ConfigError(f"--max-cost needs prices, and the price of {self.model} is "
                              "unknown (not in the models.dev catalogue)")
        return agent

    def effort(self) -> Any:
        """The reasoning effort requests will carry (``--effort``, else the config's default
        for the model), with a note when ``--effort`` gets something else (wire/effort.py);
        a config default that a model does not take changes quietly."""
        from ..wire.effort import Effort, choose_effort
        flag = getattr(self.opts, "effort", None)
        chosen = choose_effort(flag or self.route.effort, self.resolved)
        return chosen if flag else Effort(chosen.value)

    @property
    def route(self) -> Route:
        return self.resolved.route

    @property
    def info(self) -> Any:
        """The model's metadata from the registry (None: unknown, or offline with no cache)."""
        return self.resolved.info

    def retry_policy(self) -> Any:
        """``[retry]`` in config.toml: max_attempts, base_delay, max_delay, max_retry_after."""
        from ..wire.retry import RetryPolicy
        t = self.config.get("retry") or {}
        if not isinstance(t, dict):
            raise ConfigError("config.toml: [retry] must be a table")
        fields = ("max_attempts", "base_delay", "max_delay", "max_retry_after")
        try:
            return RetryPolicy(**{k: type(getattr(RetryPolicy(), k))(t[k]) for k in fields if k in t})
        except (TypeError, ValueError):
            raise ConfigError("config.toml: [retry] values must be numbers") from None

    def set_model(self, model: str) -> None:
        # raises ConfigError before anything changes
        r = resolve_model(model, config=self.config, keys=self.keys)
        self.model_source, self.resolved = "/model", r
        self._named(model)

    def set_role(self, name: str) -> dict[str, Any]:
        """/role NAME: what the role sets replaces what is in use (the model, tools,
        temperature, system prompt); what it does not set stays. Nothing changes when a part
        is bad (ConfigError / a usage error)."""
        role = find_role(self.config, name)
        r = resolve_model(role["model"], config=self.config, keys=self.keys) \
            if "model" in role else None
        tools = resolve_tool_list(role["tools"], role=name) if "tools" in role else None
        if r is not None:
            self.resolved, self.model_source = r, f"role {name}"
            self._named(role["model"])
        if tools is not None:
            self.tools, self.tool_names = tools, role["tools"]
            if self.tools:
                self.check_rules()
        if "temperature" in role:
            self.temperature = role["temperature"]
        if "system" in role:
            self.base_system = role["system"]
            self.system = self.compose_system(self.base_system)
        self.role_name = name
        return role

    def set_tools(self, spec: str) -> None:
        self.tools = resolve_tool_list(spec)
        self.tool_names = spec
        if self.tools:
            self.check_rules()

    def check_rules(self) -> None:
        """Bad ``[tools.NAME]`` rules are a config error before anything runs."""
        from ..tools.policy import normalize_rules
        try:
            normalize_rules(self.config.get("tools"))
        except ValueError as e:
            raise ConfigError(f"config.toml [tools]: {e}") from None

    def policy(self, ask: Any) -> Any:
        """The approver for tool calls. The policy (and the tools package) loads on the first
        call that needs approval, so a plain one-shot never imports it."""
        policy: list[Any] = []

        async def approver(tool: Any, args: Any, ctx: Any) -> Any:
            if not policy:
                from ..tools.policy import Policy
                try:
                    policy.append(Policy.from_config(
                        self.config, ask=ask, yes=self.opts.yes, cwd=os.getcwd(),
                        allow_all=getattr(self.opts, "allow_all", False)))
                except ValueError as e:
                    raise ConfigError(f"config.toml [tools]: {e}") from None
            answer = policy[0](tool, args, ctx)
            return await answer if inspect.isawaitable(answer) else answer
        return approver


def roles(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    t = config.get("roles") or {}
    return {str(k): v for k, v in t.items() if isinstance(v, dict)} if isinstance(t, dict) \
        else {}


def find_role(config: dict[str, Any], name: str) -> dict[str, Any]:
    """``[roles.NAME]`` of config.toml; a ConfigError (exit 3) naming the roles there are."""
    found = roles(config)
    if name not in found:
        have = ", ".join(sorted(found)) or "none: add [roles.NAME] to config.toml"
        raise ConfigError(f"no role {name!r} in config.toml (roles: {have})")
    return found[name]


def default_tools(config: dict[str, Any]) -> Any:
    """``tools_default``, plus ``[mcp] tools_default`` (MCP tools offered by default)."""
    base = config.get("tools_default")
    mcp = config.get("mcp")
    extra = mcp.get("tools_default") if isinstance(mcp, dict) else None
    if not extra:
        return base
    parts = [*([base] if isinstance(base, str) else list(base or [])),
             *([extra] if isinstance(extra, str) else list(extra))]
    return ",".join(str(p) for p in parts if p)


def resolve_tool_list(spec: Any, role: str | None = None) -> list[Any]:
    """The tools ``spec`` names; a bad name is a usage error (exit 2), or a config error
    naming the ``role`` whose ``tools`` it is (exit 3: config.toml needs fixing)."""
    if not spec:
        return []
    from ..tools import resolve_tools
    try:
        return resolve_tools(spec)
    except ValueError as e:
        if role is not None:
            raise ConfigError(f"config.toml [roles.{role}] tools: {e}") from None
        fail(str(e), USAGE)


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False

