"""The ``shadow:`` section: paired shadow evaluation of the candidate on live traffic.

A sampled share of live requests is also sent to the candidate; users always get stable's
answer. The paired shadow judge (launchgate/shadow/judge.py) compares the two answers pair by
pair and decides *worse*, *not worse within the margin* or *keep watching*.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from launchgate.errors import InputError


class ShadowJudge(BaseModel):
    """``shadow.llm_judge``: an OpenAI-compatible model that prefers stable's or the candidate's free text.

    Asked per pair where both answers are served and valid (the eval gate's LLMJudge, same client:
    timeouts, bounded retries). A preference decides the pair; a tie leaves it to the structured
    fields; a failed judgement counts against the candidate (never as a pass) and is counted, and a
    judge failing on ``max_failure_rate`` of its pairs stops the shadow with an error instead.
    """

    model_config = ConfigDict(extra="forbid")

    endpoint: HttpUrl = Field(description="OpenAI-compatible base URL of the judge model")
    model: str = Field(min_length=1, max_length=200)
    api_key_env: str | None = Field(default=None, max_length=200)
    fields: list[str] = Field(default_factory=lambda: ["reply"], min_length=1, max_length=20,
                              description="free-text answer fields the judge compares")
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    max_retries: int = Field(default=2, ge=0, le=10)
    max_output_tokens: int = Field(default=200, gt=0, le=200_000)
    concurrency: int = Field(default=8, ge=1, le=256, description="judge calls in flight at once")
    max_failure_rate: float = Field(default=0.2, gt=0, le=1,
                                    description="share of failed judgements (after 10) that stops the shadow")


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
    llm_judge: ShadowJudge | None = Field(default=None, description="optional LLM judge of free-text fields")

    @model_validator(mode="after")
    def _margin_fits(self) -> Shadow:
        if self.margin >= self.expected_discordance:
            raise ValueError(f"margin ({self.margin}) must be below expected_discordance "
                             f"({self.expected_discordance}): a candidate cannot lose more pairs than disagree")
        if self.max_pairs < self.min_pairs:
            raise ValueError(f"max_pairs ({self.max_pairs}) must be >= min_pairs ({self.min_pairs})")
        return self

    def check_fields(self, output_schema: dict[str, Any]) -> None:
        """Every field the shadow compares is a property of the output schema (else bad input, exit 2)."""
        props = output_schema.get("properties")
        if not isinstance(props, dict):
            return
        named = [("shadow.fields", f) for f in self.fields]
        named += [("shadow.llm_judge.fields", f) for f in (self.llm_judge.fields if self.llm_judge else [])]
        for where, name in named:
            if name not in props:
                raise InputError(f"{where}: {name!r} is not a field of the output schema (contracts.output_schema "
                                 f"has {', '.join(sorted(props))}): name one of those")
