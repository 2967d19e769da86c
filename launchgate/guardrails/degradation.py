"""Degradation levels: what the gateway still asks of the model, and the audit record of each change.

    normal         every request goes to the model as sent
    reduced        lower max_tokens, drop the optional request features the config names
    fallback_only  no model call: every request gets the fallback answer

The effective level is the higher of the operator's (set through the admin API, audited) and the
automatic one (every breaker open, or the day's budget spent), so an automatic change never hides
an operator's and clears itself when its cause does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, Field


class Level(IntEnum):
    NORMAL = 0
    REDUCED = 1
    FALLBACK_ONLY = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Level:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown degradation level {name!r}: use normal, reduced or fallback_only") from None


class LevelChange(BaseModel):
    """One audited change: who set which level when, and why."""

    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    level: str
    previous: str
    by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)
    source: str = Field(default="admin", description="admin | breaker | budget")


def effective(manual: Level, *, breakers_open: bool, budget_stopped: bool, automatic: bool) -> Level:
    """Pure: the level requests are served at."""
    auto = Level.FALLBACK_ONLY if automatic and (breakers_open or budget_stopped) else Level.NORMAL
    return max(manual, auto)


def reduce_body(body: dict[str, Any], max_tokens: int, drop: list[str]) -> list[str]:
    """Apply level ``reduced`` to a request body in place; returns what changed."""
    changed = [name for name in drop if name in body]
    for name in changed:
        del body[name]
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        too_big = not isinstance(value, int) or value > max_tokens
        if too_big and (key == "max_tokens" or value is not None):  # max_completion_tokens only when given
            body[key] = max_tokens
            changed.append(key)
    return changed
