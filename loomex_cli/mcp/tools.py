"""MCP tools as loomex :class:`~loomex_cli.engine.tools.Tool` objects named ``NAME__tool``.

Names are valid OpenAI function names (letters, digits, ``_``, ``-``; at most 64), made so
with a short hash when sanitising or cutting would make two the same. Every call is "exec"
for the approval policy (so ``[tools."NAME__tool"]`` / ``[tools."NAME__*"]`` rules apply and
the default is to ask), and its subject is ``NAME__tool {"compact":"json"}``. The server's
``readOnlyHint`` / ``destructiveHint`` are shown to the person; a read-only hint lets the call
run freely only with ``[mcp] trust_annotations = true``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import Any

from ..engine.tools import Tool, ToolError

MAX_NAME = 64


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def exposed_names(prefix: str, tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{NAME__tool: the server's tool}`` with every name valid and distinct."""
    out: dict[str, dict[str, Any]] = {}
    for spec in tools:
        raw = str(spec["name"])
        name = f"{prefix}__{_clean(raw)}"
        if len(name) > MAX_NAME or name in out:
            digest = hashlib.sha256(raw.encode()).hexdigest()[:6]
            name = f"{name[:MAX_NAME - 7]}_{digest}"
        n = 2
        while name in out:  # hash prefixes that collide too (practically never)
            name = f"{name[:MAX_NAME - 3]}_{n}"
            n += 1
        out[name] = spec
    return out


def input_schema(spec: dict[str, Any]) -> dict[str, Any]:
    schema = spec.get("inputSchema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return {"type": "object", "properties": {}}
    schema = {k: v for k, v in schema.items() if k != "$schema"}
    schema.setdefault("properties", {})
    return schema


class McpTool(Tool):
    risk = "exec"

    def __init__(self, server: Any, spec: dict[str, Any], name: str, *,
                 trust_annotations: bool = False) -> None:
        self.server = server
        self.remote_name = str(spec["name"])
        self.name = name
        title = spec.get("title") or (spec.get("annotations") or {}).get("title")
        desc = str(spec.get("description") or title or self.remote_name)
        self.description = f"{desc} (MCP server {server.cfg.name})"
        self.parameters = input_schema(spec)
        self.timeout = server.cfg.tool_timeout
        ann = spec.get("annotations") if isinstance(spec.get("annotations"), dict) else {}
        self.read_only = ann.get("readOnlyHint") is True
        #: the spec's default is "destructive" unless the server says otherwise
        self.destructive = not self.read_only and ann.get("destructiveHint", True) is not False
        if trust_annotations and self.read_only:
            self.risk = "read"

    @property
    def approval_hints(self) -> str:
        """What the server says of the tool, for the approval prompt (unverified)."""
        if self.read_only:
            return "the server says: read-only"
        return "the server says: may be destructive" if self.destructive else \
            "the server says: not destructive"

    def approval_subject(self, args: dict[str, Any], ctx: Any = None) -> str:
        return f"{self.name} " + json.dumps(args, ensure_ascii=False, sort_keys=True,
                                            separators=(",", ":"))

    async def execute(self, args: dict[str, Any], ctx: Any) -> Any:
        from ..tools._common import work_dir
        from .jsonrpc import RpcError
        from .manager import Person, ServerError
        from .results import clip, result_output, result_text
        loop = asyncio.get_running_loop()
        person = Person(getattr(ctx, "ask_human", None), loop, work_dir(ctx),
                        progress=_progress(), ctx=ctx)
        try:
            result = await self.server.manager.arun(
                self.server.call(self.remote_name, args, person))
        except ServerError as e:
            raise ToolError(str(e)) from None
        except RpcError as e:
            raise ToolError(f"the MCP server refused the call: {e}") from None
        except TimeoutError:
            raise ToolError(f"{self.name} timed out") from None
        except OSError as e:  # HTTP: the server could not be reached, or answered 4xx/5xx
            raise ToolError(str(e)) from None
        if result.get("isError"):
            raise ToolError(clip(result_text(result), self.name) or "the tool reported an error")
        return result_output(result, self.name)


def _progress() -> Any:
    """The server's progress notifications for this call, as the run's ToolProgress events
    (they come on the servers' loop; the reporter hops over). None outside a run."""
    from ..engine.tool_progress import progress_reporter
    report = progress_reporter()
    if report is None:
        return None

    def on_progress(params: dict[str, Any]) -> None:
        report(params.get("progress"), params.get("total"), params.get("message"))
    return on_progress
