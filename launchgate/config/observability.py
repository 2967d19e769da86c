"""release.yaml's ``observability:`` section: where Prometheus and Grafana are, and the PromQL per check.

Query templates follow Argo Rollouts' AnalysisTemplate: ``{{service}}``, ``{{variant}}`` and
``{{window}}`` are substituted before each look (``{{le}}`` too: the latency threshold as a
histogram bucket boundary). Each count query must return ONE number: what happened in the last
``{{window}}``, which the judge's sequential tests then turn into per-look increments. The defaults
read the release gateway's own metrics (launchgate/gateway/metrics.py) with the exact form
``sum(X) - (sum(X offset {{window}}) or vector(0))``: ``increase()`` would extrapolate to the window's
edges and miss the first value of a series born inside the window (the candidate's, at the first
look), so a fault in the first requests would be under-counted. docs/observability.md shows the
same checks for vLLM's and LiteLLM's metric names.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo


class Strict(BaseModel):
    # Its own copy, like reviews/config.py: launchgate.config imports this module.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


HttpUrl = Annotated[str, Field(pattern=r"^https?://[^/\s]+"), AfterValidator(lambda v: v.rstrip("/"))]

_REQ = 'launchgate_gateway_requests_total{job="{{service}}",variant="{{variant}}",status!="499"}'
_ERR = 'launchgate_gateway_requests_total{job="{{service}}",variant="{{variant}}",status=~"5..|429"}'
_OK = 'launchgate_gateway_requests_total{job="{{service}}",variant="{{variant}}",status="200"}'
_SCHEMA = 'launchgate_gateway_schema_failures_total{job="{{service}}",variant="{{variant}}"}'
_LAT = "launchgate_gateway_request_latency_seconds"
_LAT_N = _LAT + '_count{job="{{service}}",variant="{{variant}}"}'
_LAT_LE = _LAT + '_bucket{job="{{service}}",variant="{{variant}}",le="{{le}}"}'
_COST = 'launchgate_gateway_cost_usd_total{job="{{service}}",variant="{{variant}}"}'


def since_window(series: str, *, zero: bool = False) -> str:
    """``series`` counted over the last {{window}}, exactly (no extrapolation); ``zero``: no series = 0."""
    q = f"sum({series}) - (sum({series} offset {{{{window}}}}) or vector(0))"
    return f"({q}) or vector(0)" if zero else q


# The gateway's histogram buckets (seconds); the latency threshold must be one of them.
GATEWAY_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)


class CanaryQueries(Strict):
    """PromQL per quantity the judge needs; each returns a single number for one variant."""

    requests: str = Field(default=since_window(_REQ), description="requests answered (no series = HOLD)")
    errors: str = Field(default=since_window(_ERR, zero=True), description="failed requests (5xx, 429)")
    # null = the source cannot measure it (HAProxy's exporter: no schema, no histogram): not judged
    schema_checked: str | None = Field(default=since_window(_OK, zero=True), description="answers schema-checked")
    schema_failures: str | None = Field(default=since_window(_SCHEMA, zero=True), description="answers failing it")
    latency_count: str | None = Field(default=since_window(_LAT_N, zero=True), description="requests with a latency")
    latency_within: str | None = Field(default=since_window(_LAT_LE, zero=True),
                                       description="requests at or below the threshold: histogram bucket le={{le}}")
    cost_usd: str | None = Field(default=since_window(_COST, zero=True), description="spend; null = not judged")
    priced_requests: str | None = Field(default=since_window(_OK, zero=True), description="requests billed")
    p95_seconds: str | None = Field(
        default=f"histogram_quantile(0.95, sum by (le) (increase({_LAT}_bucket"
                '{job="{{service}}",variant="{{variant}}"}[{{window}}])))',
        description="shown in the evidence only (the judge counts slow requests from the buckets)")
    last_sample: str = Field(default=f"max(timestamp({_REQ}))",
                             description="unix time of the newest sample: older than 2 scrape intervals = HOLD")


BucketS = Annotated[float, Field(gt=0, le=3600)]  # a histogram bucket boundary in seconds


def _latency_buckets(v: list[float]) -> list[float]:
    if sorted(v) != v or len(set(v)) != len(v):
        raise ValueError("latency_buckets_s must be strictly increasing")
    return v


class Observability(Strict):
    prometheus_url: HttpUrl | None = Field(default=None, description="Prometheus' HTTP API root")
    grafana_url: HttpUrl | None = Field(default=None, description="Grafana root, for dashboard links")
    canary_metrics: Literal["router", "prometheus"] = Field(
        default="router", description="what the canary judge reads: the router's own stats or Prometheus")
    scrape_interval_s: float = Field(default=15.0, ge=1, le=600, description="how often Prometheus scrapes")
    query_timeout_s: float = Field(default=5.0, gt=0, le=60)
    prometheus_token_env: str | None = Field(default=None, description="name of the env var holding a bearer "
                                                                     "token for Prometheus (never the token)")
    gateway_target: str | None = Field(default=None, description="host:port Prometheus scrapes; "
                                                                 "default: canary.gateway_url's")
    variants: dict[Literal["stable", "candidate"], str] = Field(
        default_factory=lambda: {"stable": "stable", "candidate": "candidate"},
        description="the {{variant}} label value for each launchgate variant")
    latency_buckets_s: Annotated[list[BucketS], AfterValidator(_latency_buckets)] = Field(
        default_factory=lambda: list(GATEWAY_LATENCY_BUCKETS),
        description="the latency histogram's bucket boundaries (seconds) in the metrics source")
    queries: CanaryQueries = CanaryQueries()
    dashboard_uid: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,40}$",
                                      description="Grafana dashboard uid; default launchgate-<service>")
    runbook_url: str | None = Field(default=None, description="linked from every alert's annotations")
    retry_rate_alert_pct: float = Field(default=3.0, ge=0, le=100, description="alert: share of requests retried")
    timeout_rate_alert_pct: float = Field(default=1.0, ge=0, le=100, description="alert: share timed out")
    alert_for: str = Field(default="2m", pattern=r"^[0-9]+[smh]$", description="alerts' `for:` duration")


def le_label(seconds: float) -> str:
    """A bucket boundary as Python's and Go's Prometheus clients print it in ``le`` (2.0, 0.25, 10.0)."""
    text = repr(float(seconds))
    return text if "e" not in text else f"{seconds:g}"


def check_latency_bucket(obs: Observability, threshold_ms: float) -> str | None:
    """Why the threshold cannot be judged from the histogram (not a bucket boundary), or None."""
    if obs.canary_metrics != "prometheus":
        return None
    seconds = threshold_ms / 1000
    if any(abs(b - seconds) < 1e-9 for b in obs.latency_buckets_s):
        return None
    shown = ", ".join(f"{b * 1000:g}" for b in obs.latency_buckets_s)
    return (f"rollback.latency_p95_threshold_ms {threshold_ms:g} is not a bucket boundary of the latency "
            f"histogram, so the count of slower requests cannot be read from it: use one of {shown} ms, or list "
            f"the source's buckets in observability.latency_buckets_s")


def validate_against_release(obs: Observability, info: ValidationInfo) -> Observability:
    """Cross-section checks (runs after ``rollback`` and ``canary`` were validated)."""
    rollback: Any = info.data.get("rollback")
    if rollback is not None:
        problem = check_latency_bucket(obs, rollback.latency_p95_threshold_ms)
        if problem:
            raise ValueError(problem)
    if obs.canary_metrics == "prometheus" and obs.prometheus_url is None:
        raise ValueError("canary_metrics 'prometheus' needs observability.prometheus_url")
    canary: Any = info.data.get("canary")
    if canary is not None and canary.enabled and canary.router == "haproxy" and obs.canary_metrics != "prometheus":
        # HAProxy's counters live in the process that shifted: a judge in another process cannot window them.
        raise ValueError("canary.router 'haproxy' is judged from Prometheus (HAProxy's exporter): set "
                         "observability.canary_metrics: prometheus and observability.prometheus_url")
    return obs


ObservabilitySection = Annotated[Observability, AfterValidator(validate_against_release)]
