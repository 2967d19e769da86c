"""The ``shadow:`` section: paired shadow evaluation of the candidate on live traffic.

A sampled share of live requests is also sent to the candidate; users always get stable's
answer. The paired shadow judge (launchgate/shadow/judge.py) compares the two answers pair by
pair and decides *worse*, *not worse within the margin* or *keep watching*.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Shadow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample: float = Field(default=0.2, gt=0, le=1, description="share of live requests mirrored to the candidate")
    pool_size: int = Field(default=64, ge=1, le=10_000,
                           description="mirrored requests in flight at once; a mirror past it is dropped and counted")
    daily_cost_usd: float = Field(default=10.0, ge=0, le=100_000,
                                  description="the candidate's shadow spend per UTC day; past it mirroring stops")
    fields: list[str] = Field(default_factory=lambda: ["category", "priority"], min_length=1,
                              description="structured answer fields the candidate must agree with stable on")
    margin: float = Field(default=0.05, gt=0, lt=1,
                          description="how much lower (in points of pass rate) the candidate may be and still pass")
    expected_discordance: float = Field(default=0.10, gt=0, le=1,
                                        description="share of pairs where exactly one answer passes, as assumed "
                                                    "for the test's alternative")
    alpha: float = Field(default=0.005, gt=0, lt=0.5, description="bound on blocking a candidate as good as stable")
    beta: float = Field(default=0.02, gt=0, lt=0.5,
                        description="bound on passing a candidate worse by the margin or more")
    min_pairs: int = Field(default=100, ge=1, le=1_000_000,
                           description="pairs before the judge may pass the candidate")
    max_pairs: int = Field(default=5000, ge=1, le=10_000_000,
                           description="pairs after which an undecided shadow is inconclusive")
    duration_s: float = Field(default=600.0, gt=0, le=7 * 86400, description="how long the release watches")
    interval_s: float = Field(default=5.0, gt=0, le=3600, description="how often the release reads new pairs")
    prompt_chars: int = Field(default=2000, ge=0, le=100_000, description="redacted prompt kept per pair")

    @model_validator(mode="after")
    def _margin_fits(self) -> Shadow:
        if self.margin >= self.expected_discordance:
            raise ValueError(f"margin ({self.margin}) must be below expected_discordance "
                             f"({self.expected_discordance}): a candidate cannot lose more pairs than disagree")
        if self.max_pairs < self.min_pairs:
            raise ValueError(f"max_pairs ({self.max_pairs}) must be >= min_pairs ({self.min_pairs})")
        return self
