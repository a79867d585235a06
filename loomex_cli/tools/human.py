"""The ``human`` tool: a question to the person running the agent."""

from __future__ import annotations

from typing import Any

from ..engine.tools import Tool, ToolError
from ._common import call_person, interaction_lock

NO_HUMAN = ("no human is available to answer (this run is not interactive). Do not ask "
            "again: proceed on your own best judgement and say what you assumed.")


class HumanTool(Tool):
    name = "human"
    summary = "ask the person a question and wait for the answer"
    description = (
        "Asks the person running you a question and returns their answer. Use it when you "
        "need a decision or information only they have, not for things you can find out "
        "yourself. Ask one clear question at a time. When no one can answer, you are told "
        "so: then carry on with your best judgement.")
    parameters = {
        "type": "object",
        "properties": {
            "question": {"type": "string", "description": "the question, self-contained"},
        },
        "required": ["question"],
    }
    risk = "read"

    async def execute(self, args: dict[str, Any], ctx: Any) -> str:
        question = str(args.get("question") or "").strip()
        if not question:
            raise ToolError("question is empty")
        ask = getattr(ctx, "ask_human", None)
        if ask is None:
            raise ToolError(NO_HUMAN)
        async with interaction_lock():  # one question (or approval prompt) at a time
            try:
                answer = await call_person(ask, question)
            except (EOFError, KeyboardInterrupt):
                raise ToolError("the person did not answer. " + NO_HUMAN.split(". ", 1)[1]) \
                    from None
        if answer is None:
            raise ToolError(NO_HUMAN)
        answer = str(answer)
        return answer if answer.strip() else "(the person answered with nothing)"
