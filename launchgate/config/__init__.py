"""release.yaml as pydantic models.

Defaults are the readiness seed's values (context cap 12000 chars, 400 output tokens,
min_delta 0.02, canary 10%, rollback at 1.5% errors / p95 2000 ms / 1% schema failures,
daily budget 50 USD with an alert at 45 USD). Percent fields accept ``1.5`` or ``"1.5%"``
and are always in percent units. File paths are resolved relative to the release.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.fields import FieldInfo

from launchgate.config.access import Access
from launchgate.config.datapolicy import DataPolicy
from launchgate.config.files import parse_yaml, read_yaml
from launchgate.config.guardrails import Guardrails
from launchgate.config.haproxy import HAProxyRouting, check_whole_percents
from launchgate.config.observability import Observability, ObservabilitySection
from launchgate.config.quality import Quality
from launchgate.config.readiness import ReadinessConfig
from launchgate.config.replicas import Replicas
from launchgate.config.shadow import Shadow
from launchgate.errors import ConfigError, DataFileError
from launchgate.reviews.config import CostReviewConfig, DriftReviewConfig, ReviewEngineConfig


def _percent(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            text = text[:-1].strip()
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a percentage like 1.5 or '1.5%', got {value!r}") from None
    return value


Percent = Annotated[float, BeforeValidator(_percent), Field(ge=0, le=100)]
# Upper bounds for money and durations: far above any real setting, low enough that every sum,
# product and rounding a step does with them stays finite (1e308 requests per second does not).
MAX_USD = 1_000_000.0
MAX_MS = 600_000.0  # ten minutes: the longest upstream timeout a variant may have


class Strict(BaseModel):
    # inf and nan are floats to Python but nothing a step can compute with.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _resolve(path: Path, info: ValidationInfo) -> Path:
    # Relative paths mean "next to release.yaml", so a config works from any cwd.
    base = (info.context or {}).get("base_dir")
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    if (info.context or {}).get("check_files", True) and not path.is_file():
        if path.is_dir():
            raise ValueError(f"is a directory, expected a file: {path}")
        raise ValueError(f"file not found: {path}" if not path.exists() else f"not a regular file: {path}")
    return path


ConfigFile = Annotated[Path, AfterValidator(_resolve)]


def _http_url(v: str) -> str:
    if not re.match(r"^https?://[^/\s]+", v):
        raise ValueError(f"expected an http(s) URL, got {v!r}")
    return v.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class PromptRef(Strict):
    file: ConfigFile
    version: str = Field(min_length=1)


class Variant(Strict):
    endpoint: HttpUrl = Field(description="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    model: str = Field(min_length=1, description="model deployment name sent as `model`")
    prompt: PromptRef
    api_key_env: str | None = Field(
        default=None, description="name of the env var holding the endpoint's API key (never the key)"
    )
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    max_retries: int = Field(default=3, ge=0, le=10)


class Contracts(Strict):
    input_schema: ConfigFile
    output_schema: ConfigFile
    input_schema_enforced: bool = True
    output_schema_enforced: bool = True
    max_context_chars: int = Field(default=12000, gt=0, le=4_000_000)  # ~1M tokens, the largest contexts
    max_output_tokens: int = Field(default=400, gt=0, le=200_000)


# How one answer field is compared with the golden value (see launchgate/eval/scoring.py):
# normalised (default: whitespace/case folded), exact, ignore, regex (the golden value is a
# pattern searched in the answer), contains (golden value is a substring), numeric[:abs_tol].
FieldRule = Annotated[str, Field(pattern=r"^(normalised|exact|ignore|regex|contains|numeric(:[0-9]+(\.[0-9]+)?)?)$")]


class Judge(Strict):
    """Optional LLM judge: any OpenAI-compatible endpoint grades free-text fields (off by default)."""

    endpoint: HttpUrl = Field(description="OpenAI-compatible base URL of the judge model")
    model: str = Field(min_length=1)
    api_key_env: str | None = None
    tags: list[str] = Field(default_factory=list, description="judge only cases with one of these tags; [] = all")
    fields: list[str] = Field(default_factory=lambda: ["reply"], description="answer fields the judge grades")
    threshold: float = Field(default=0.5, ge=0, le=1, description="judge score needed to pass")
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    max_retries: int = Field(default=2, ge=0, le=10)
    max_output_tokens: int = Field(default=200, gt=0, le=200_000)


class Evaluation(Strict):
    golden_set: ConfigFile
    baseline: Literal["stable", "last_promoted"] = "stable"
    min_delta: float = Field(default=0.02, ge=-1, le=1)
    min_schema_valid_rate: Percent = 99.0
    max_cost_increase: Percent = Field(default=20.0, description="cost/request increase vs baseline, %")
    max_error_rate: Percent = Field(default=5.0, description="above this the eval is inconclusive")
    concurrency: int = Field(default=16, ge=1, le=512)
    repeats: int = Field(default=1, ge=1, le=20)
    require_significance: bool = False
    budget_usd: float = Field(default=5.0, gt=0, le=MAX_USD, description="cap on the eval's own spend")
    # superiority: the seed rule (+ significance when required). non_inferiority: the seed rule with
    # -margin in min_delta's place, and the paired lower confidence bound must clear -margin.
    mode: Literal["superiority", "non_inferiority"] = "superiority"
    margin: float = Field(default=0.05, ge=0, le=1, description="non_inferiority: candidate >= baseline - margin")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="of the paired CI and tests")
    known_tags: list[str] | None = Field(default=None, description="contracts: allowed case tags; None = any")
    fields: dict[str, FieldRule] = Field(
        default_factory=lambda: {"reply": "ignore"}, description="per answer field: how it is compared"
    )
    tag_fields: dict[str, dict[str, FieldRule]] = Field(
        default_factory=dict, description="per case tag: field rules overriding `fields`"
    )
    judge: Judge | None = None


class LoadSLO(Strict):
    p95_ms: float = Field(default=1200.0, gt=0, le=MAX_MS)
    p99_ms: float | None = Field(default=None, gt=0, le=MAX_MS)
    ttft_p95_ms: float | None = Field(default=None, gt=0, le=MAX_MS)
    error_rate: Percent = 1.0


class LoadTest(Strict):
    enabled: bool = False
    expected_peak_rps: float = Field(default=5.0, gt=0, le=10_000)
    multiplier: float = Field(default=2.0, gt=0, le=100)
    # The load-test task times out after an hour: aiperf's start-up and grace period need the rest.
    duration_s: float = Field(default=30.0, gt=0, le=1800)
    arrival: Literal["constant", "poisson"] = "poisson"
    streaming: bool = True
    slo: LoadSLO = LoadSLO()
    cost_cap_usd: float = Field(default=2.0, gt=0, le=MAX_USD)
    # Judged by launchgate/loadtest/analysis.py: below these the *generator* failed (phase error), not the candidate.
    min_achieved_rate: Percent = Field(default=95.0, description="achieved/target request rate, %")
    max_generator_lag_ms: float = Field(default=50.0, gt=0, le=60_000,
                                        description="p95 credit-to-start lag of the engine")
    seed: int = Field(default=7, ge=0, le=2**32 - 1,  # what numpy's and aiperf's generators accept
                      description="arrival schedule seed, so a rerun sends the same load")


class SageMakerRouting(Strict):
    """An endpoint with two production variants; launchgate moves weight between them."""

    endpoint_name: str = Field(min_length=1)
    stable_variant: str = Field(min_length=1)
    candidate_variant: str = Field(min_length=1)
    region: str = "us-east-1"
    endpoint_url: str | None = Field(default=None, description="AWS endpoint override (VPC endpoint, moto)")
    latency_percentiles: bool = Field(
        default=True, description="ask CloudWatch for ModelLatency p50/p95/p99 (moto_server cannot serve them)"
    )
    custom_namespace: str | None = Field(
        default=None, description="CloudWatch namespace where the service publishes SchemaFailures and CostUSD "
                                  "per EndpointName/VariantName; unset = schema and cost are not judged"
    )


class Canary(Strict):
    enabled: bool = False
    traffic: Percent = 10.0
    steps: list[Percent] = Field(default_factory=list, description="e.g. [10, 25, 50]; empty = [traffic]")
    interval_s: float = Field(default=30.0, gt=0, le=3600)
    duration_s: float = Field(default=300.0, gt=0, le=7 * 86400)
    min_requests: int = Field(default=50, ge=1, le=10_000_000)
    router: Literal["gateway", "sagemaker", "haproxy"] = "gateway"
    gateway_url: str = "http://127.0.0.1:8080"
    gateway_token_env: str = Field(default="LAUNCHGATE_GATEWAY_ADMIN_TOKEN",
                                   description="name of the env var holding the gateway admin token")
    sagemaker: SageMakerRouting | None = None
    haproxy: HAProxyRouting | None = None
    # The gateway's admin API refuses leases over an hour (gateway/admin.py LeaseBody).
    lease_ttl_s: float = Field(default=15.0, gt=0, le=3600,
                               description="the gateway reverts to stable if not renewed")
    drill_traffic: Percent = 1.0
    drill_requests: int = Field(default=50, ge=1, le=1000)
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="false-rollback bound per check (SPRT)")
    max_metric_errors: int = Field(default=3, ge=1, le=1000, description="intervals without metrics before rollback")
    demo_traffic_rps: float = Field(default=0.0, ge=0, le=10_000, description="golden-set traffic sent during "
                                                                              "the window (demo/tests); 0 = off")
    # shadow: the candidate answers mirrored live traffic beside stable and no user sees it (the shadow:
    # section, launchgate/shadow/); shadow_then_canary shifts traffic only after the shadow judge passed.
    strategy: Literal["canary", "shadow", "shadow_then_canary"] = "canary"

    @property
    def plan(self) -> list[float]:
        return list(self.steps) or [self.traffic]

    @model_validator(mode="after")
    def _router_settings(self) -> Canary:
        if self.router == "sagemaker" and self.sagemaker is None:
            raise ValueError("router 'sagemaker' needs a canary.sagemaker section (endpoint_name, variants)")
        if self.router == "haproxy" and self.haproxy is None:
            raise ValueError("router 'haproxy' needs a canary.haproxy section (admin_socket, backend, servers)")
        if self.router == "haproxy" and (problem := check_whole_percents(self)):
            raise ValueError(problem)
        if any(b < a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError(f"steps must not decrease, got {self.steps}")
        return self


class Rollback(Strict):
    error_rate_threshold: Percent = 1.5
    latency_p95_threshold_ms: float = Field(default=2000.0, gt=0, le=MAX_MS)
    schema_failure_threshold: Percent = 1.0
    cost_per_request_increase: Percent = 20.0
    retry_rate_threshold: Percent = 3.0  # the seed's retry SLO; judged where the metrics source counts retries


class Budget(Strict):
    daily_usd: float = Field(default=50.0, gt=0, le=MAX_USD)
    alert_usd: float = Field(default=45.0, gt=0, le=MAX_USD)
    pipeline_daily_usd: float = Field(default=10.0, gt=0, le=MAX_USD)

    @model_validator(mode="after")
    def _alert_below_cap(self) -> Budget:
        if self.alert_usd > self.daily_usd:
            raise ValueError(f"alert_usd ({self.alert_usd}) must not exceed daily_usd ({self.daily_usd})")
        return self


class Pricing(Strict):
    # Today's dearest models cost cents per 1000 tokens: 1000 USD catches a unit mix-up (per 1M tokens).
    input_per_1k: float = Field(ge=0, le=1000, description="USD per 1000 input tokens")
    output_per_1k: float = Field(ge=0, le=1000, description="USD per 1000 output tokens")

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return input_tokens / 1000 * self.input_per_1k + output_tokens / 1000 * self.output_per_1k


class Owners(Strict):
    product: str | None = None
    engineering: str | None = None
    operations: str | None = None
    oncall: str | None = None
    budget: str | None = None
    compliance: str | None = None  # data policy: unsafe-logging findings, export/delete requests

    def target(self, role: str) -> str | None:
        return getattr(self, role, None)


class Approvals(Strict):
    required_roles: list[Literal["engineering", "operations", "product"]] = Field(
        default_factory=lambda: ["engineering", "operations"]
    )
    approvers: dict[str, list[str]] = Field(default_factory=dict)
    timeout_s: float = Field(default=86400.0, gt=0, le=30 * 86400)
    # How often the paused run asks the Prefect API whether it was resumed (Prefect's default is 10 s).
    poll_interval_s: float = Field(default=10.0, gt=0, le=300)
    allow_auto_approve: bool = False


class Artifacts(Strict):
    uri: str = ".launchgate/store"


class Notifications(Strict):
    notifier: Literal["console", "slack"] = "console"
    mute: dict[str, list[str]] = Field(
        default_factory=dict, description="role -> event types not to send to that role"
    )


class GatewaySection(Strict):
    """`launchgate gateway --config release.yaml`: the release gateway in front of stable and candidate."""

    listen: str = Field(default="127.0.0.1", description="bind address; loopback unless you mean otherwise")
    port: int = Field(default=8300, ge=0, le=65535)
    admin_token_env: str = Field(default="LAUNCHGATE_GATEWAY_ADMIN_TOKEN",
                                 description="name of the env var holding the admin API token")
    log_flush_s: float = Field(default=2.0, gt=0, le=300, description="request log flush interval")
    upstream_timeout_s: float | None = Field(default=None, gt=0, le=600,
                                             description="per upstream call; default: the variants' timeout_s")
    replicas: Replicas = Field(default_factory=Replicas, description="several replicas sharing state via the store")


class ReleaseConfig(Strict):
    service: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    candidate: Variant
    stable: Variant
    contracts: Contracts
    evaluation: Evaluation
    load_test: LoadTest = LoadTest()
    canary: Canary = Canary()
    rollback: Rollback = Rollback()
    budget: Budget = Budget()
    pricing: Pricing
    owners: Owners = Owners()
    approvals: Approvals = Approvals()
    artifacts: Artifacts = Artifacts()
    notifications: Notifications = Notifications()
    gateway: GatewaySection = GatewaySection()
    drift_review: DriftReviewConfig = DriftReviewConfig()  # weekly drift review (flows/drift_review.py)
    cost_review: CostReviewConfig = CostReviewConfig()  # monthly cost review (flows/cost_review.py)
    review: ReviewEngineConfig = ReviewEngineConfig()  # where review queries run: duckdb | athena (docs/logs.md)
    data: DataPolicy = DataPolicy()  # what is logged, kept how long, who may read it (config/datapolicy.py)
    readiness: ReadinessConfig = ReadinessConfig()  # the readiness review (config/readiness.py)
    guardrails: Guardrails | None = None  # the gateway's runtime controls (config/guardrails.py); None = none
    shadow: Shadow = Shadow()  # paired shadow evaluation, used by canary.strategy shadow* (config/shadow.py)
    quality: Quality = Quality()  # production sampling into the review queue (config/quality.py)
    access: Access = Access()  # client API keys on /v1, admin token and upstream key rotation (config/access.py)
    # After rollback and canary: its validator checks the latency threshold against the histogram.
    observability: ObservabilitySection = Observability()


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unwrap(tp: Any, meta: list[Any]) -> tuple[Any, list[Any]]:
    """Strip Annotated (keeping its constraints) and Optional from a field's type."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            base, *extra = get_args(tp)
            for m in extra:
                meta = meta + (list(m.metadata) if isinstance(m, FieldInfo) else [m])
            tp = base
        elif origin in (Union, UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
        else:
            return tp, meta


def allowed_range(loc: tuple[Any, ...], model: type[BaseModel] | None = None) -> str | None:
    """``0 < value <= 10000`` for the number at ``loc`` (a validation error's location), from its bounds."""
    tp: Any = model or ReleaseConfig
    meta: list[Any] = []
    for part in loc:
        tp, meta = _unwrap(tp, meta)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            info = tp.model_fields.get(part)
            if info is None:
                return None
            tp, meta = info.annotation, list(info.metadata)
        elif get_origin(tp) in (list, dict):
            tp, meta = get_args(tp)[-1], []
        else:
            return None
    tp, meta = _unwrap(tp, meta)
    if tp not in (int, float):
        return None
    low = next((m for m in meta if isinstance(m, annotated_types.Gt | annotated_types.Ge)), None)
    high = next((m for m in meta if isinstance(m, annotated_types.Lt | annotated_types.Le)), None)
    text = "value"
    if low is not None:
        text = (f"{_num(low.gt)} < " if isinstance(low, annotated_types.Gt) else f"{_num(low.ge)} <= ") + text
    if high is not None:
        text += f" < {_num(high.lt)}" if isinstance(high, annotated_types.Lt) else f" <= {_num(high.le)}"
    kind = "a whole number" if tp is int else "a finite number"
    return f"allowed: {text}, {kind}" if low is not None or high is not None else None


def _num(x: Any) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def format_validation_error(exc: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    errors = []
    for err in exc.errors(include_url=False):
        where = _field_path(err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see examples/support-bot/release.yaml)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        got = err.get("input")
        if err["type"] not in ("missing", "extra_forbidden") and isinstance(got, str | int | float | bool):
            shown = repr(got)
            msg += f" (got {shown if len(shown) <= 40 else shown[:37] + '...'})"
        if err["type"] not in ("missing", "extra_forbidden"):
            bounds = allowed_range(err["loc"], model)
            if bounds:
                msg += f"; {bounds}"
        errors.append(f"{where}: {msg}")
    return errors


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Apply a ``--set a.b.c=value`` override; value is parsed as YAML (numbers, bools)."""
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError("--set", [f"{item!r}: expected KEY=VALUE, e.g. candidate.endpoint=http://..."])
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = parse_yaml(raw, "--set", f"the value of {key.strip()}") if raw else ""
        except DataFileError as exc:
            raise ConfigError("--set", [exc.problem]) from None
    return out


def load_config(
    path: str | Path, overrides: dict[str, Any] | None = None, *, check_files: bool = True
) -> ReleaseConfig:
    """Read and validate release.yaml. Raises ConfigError listing every problem by field path."""
    path = Path(path)
    try:
        data = read_yaml(path, "release config")
    except DataFileError as exc:
        raise ConfigError(str(path), [exc.problem]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["top level must be a mapping of sections (service, candidate, ...)"])
    for key, value in (overrides or {}).items():
        set_path(data, key, value)
    try:
        return ReleaseConfig.model_validate(
            data, context={"base_dir": path.resolve().parent, "check_files": check_files}
        )
    except ValidationError as exc:
        raise ConfigError(str(path), format_validation_error(exc)) from None
