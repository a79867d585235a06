"""Reasoning effort: which value a request carries, decided once from what was asked and what
the registry says of the model, and how it is written for the provider.

    choose_effort("low", resolved)  # -> Effort(value, note)

- Not asked (None): nothing is sent.
- The registry says the model does not reason: nothing is sent, with a note ("none" asked of
  such a model needs no note).
- The registry lists the values the model takes and the one asked is not among them: the
  nearest one it takes is sent instead (on a tie, the higher), with a note.
- Otherwise (the model takes it, or the registry does not say): sent as asked.

How it is written is the provider table's ``effort_style`` (:func:`effort_fields`).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError

#: every reasoning-effort value loomex knows, least to most
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
#: how a provider takes it (``Preset.effort_style``)
STYLES = ("reasoning_effort", "reasoning")


class Effort:
    """The value sent (None: the field is left out), and one line for the person about a
    change or an omission (None: sent as asked). A plain class: config.toml's check imports
    this module on every run, and a dataclass costs a millisecond to make."""

    __slots__ = ("value", "note")

    def __init__(self, value: str | None, note: str | None = None) -> None:
        self.value = value
        self.note = note

    def __repr__(self) -> str:
        return f"Effort({self.value!r}, {self.note!r})"


def check_effort(value: Any, where: str = "reasoning effort") -> str | None:
    """``value`` when it is a known effort (or None); ConfigError otherwise."""
    if value is None or value in EFFORTS:
        return value
    raise ConfigError(f"{where} {value!r} is not one of {', '.join(EFFORTS)}")


def choose_effort(wanted: str | None, resolved: Any) -> Effort:
    """The effort to send for ``wanted`` to ``resolved`` (a ResolvedModel)."""
    wanted = check_effort(wanted)
    if wanted is None:
        return Effort(None)
    model = resolved.model
    if resolved.reasons is False:
        note = None if wanted == "none" else \
            f"{model} does not reason (models.dev): the reasoning effort is left out"
        return Effort(None, note)
    info = resolved.info
    takes = [v for v in (info.efforts or ()) if v in EFFORTS] if info is not None else []
    if not takes or wanted in takes:
        return Effort(wanted)
    rank = EFFORTS.index(wanted)
    nearest = min(takes, key=lambda v: (abs(EFFORTS.index(v) - rank), -EFFORTS.index(v)))
    return Effort(nearest, f"{model} takes reasoning effort {', '.join(takes)} (models.dev): "
                           f"sending {nearest} instead of {wanted}")


def effort_fields(style: str, value: str | None) -> dict[str, Any]:
    """The request body's field(s) for ``value`` in a provider's ``style``."""
    if value is None:
        return {}
    if style == "reasoning":
        return {"reasoning": {"effort": value}}
    return {"reasoning_effort": value}
