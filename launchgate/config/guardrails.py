"""release.yaml's ``guardrails:`` section: the runtime controls the release gateway enforces.

The contract limits stay in ``contracts:`` (``max_context_chars``, ``max_output_tokens``,
``input_schema_enforced``, ``output_schema_enforced``); this section says what the gateway does
around them: rate limits and backpressure, tenant budgets, the circuit breaker, the fallback,
degradation levels, the handoff queue and the safety hooks. Without the section the gateway is a
plain weighted proxy. Codes, headers and metrics: docs/gateway.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


class Strict(BaseModel):
    # Its own copy, like observability.py: launchgate.config imports this module.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


HttpUrl = Annotated[str, Field(pattern=r"^https?://[^/\s]+"), AfterValidator(lambda v: v.rstrip("/"))]


def _fraction_pct(value: Any) -> Any:
    if isinstance(value, str) and value.strip().endswith("%"):
        return float(value.strip()[:-1])
    return value


Percent = Annotated[float, BeforeValidator(_fraction_pct), Field(ge=0, le=100)]
HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")]

FallbackReason = Literal["breaker_open", "upstream_error", "upstream_timeout", "output_invalid", "output_blocked",
                         "budget_exceeded", "degraded"]
FALLBACK_REASONS: tuple[str, ...] = ("breaker_open", "upstream_error", "upstream_timeout", "output_invalid",
                                     "output_blocked", "budget_exceeded", "degraded")
GuardMode = Literal["off", "flag", "redact", "block"]


class InputControls(Strict):
    contract: bool = Field(default=True, description="enforce contracts.max_context_chars, max_output_tokens "
                                                     "and (when input_schema_enforced) the input schema")
    over_cap_output: Literal["clamp", "reject"] = Field(
        default="clamp",
        description="max_tokens above contracts.max_output_tokens: lower it, or 400 max_tokens_too_large")


class OutputControls(Strict):
    retries: int = Field(default=1, ge=0, le=3, description="retries on the same variant for an answer failing "
                                                            "the output schema, before the fallback")


class RateLimit(Strict):
    key: Literal["api_key", "tenant"] = Field(default="api_key", description="whose budget a request spends: the "
                                              "caller's Authorization header (hashed) or the tenant header")
    requests_per_minute: int | None = Field(default=None, ge=1, le=10_000_000)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=1_000_000_000,
                                          description="estimated at admission: input chars / 4 + max_tokens")


class Backpressure(Strict):
    max_in_flight: int = Field(default=64, ge=1, le=100_000, description="requests in flight per upstream")
    queue: int = Field(default=32, ge=0, le=100_000, description="requests that may wait for a slot")
    queue_timeout_s: float = Field(default=0.5, gt=0, le=60, description="longest wait for a slot")
    retry_after_s: int = Field(default=1, ge=1, le=3600)


class TenantBudgets(Strict):
    daily_usd: dict[str, Annotated[float, Field(gt=0, le=1_000_000)]] = Field(
        default_factory=dict, description="tenant -> daily cap in USD")
    default_daily_usd: float | None = Field(default=None, gt=0, le=1_000_000,
                                            description="cap for tenants not listed; None = no cap")


class Breaker(Strict):
    enabled: bool = True
    window_s: float = Field(default=30.0, gt=0, le=3600)
    min_requests: int = Field(default=10, ge=1, le=100_000, description="no verdict on fewer calls in the window")
    failure_rate: Percent = Field(default=50.0, description="errors + timeouts, % of calls in the window")
    open_s: float = Field(default=15.0, gt=0, le=3600, description="how long it stays open before a probe")
    half_open_probes: int = Field(default=1, ge=1, le=100, description="successful probes needed to close")


class FallbackEndpoint(Strict):
    url: HttpUrl = Field(description="OpenAI-compatible base URL including /v1")
    model: str = Field(min_length=1)
    api_key_env: str | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=120)


class Fallback(Strict):
    answer: dict[str, Any] | None = Field(default=None, description="static answer, valid against the output schema")
    endpoint: FallbackEndpoint | None = Field(default=None, description="a fallback model; the answer backs it up")
    on: list[FallbackReason] = Field(default_factory=lambda: list(FALLBACK_REASONS),
                                     description="when the fallback answers instead of an error")


class Degradation(Strict):
    level: Literal["normal", "reduced", "fallback_only"] = Field(default="normal", description="level at start")
    reduced_max_tokens: int = Field(default=150, ge=1, le=200_000)
    drop_features: list[str] = Field(default_factory=lambda: ["tools", "tool_choice", "logprobs", "top_logprobs", "n"],
                                     description="request fields removed at level reduced")
    automatic: bool = Field(default=True,
                            description="fallback_only while every breaker is open or the budget is spent")


class Handoff(Strict):
    enabled: bool = True
    on_fallback: bool = Field(default=True, description="queue every request the fallback answered")
    on_flag: bool = Field(default=True, description="queue every request a guard flagged")
    notify_role: str = Field(default="operations", description="owners role that hears about new items")
    flush_s: float = Field(default=2.0, gt=0, le=300)


class InputGuard(Strict):
    mode: GuardMode = Field(default="flag", description="prompt-injection heuristics: flag, redact or block")
    classifier_url: HttpUrl | None = Field(default=None, description="POST {text} -> {flagged, label}; "
                                                                     "heuristics when it fails")
    classifier_timeout_s: float = Field(default=0.5, gt=0, le=30)


class OutputFilter(Strict):
    secrets: GuardMode = Field(default="redact", description="API keys and tokens in answers")
    harmful: Literal["off", "flag", "block"] = Field(default="flag",
                                                     description="harmful content in an answer not marked refused")


class FallbackDrill(Strict):
    enabled: bool = Field(default=True, description="the fallback drill runs as a release step before the canary")
    # Long enough that an instant answer is never mistaken for a hang on a busy machine.
    timeout_s: float = Field(default=1.0, gt=0, le=30, description="upstream timeout inside the drill")


class Guardrails(Strict):
    tenant_header: HeaderName = "X-LG-Tenant"
    input: InputControls = InputControls()
    output: OutputControls = OutputControls()
    rate_limit: RateLimit | None = None
    backpressure: Backpressure | None = Backpressure()
    tenant_budgets: TenantBudgets | None = None
    breaker: Breaker = Breaker()
    fallback: Fallback = Fallback()
    degradation: Degradation = Degradation()
    handoff: Handoff = Handoff()
    input_guard: InputGuard = InputGuard()
    output_filter: OutputFilter = OutputFilter()
    drill: FallbackDrill = FallbackDrill()
