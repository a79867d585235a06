"""The transport for a server's configuration: stdio for a command, Streamable HTTP for a URL
(falling back to the older HTTP+SSE transport when the server answers the way old ones do),
or HTTP+SSE directly for ``type = "sse"``."""

from __future__ import annotations

from typing import Any

from .config import ServerConfig


def make_transport(cfg: ServerConfig, log_path: str | None = None) -> Any:
    if cfg.command:
        from .stdio import StdioTransport
        return StdioTransport(cfg.command, cfg.args, env=cfg.env, cwd=cfg.cwd, log_path=log_path)
    if cfg.transport == "sse":
        from .sse_legacy import LegacySseTransport
        return LegacySseTransport(cfg.url or "", headers=cfg.headers, timeout=cfg.timeout)
    from .http import StreamableHttpTransport
    return StreamableHttpTransport(cfg.url or "", headers=cfg.headers, timeout=cfg.timeout)
