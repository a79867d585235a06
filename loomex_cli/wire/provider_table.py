"""The one table of built-in providers: where each one lives, which variable holds its key,
its quirks (usage in the stream, reasoning echoed back, how a reasoning effort is sent), the
model used when only its key is known, its models.dev id, and whether it is a local server
probed when no model is given. Everything else about providers is derived from
it (``DEFAULT_MODELS``, ``ALIASES``, ``NO_ENTRY``, ``LOCAL_PROVIDERS``): adding a provider is
one row. ``[providers.NAME]`` in config.toml adds or overrides one at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

#: ``catalog`` for a provider models.dev does not list (its lookups load nothing)
NOT_LISTED = "-"


@dataclass(frozen=True, slots=True)
class Preset:
    """A built-in provider: its URL, its key's variable and its quirks."""
    base_url: str
    key_env: str | None  # None: a local server that needs no key
    #: send ``stream_options: {include_usage: true}`` (some servers reject it)
    include_usage: bool = True
    #: send reasoning back as ``reasoning_content`` on assistant tool-call turns
    echo_reasoning: bool = True
    #: the model used when only this provider's key is known (checked against the models.dev
    #: snapshot of 2026-07: tool-capable and not deprecated); the order of rows is the order
    #: in which keys are tried
    default_model: str | None = None
    #: the models.dev provider id ("" = the same as ours; NOT_LISTED: not in models.dev)
    catalog: str = ""
    #: a local server probed on its default port when no model is given
    probe: bool = False
    #: how a reasoning effort is sent: "reasoning_effort" (``"reasoning_effort": "high"``,
    #: OpenAI's chat completions) or "reasoning" (``"reasoning": {"effort": "high"}``)
    effort_style: str = "reasoning_effort"


PRESETS: dict[str, Preset] = {
    "openai": Preset("https://api.openai.com/v1", "OPENAI_API_KEY", echo_reasoning=False,
                     default_model="gpt-4.1-mini"),
    "openrouter": Preset("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
                         default_model="anthropic/claude-sonnet-4", effort_style="reasoning"),
    "fireworks": Preset("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY",
                        default_model="accounts/fireworks/models/kimi-k2p6",
                        catalog="fireworks-ai"),
    "groq": Preset("https://api.groq.com/openai/v1", "GROQ_API_KEY",
                   default_model="openai/gpt-oss-120b"),
    "deepseek": Preset("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY",
                       default_model="deepseek-chat"),
    "together": Preset("https://api.together.xyz/v1", "TOGETHER_API_KEY",
                       default_model="meta-llama/Llama-3.3-70B-Instruct-Turbo",
                       catalog="togetherai"),
    "mistral": Preset("https://api.mistral.ai/v1", "MISTRAL_API_KEY", echo_reasoning=False,
                      default_model="mistral-large-latest"),
    "moonshot": Preset("https://api.moonshot.ai/v1", "MOONSHOT_API_KEY",
                       default_model="kimi-k2-0905-preview", catalog="moonshotai"),
    "xai": Preset("https://api.x.ai/v1", "XAI_API_KEY", default_model="grok-4.3"),
    "cerebras": Preset("https://api.cerebras.ai/v1", "CEREBRAS_API_KEY",
                       default_model="gpt-oss-120b"),
    "deepinfra": Preset("https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY",
                        default_model="meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    "ollama": Preset("http://localhost:11434/v1", None, catalog=NOT_LISTED, probe=True),
    "lmstudio": Preset("http://127.0.0.1:1234/v1", None, probe=True),
    "llamacpp": Preset("http://127.0.0.1:8080/v1", None, catalog=NOT_LISTED, probe=True),
    "vllm": Preset("http://localhost:8000/v1", None, catalog=NOT_LISTED),
}

# -- derived views (never edited by hand) ------------------------------------------------

#: provider -> the model used when only its key is known, in the order keys are tried
DEFAULT_MODELS: dict[str, str] = {n: p.default_model for n, p in PRESETS.items()
                                  if p.default_model}
#: our routing prefix -> models.dev provider id, where they differ
ALIASES: dict[str, str] = {n: p.catalog for n, p in PRESETS.items()
                           if p.catalog not in ("", NOT_LISTED, n)}
#: models.dev id -> our prefix
REVERSE: dict[str, str] = {v: k for k, v in ALIASES.items()}
#: providers models.dev does not list: a lookup loads nothing
NO_ENTRY = frozenset(n for n, p in PRESETS.items() if p.catalog == NOT_LISTED)
#: local servers probed (in this order) when no model is given
LOCAL_PROVIDERS = tuple(n for n, p in PRESETS.items() if p.probe)
