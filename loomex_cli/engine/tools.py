"""Tools as plain objects: a :class:`Tool` subclass, or a typed function under ``@tool`` (its
parameters' JSON schema comes from the type hints: :mod:`.schema`)."""

from __future__ import annotations

import inspect
import json
import re
import typing
from typing import Any, Callable, Literal


Risk = Literal["read", "write", "exec"]


class ToolError(Exception):
    """Raise from ``execute`` to give the model a plain error message (no exception type)."""


class Tool:
    """A tool the model can call. Subclass and set the class attributes, or use ``@tool``.

    ``execute(args, ctx)`` may be a plain or an ``async def``; plain ones run in worker
    threads so that parallel calls really run in parallel. Return a string, or anything
    JSON-serialisable.
    """

    name: str = ""
    description: str = ""
    parameters: dict[str, Any] = {"type": "object", "properties": {}}
    #: seconds before the call is abandoned and reported as timed out (None: the agent's)
    timeout: float | None = None
    #: "read" runs freely (unless :meth:`needs_approval` says otherwise); "write" and "exec"
    #: go through the approval policy when one is set
    risk: Risk = "read"

    def execute(self, args: dict[str, Any], ctx: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"tool {self.name!r} does not implement execute()")

    def prepare(self, args: dict[str, Any], ctx: Any) -> dict[str, Any]:
        """The arguments as the call will run, worked out once before approval: the approver
        decides on what this returns and ``execute`` gets the same (the file tools resolve
        their path here, so that what was approved is what is touched). May raise ToolError."""
        return args

    def needs_approval(self, args: dict[str, Any], ctx: Any) -> bool:
        """Whether this call goes to the approver: a "write" or "exec" tool always; a "read"
        tool when it reads a place that needs a person's yes (a file tool on a key store)."""
        return self.risk != "read"

    def approval_subject(self, args: dict[str, Any], ctx: Any = None) -> str:
        """What an approval rule matches against (the command for bash, the path for a write);
        ``ctx`` gives the run's working directory (``ctx.deps["cwd"]``)."""
        return json.dumps(args, ensure_ascii=False, sort_keys=True)

    def spec(self) -> dict[str, Any]:
        """The OpenAI function-tool definition sent to the model."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters}}

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.execute)

    def __repr__(self) -> str:
        return f"<Tool {self.name}>"


def as_tool(obj: Any) -> Tool:
    """Normalises what an agent lists in ``tools``: a Tool instance, a Tool subclass, or a
    plain function (wrapped as if decorated with ``@tool``)."""
    if isinstance(obj, Tool):
        t = obj
    elif isinstance(obj, type) and issubclass(obj, Tool):
        t = obj()
    elif callable(obj):
        t = tool(obj)
    else:
        raise TypeError(f"not a tool: {obj!r}")
    if not t.name or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", t.name):
        raise ValueError(f"tool name {t.name!r} must be 1-64 letters, digits, '_' or '-'")
    return t


# -- @tool ----------------------------------------------------------------------------

class FunctionTool(Tool):
    def __init__(self, fn: Callable[..., Any], name: str | None = None,
                 description: str | None = None, timeout: float | None = None,
                 risk: Risk = "read") -> None:
        self.fn = fn
        self.name = name or fn.__name__
        doc = inspect.getdoc(fn) or ""
        summary, arg_docs = _parse_docstring(doc)
        self.description = description if description is not None else summary
        self.timeout = timeout
        self.risk = risk
        from .schema import type_to_schema  # only where a function becomes a tool
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
        self._ctx_param: str | None = None
        props: dict[str, Any] = {}
        required: list[str] = []
        for pname, p in sig.parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            ann = hints.get(pname, Any)
            if pname in ("ctx", "context") or getattr(ann, "__name__", "") == "RunContext":
                self._ctx_param = pname
                continue
            try:
                schema = type_to_schema(ann)
            except TypeError as e:
                raise TypeError(f"tool {self.name}: parameter {pname}: {e}") from None
            if pname in arg_docs:
                schema["description"] = arg_docs[pname]
            if p.default is p.empty:
                required.append(pname)
            elif p.default is not None and _json_safe(p.default):
                schema["default"] = p.default
            props[pname] = schema
        self.parameters = {"type": "object", "properties": props, "required": required}
        self._async = inspect.iscoroutinefunction(fn)

    @property
    def is_async(self) -> bool:
        return self._async

    def execute(self, args: dict[str, Any], ctx: Any) -> Any:
        kwargs = dict(args)
        if self._ctx_param:
            kwargs[self._ctx_param] = ctx
        return self.fn(**kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None,
         description: str | None = None, timeout: float | None = None,
         risk: Risk = "read") -> Any:
    """Turns a typed function (sync or async) into a Tool; the docstring's first paragraph is
    the description and a Google-style ``Args:`` section describes the parameters. A
    parameter named ``ctx`` receives the run context instead of a model argument."""
    def wrap(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(f, name=name, description=description, timeout=timeout, risk=risk)
    return wrap(fn) if fn is not None else wrap


def _json_safe(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    parts = re.split(r"\n\s*\n", doc.strip(), maxsplit=1) if doc else [""]
    summary = " ".join(parts[0].split())
    args: dict[str, str] = {}
    m = re.search(r"^(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.*\n?)+)", doc, re.M)
    if m:
        for line in m.group(1).splitlines():
            am = re.match(r"\s*(\w+)(?:\s*\(.*?\))?\s*:\s*(.+)", line)
            if am:
                args[am.group(1)] = am.group(2).strip()
    return summary, args


def validate(value: Any, schema: dict[str, Any]) -> list[str]:
    """What is wrong with ``value`` under ``schema`` (:mod:`.schema_check`, loaded on the
    first tool call: a run without one never imports it)."""
    from .schema_check import validate as check
    return check(value, schema)


def format_result(value: Any) -> str:
    """A tool's return value as the text the model reads."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)
