"""One model string, resolved once: :func:`resolve_model` gives a :class:`ResolvedModel`.

    resolved = resolve_model("openai/gpt-4.1-mini")
    resolved.route            # base URL, key and its source, headers, quirks
    resolved.info             # models.dev metadata (None: unknown, or offline with no cache)
    resolved.context_window   # the registry's window (max_input when smaller), else 128,000
    resolved.cost(usage)      # USD for one call's usage (None: price unknown)

The one-shot, the REPL, ``serve``, ``run``/``arun``/``start_agent`` and the benchmarks all
call it, so a library run gets what the CLI gets: the same request, compaction budget and
cost. The route comes from the provider table (``provider_table``) and config.toml, the
metadata from the registry; the limits are derived here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .providers import Route, route as make_route
from .registry import ModelInfo, lookup
from .registry_cost import cost_usd

#: the context window assumed when the registry does not know the model
FALLBACK_WINDOW = 128_000


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model as one run uses it. ``model`` is the full ``provider/model-id`` string."""

    model: str
    route: Route
    info: ModelInfo | None = None

    @property
    def context_window(self) -> int:
        """Tokens the prompt and answer share (max_input when that is smaller)."""
        i = self.info
        if i is None or not i.context_window:
            return FALLBACK_WINDOW
        return min(i.context_window, i.max_input or i.context_window)

    @property
    def window_known(self) -> bool:
        return self.info is not None and bool(self.info.context_window)

    @property
    def reserve_tokens(self) -> int | None:
        """Tokens kept free for the answer: the model's output limit, at most 1/4 of the
        window (None: not known, the agent's own rule applies)."""
        i = self.info
        if not self.window_known or i is None or not i.max_output:
            return None
        return min(i.max_output, self.context_window // 4)

    @property
    def accepts_images(self) -> bool | None:
        """Whether the model takes image parts (registry input modalities); None: unknown."""
        return self.info.accepts_images if self.info is not None else None

    @property
    def structured_output(self) -> bool | None:
        """Whether the model takes ``response_format: json_schema``; None: unknown."""
        return self.info.structured_output if self.info is not None else None

    @property
    def reasons(self) -> bool | None:
        """Whether the model reasons (takes a reasoning effort); None: unknown."""
        return self.info.reasoning if self.info is not None else None

    @property
    def max_output(self) -> int | None:
        return self.info.max_output if self.info is not None else None

    @property
    def prices(self) -> dict[str, Any] | None:
        return self.info.cost if self.info is not None else None

    @property
    def accepts_temperature(self) -> bool:
        """False when the registry says the model refuses the parameter."""
        return not (self.info is not None and self.info.temperature is False)

    def temperature(self, wanted: float | None) -> float | None:
        return wanted if self.accepts_temperature else None

    def cost(self, usage: dict[str, Any] | None) -> float | None:
        return cost_usd(self.info, usage) if self.info is not None and usage else None


def resolve_model(model: str, *, config: dict[str, Any] | None = None,
                  env: Mapping[str, str] | None = None, keys: dict[str, str] | None = None,
                  base_url: str | None = None, api_key: str | None = None,
                  info: ModelInfo | None = None) -> ResolvedModel:
    """The route (ConfigError when it cannot be made) and the registry's metadata (never an
    error: unknown metadata is None). ``config``/``keys`` default to the files on disk,
    ``env`` to the environment; ``info`` overrides the registry.

    ``model`` may be an alias from config.toml ``[aliases]`` or a short name that one
    configured provider serves (``gpt-4.1-mini``): see :mod:`.model_names`. The result's
    ``model`` is then the full ``provider/model-id``."""
    if config is None:
        from .config import load_config
        config = load_config()
    if "/" not in model or model in (config.get("aliases") or {}):
        from .model_names import expand
        model = expand(model, config, keys, env, short=base_url is None)
    r = make_route(model, config, keys, base_url=base_url, api_key=api_key, env=env)
    return ResolvedModel(model, r, info if info is not None else metadata(model))


async def aresolve_model(model: str, **kw: Any) -> ResolvedModel:
    """:func:`resolve_model` for async code: a first load of the catalog (which may fetch)
    or an ``api_key_cmd`` runs in a worker thread."""
    from . import registry
    if registry.loaded() or model.partition("/")[0] in registry.NO_ENTRY:
        return resolve_model(model, **kw)  # nothing to load: no thread
    import asyncio
    return await asyncio.to_thread(lambda: resolve_model(model, **kw))


def with_route(r: Route, model: str, info: ModelInfo | None = None) -> ResolvedModel:
    """A ResolvedModel for a route made elsewhere (a test, a caller's own route)."""
    return ResolvedModel(model, r, info if info is not None else metadata(model))


def metadata(model: str) -> ModelInfo | None:
    """The registry's metadata; None when unknown (metadata never fails a run)."""
    try:
        return lookup(model)
    except Exception:  # noqa: BLE001 - a nice-to-have, never a failure
        return None
