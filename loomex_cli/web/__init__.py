"""The web face: an agent behind the Vercel AI SDK "UI message stream" protocol.

    from loomex_cli.web import chat_app, stream_agent

- :func:`chat_app` ``(agent, *, approver=None, ...)``: a pure ASGI app: ``POST /api/chat``
  for ``useChat`` clients and ``GET /`` for a small chat page (``loomex serve`` runs it).
- :func:`stream_agent` ``(agent, ui_messages, *, approver=None, ...) -> (headers, body)``:
  the same stream for a route of your own (FastAPI, Starlette, Django, ...).
- :class:`UIMessageStream`: the event -> chunk encoder; :func:`ui_to_messages`: UIMessages ->
  engine messages; :class:`BadRequest`: what a malformed request raises.

Nothing here is imported by ``import loomex_cli`` or by the CLI's other commands.
"""

from __future__ import annotations

from .app import chat_app
from .convert import BadRequest, ui_to_messages
from .protocol import UI_STREAM_HEADERS, UIMessageStream, sse
from .stream import stream_agent

__all__ = ["chat_app", "stream_agent", "BadRequest", "ui_to_messages", "UIMessageStream",
           "UI_STREAM_HEADERS", "sse"]
