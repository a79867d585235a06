"""The wire floor: talking to OpenAI-compatible providers.

SSE parsing (``sse``), chunk assembly (``assemble``), routing ``provider/model`` to a base URL
and key (``providers``, ``config``), retry with backoff (``retry``), the HTTP client
(``client``) and typed errors (``errors``). Nothing here imports the engine or the faces, and
nothing imports httpx2 until a request is made.
"""
