"""What a model call cost, from an OpenAI ``usage`` dict and models.dev prices.

Pure arithmetic, no I/O: the engine can call it for every step. Prices are USD per
1,000,000 tokens, as in models.dev (and :class:`registry.ModelInfo`). Unknown prices give
None, never a guessed number.
"""

from __future__ import annotations

from typing import Any, Mapping


def _tok(v: Any) -> int:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else 0


def cost_usd(info: Any, usage: Mapping[str, Any] | None) -> float | None:
    """USD for one response's OpenAI ``usage`` at ``info``'s prices (a ModelInfo or its
    ``cost`` dict); None when a needed price is unknown. Pure: no I/O.

    Prompt tokens are billed at ``input``, except ``prompt_tokens_details.cached_tokens``
    (or DeepSeek's ``prompt_cache_hit_tokens``, Moonshot's ``cached_tokens``; at
    ``cache_read`` when that price exists) and ``cache_write_tokens`` (at
    ``cache_write``). Completion tokens at ``output``, except
    ``completion_tokens_details.reasoning_tokens`` when a separate ``reasoning`` price
    exists. When the prompt exceeds a tier's ``size``, the largest such tier's prices apply
    to the whole request (prices a tier does not list fall back to the base ones)."""
    cost = info if info is None or isinstance(info, Mapping) else getattr(info, "cost", None)
    if not cost or not usage:
        return None
    base_in, base_out = cost.get("input"), cost.get("output")
    if base_in is None or base_out is None:
        return None
    if "prompt_tokens" not in usage and "completion_tokens" not in usage:
        return None
    prompt = _tok(usage.get("prompt_tokens"))
    completion = _tok(usage.get("completion_tokens"))
    pd = usage.get("prompt_tokens_details") or {}
    cd = usage.get("completion_tokens_details") or {}
    pd = pd if isinstance(pd, Mapping) else {}
    cd = cd if isinstance(cd, Mapping) else {}
    prices = dict(cost)
    over = [t for t in cost.get("tiers") or () if isinstance(t, Mapping)
            and isinstance(t.get("size"), (int, float)) and prompt > t["size"]]
    if over:
        tier = max(over, key=lambda t: t["size"])
        prices.update({k: v for k, v in tier.items() if k != "size" and v is not None})
    # OpenAI puts cached tokens in prompt_tokens_details; DeepSeek says prompt_cache_hit_tokens
    # and Moonshot a top-level cached_tokens
    cached = _tok(pd.get("cached_tokens")) or _tok(usage.get("prompt_cache_hit_tokens")) or \
        _tok(usage.get("cached_tokens"))
    cached = min(cached, prompt)
    written = min(_tok(pd.get("cache_write_tokens")), prompt - cached)
    reasoning = min(_tok(cd.get("reasoning_tokens")), completion)
    total = 0.0
    plain_in = prompt
    if cached and prices.get("cache_read") is not None:
        total += cached * prices["cache_read"]
        plain_in -= cached
    if written and prices.get("cache_write") is not None:
        total += written * prices["cache_write"]
        plain_in -= written
    total += plain_in * prices["input"]
    plain_out = completion
    if reasoning and prices.get("reasoning") is not None:
        total += reasoning * prices["reasoning"]
        plain_out -= reasoning
    total += plain_out * prices["output"]
    return total / 1e6
