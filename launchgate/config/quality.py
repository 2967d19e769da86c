"""The ``quality:`` section: production quality sampling into a human review queue."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Quality(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample: float = Field(default=0.0, ge=0, le=1,
                          description="share of served answers the gateway puts in the review queue (0 = off)")
    answer_chars: int = Field(default=2000, ge=0, le=100_000, description="redacted answer kept per item")
