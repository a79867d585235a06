"""What a server asks of the person: ``elicitation/create`` through the ``human`` prompt
(one question per field, schema defaults applied), and ``sampling/createMessage`` with the
run's own model when the user allowed it for that server (``sampling = true``)."""

from __future__ import annotations

import json
from typing import Any

#: tries per field before the whole request is cancelled
TRIES = 3
DECLINE, CANCEL = "!decline", "!cancel"


class _Stop(Exception):
    def __init__(self, action: str) -> None:
        self.action = action


async def elicit(server: str, params: dict[str, Any], person: Any) -> dict[str, Any]:
    """The answer to one form-mode elicitation: accept (with content), decline or cancel.
    Nobody to ask (no terminal) is a decline."""
    if person is None or person.ask is None:
        return {"action": "decline"}
    message = str(params.get("message") or "").strip()
    schema = params.get("requestedSchema") or {}
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    head = (f"[MCP server {server}] {message}\n  (type {DECLINE} to decline, {CANCEL} to "
            "cancel; an empty answer takes the default)")
    content: dict[str, Any] = {}
    try:
        if not props:
            ok = await _ask(person, f"{head}\n  accept? [y/n]")
            return {"action": "accept", "content": {}} if _yes(ok) else {"action": "decline"}
        first = True
        for key, prop in props.items():
            prop = prop if isinstance(prop, dict) else {}
            value = await _field(person, head if first else f"[MCP server {server}]",
                                 key, prop, key in required)
            first = False
            if value is not _UNSET:
                content[key] = value
    except _Stop as s:
        return {"action": s.action}
    return {"action": "accept", "content": content}


_UNSET = object()


async def _ask(person: Any, question: str) -> str:
    try:
        answer = await person.question(question)
    except (EOFError, KeyboardInterrupt):
        raise _Stop("cancel") from None
    except Exception:  # noqa: BLE001 - the prompt went away (ToolError: terminal closed)
        raise _Stop("cancel") from None
    if answer is None:
        raise _Stop("decline")
    text = str(answer).strip()
    if text == DECLINE:
        raise _Stop("decline")
    if text == CANCEL:
        raise _Stop("cancel")
    return text


def _yes(text: str) -> bool:
    return text.lower() in ("y", "yes", "true", "1")


def _choices(prop: dict[str, Any]) -> list[Any] | None:
    if isinstance(prop.get("enum"), list):
        return list(prop["enum"])
    for key in ("oneOf", "anyOf"):
        if isinstance(prop.get(key), list):
            return [o.get("const") for o in prop[key] if isinstance(o, dict) and "const" in o]
    items = prop.get("items")
    if prop.get("type") == "array" and isinstance(items, dict):
        return _choices(items)
    return None


def describe(key: str, prop: dict[str, Any], required: bool) -> str:
    title = prop.get("title") or key
    bits = [str(prop.get("type", "string"))]
    choices = _choices(prop)
    if choices:
        bits.append("one of " + ", ".join(map(str, choices)) if prop.get("type") != "array"
                    else "any of " + ", ".join(map(str, choices)) + " (comma-separated)")
    if "default" in prop:
        bits.append(f"default {json.dumps(prop['default'], ensure_ascii=False)}")
    bits.append("required" if required else "optional")
    desc = f" — {prop['description']}" if prop.get("description") else ""
    return f"{title}{desc} ({'; '.join(bits)})"


async def _field(person: Any, head: str, key: str, prop: dict[str, Any], required: bool) -> Any:
    problem = ""
    for _ in range(TRIES):
        text = await _ask(person, f"{head}\n  {problem}{describe(key, prop, required)}:")
        if text == "":
            if "default" in prop:
                return prop["default"]
            if not required:
                return _UNSET
            problem = "an answer is required. "
            continue
        try:
            return convert(text, prop)
        except ValueError as e:
            problem = f"{e}. "
    raise _Stop("cancel")


def convert(text: str, prop: dict[str, Any]) -> Any:
    """The typed answer for a primitive schema (ValueError says what is wrong)."""
    kind = prop.get("type", "string")
    choices = _choices(prop)
    if kind == "boolean":
        low = text.lower()
        if low in ("y", "yes", "true", "1"):
            return True
        if low in ("n", "no", "false", "0"):
            return False
        raise ValueError("answer yes or no")
    if kind in ("integer", "number"):
        try:
            value: Any = int(text) if kind == "integer" else float(text)
        except ValueError:
            raise ValueError(f"expected {'a whole number' if kind == 'integer' else 'a number'}") \
                from None
        lo, hi = prop.get("minimum"), prop.get("maximum")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"expected a value between {lo} and {hi}")
        return value
    if kind == "array":
        values = [v.strip() for v in text.split(",") if v.strip()]
        if choices is not None and any(v not in map(str, choices) for v in values):
            raise ValueError("choose from the listed values")
        return values
    if choices is not None and text not in map(str, choices):
        raise ValueError("choose one of the listed values")
    lo, hi = prop.get("minLength"), prop.get("maxLength")
    if (lo is not None and len(text) < lo) or (hi is not None and len(text) > hi):
        raise ValueError(f"expected {lo or 0} to {hi or 'any'} characters")
    return text


async def sample(server: str, params: dict[str, Any], person: Any) -> dict[str, Any]:
    """One completion with the run's model (the user allowed sampling for this server)."""
    from .jsonrpc import RpcError
    ctx = getattr(person, "ctx", None)
    agent = getattr(ctx, "agent", None)
    if person is None or person.loop is None or not getattr(agent, "model", None):
        raise RpcError(-1, "sampling is not available outside a model run")

    async def on_caller() -> dict[str, Any]:
        from ..engine.agent import Agent
        from ..engine.loop import arun
        from ..engine.messages import Message
        msgs = []
        for m in params.get("messages") or []:
            c = (m or {}).get("content") or {}
            parts = c if isinstance(c, list) else [c]
            text = "\n".join(str(p.get("text", f"[{p.get('type')}]")) for p in parts
                             if isinstance(p, dict))
            msgs.append(Message("assistant" if m.get("role") == "assistant" else "user", text))
        one = Agent(model=agent.model, max_steps=1, base_url=agent.base_url,
                    api_key=agent.api_key, max_tokens=params.get("maxTokens"),
                    system_prompt=params.get("systemPrompt"))
        r = await arun(one, msgs)
        return {"role": "assistant", "content": {"type": "text", "text": r.text},
                "model": agent.model, "stopReason": "endTurn"}
    import asyncio
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(on_caller(), person.loop))
