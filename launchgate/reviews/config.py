"""release.yaml sections of the scheduled reviews: ``drift_review:`` and ``cost_review:``.

Kept out of config.py so the reviews can grow their knobs without touching the shared file;
config.py only hangs them on ReleaseConfig. Both sections are optional: the defaults are the
readiness seed's (cost variance SLO 10%, forecast buffer 10-20%) plus conventional drift cut-offs
(PSI >= 0.2 is "significant shift" in credit-risk practice, where PSI comes from).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DriftReviewConfig(_Strict):
    reference_weeks: int = Field(default=4, ge=1, le=12, description="weeks before the reviewed one used as "
                                                                      "the reference window")
    psi_threshold: float = Field(default=0.2, gt=0, le=10, description="PSI at or above this is a significant shift")
    ks_alpha: float = Field(default=0.01, gt=0, lt=0.5, description="KS p-value below this confirms a shift")
    rate_alpha: float = Field(default=0.01, gt=0, lt=0.5, description="two-proportion test p-value cut-off")
    min_rate_increase: float = Field(default=1.0, ge=0, le=100,
                                     description="percentage points a rate must rise to count (tiny rises "
                                                 "are significant on big logs but not worth a freeze)")
    min_requests: int = Field(default=200, ge=10, le=100_000_000,
                              description="per window; fewer makes a feature inconclusive")
    quality_min_labels: int = Field(default=30, ge=1, le=10_000_000,
                                    description="labelled review-queue items per window for a quality-rate verdict")
    quality_drop_pp: float = Field(default=5.0, ge=0, le=100,
                                   description="points the quality rate (labelled good) must fall to count")
    feedback_min: int = Field(default=30, ge=1, le=100_000_000,
                              description="feedback records per window for a bad-feedback verdict")
    bad_feedback_rise_pp: float = Field(default=5.0, ge=0, le=100,
                                        description="points the bad-feedback rate must rise to count")
    freeze_on_drift: bool = Field(default=True, description="significant drift sets the release freeze")


class CostReviewConfig(_Strict):
    wow_slo_pct: float = Field(default=10.0, gt=0, le=100, description="week-over-week variance SLO, %")
    forecast_buffer_pct: float = Field(default=15.0, ge=10, le=20, description="the seed's 10-20% buffer")
    spike_factor: float = Field(default=2.0, gt=1, le=1000, description="a day costing this many times the "
                                                                        "median day of the month is a spike")
    spike_wow_pct: float = Field(default=50.0, gt=0, le=100_000, description="a week costing this much more per "
                                                                             "day than the week before is a spike")
    min_spike_usd: float = Field(default=1.0, ge=0, le=1_000_000, description="days cheaper than this are never spikes")
    freeze_on_spike: bool = Field(default=True, description="a cost spike sets the release freeze")
    cost_explorer: bool = Field(default=False, description="also read AWS Cost Explorer (boto3 'ce')")
    ce_region: str = "us-east-1"
    ce_endpoint_url: str | None = Field(default=None, description="endpoint override (moto_server in tests)")
    ce_metric: str = Field(default="UnblendedCost", description="Cost Explorer metric to read")
    ce_filter: dict[str, Any] | None = Field(default=None, description="a Cost Explorer Expression, e.g. a "
                                                                        "tag filter selecting this service")


class AthenaConfig(_Strict):
    workgroup: str = Field(default="launchgate-logs", description="infra/terraform's athena_workgroup output")
    database: str = Field(default="launchgate_logs", description="the Glue database of the request-log tables")
    table: str | None = Field(default=None, description="default requests_<service> (dashes as underscores)")
    region: str = "us-east-1"
    endpoint_url: str | None = Field(default=None, description="endpoint override (moto_server in tests)")
    poll_s: float = Field(default=1.0, gt=0, le=60, description="pause between get_query_execution polls")
    timeout_s: float = Field(default=600, gt=0, le=3600, description="a query still running after this is "
                                                                        "stopped and the review fails")


class ReviewEngineConfig(_Strict):
    """``review:`` - where the reviews' queries run. DuckDB on the worker (default) or Athena over
    the Glue table of the compacted log (the cost review; see docs/logs.md for what stays on DuckDB)."""

    engine: Literal["duckdb", "athena"] = "duckdb"
    athena: AthenaConfig = AthenaConfig()
