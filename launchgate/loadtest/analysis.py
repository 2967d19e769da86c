"""The load-test step's logic: plan -> aiperf command line, cost estimate, export -> LoadReport, verdicts.

Pure (no subprocess, no Prefect): launchgate/loadtest/engine.py runs the engine and launchgate/loadtest/step.py
stores the evidence. The verdicts keep two failures apart:

* the candidate missed an SLO (latency, TTFT, errors) -> FAILED, with the numbers in the reason;
* the *generator* could not deliver the load it promised (rate below target, credit-to-start lag)
  -> ERROR: the measurement broke, so the run can never pass, but the candidate is not blamed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from launchgate.config import LoadSLO, LoadTest, Pricing, Variant
from launchgate.metrics.percentiles import percentile
from launchgate.observability.baggage import baggage_headers
from launchgate.verdicts import Phase, Verdict, at_most

ENGINE = "aiperf"
SUMMARY_FILE = "profile_export_aiperf.json"
RECORDS_FILE = "profile_export.jsonl"
# One-sided z for 0.1%: a Poisson arrival count this far below its mean is not sampling noise.
_Z_POISSON = 3.09
# Percentiles from fewer successful requests than this are too noisy to gate on.
MIN_SAMPLES = 20
CHARS_PER_TOKEN = 4  # the same rough rule as the eval's cost estimate


class LoadPlan(BaseModel):
    """What one load test sends, derived from release.yaml."""

    endpoint: str = Field(description="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    model: str
    target_rps: float
    duration_s: float
    arrival: Literal["constant", "poisson"]
    streaming: bool
    seed: int
    request_timeout_s: float
    grace_s: float
    max_output_tokens: int

    @classmethod
    def from_config(cls, lt: LoadTest, variant: Variant, max_output_tokens: int) -> LoadPlan:
        return cls(
            endpoint=variant.endpoint, model=variant.model, target_rps=lt.expected_peak_rps * lt.multiplier,
            duration_s=lt.duration_s, arrival=lt.arrival, streaming=lt.streaming, seed=lt.seed,
            # A request slower than the variant's own client timeout is a failure for its users too.
            request_timeout_s=variant.timeout_s, grace_s=variant.timeout_s, max_output_tokens=max_output_tokens,
        )

    @property
    def expected_requests(self) -> float:
        return self.target_rps * self.duration_s


# ---------------------------------------------------------------------------- command line


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """``http://h:8000/v1`` -> (``http://h:8000``, ``/v1/chat/completions``).

    aiperf appends its own default path to ``--url``; passing the path explicitly keeps
    gateways with a prefix (``/svc/v1``) working too.
    """
    parts = urlsplit(endpoint.rstrip("/"))
    return f"{parts.scheme}://{parts.netloc}", f"{parts.path}/chat/completions"


def build_command(
    aiperf_bin: str, plan: LoadPlan, *, tokenizer_dir: str, input_file: str, system_prompt_file: str | None,
    artifact_dir: str, api_key: str | None = None,
) -> list[str]:
    url, path = split_endpoint(plan.endpoint)
    cmd = [
        aiperf_bin, "profile",
        "--model", plan.model, "--url", url, "--custom-endpoint", path, "--endpoint-type", "chat",
        "--request-rate", _num(plan.target_rps), "--arrival-pattern", plan.arrival,
        "--benchmark-duration", _num(plan.duration_s), "--benchmark-grace-period", _num(plan.grace_s),
        "--request-timeout-seconds", _num(plan.request_timeout_s), "--random-seed", str(plan.seed),
        # Golden-set inputs as single-turn user messages, sent in file order, wrapping around.
        "--input-file", input_file, "--custom-dataset-type", "single_turn",
        "--dataset-sampling-strategy", "sequential",
        # Absolute path: a relative one is looked up on the hub, which is unreachable offline.
        "--tokenizer", tokenizer_dir, "--use-server-token-count",
        "--ui", "none", "--no-gpu-telemetry", "--no-server-metrics",
        "--artifact-dir", artifact_dir, "--export-level", "records",
    ]
    if plan.streaming:
        cmd.append("--streaming")
    if system_prompt_file:
        cmd += ["--system-prompt-file", system_prompt_file]
    if api_key:
        cmd += ["--api-key", api_key]
    for name, value in baggage_headers().items():  # the release id, when run inside release_baggage
        cmd += ["--header", f"{name}:{value}"]
    return cmd


def redact_command(cmd: Sequence[str], secrets: Iterable[str | None]) -> list[str]:
    """The command line as evidence: secret values replaced, so it can be stored and shown."""
    hidden = {s for s in secrets if s}
    return ["***" if part in hidden else part for part in cmd]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def inputs_jsonl(inputs: Sequence[Mapping[str, Any]]) -> str:
    """aiperf single_turn rows; the text is the user message exactly as the eval renders it."""
    rows = [json.dumps({"text": json.dumps(dict(i), ensure_ascii=False, sort_keys=True)}, ensure_ascii=False)
            for i in inputs]
    return "".join(r + "\n" for r in rows)


# ---------------------------------------------------------------------------- cost


class CostEstimate(BaseModel):
    requests: int
    input_tokens_per_request: float
    output_tokens_per_request: int
    usd: float


def estimate_cost(plan: LoadPlan, system_prompt: str, inputs: Sequence[Mapping[str, Any]],
                  pricing: Pricing) -> CostEstimate:
    """Upper bound: every request of the run (+3 sigma for Poisson) answers with max_output_tokens."""
    n = plan.expected_requests
    if plan.arrival == "poisson":
        n += _Z_POISSON * math.sqrt(n)
    requests = math.ceil(n)
    chars = [len(system_prompt) + len(json.dumps(dict(i), ensure_ascii=False)) for i in inputs] or [0]
    per_in = sum(chars) / len(chars) / CHARS_PER_TOKEN + 8  # +8: chat framing tokens
    usd = requests * (per_in / 1000 * pricing.input_per_1k + plan.max_output_tokens / 1000 * pricing.output_per_1k)
    return CostEstimate(requests=requests, input_tokens_per_request=round(per_in, 1),
                        output_tokens_per_request=plan.max_output_tokens, usd=round(usd, 6))


def cost_verdict(est: CostEstimate, cap_usd: float, remaining_usd: float | None) -> Verdict:
    what = (f"{est.requests} requests x ({est.input_tokens_per_request:.0f} input + "
            f"{est.output_tokens_per_request} output tokens)")
    if est.usd > cap_usd:
        return Verdict(check="load_cost", phase=Phase.FAILED, value=est.usd, threshold=cap_usd,
                       reason=f"The load test could cost up to ${est.usd:.2f} ({what}), above load_test.cost_cap_usd "
                              f"${cap_usd:.2f}: lower duration_s or multiplier, or raise the cap. No load was sent.")
    if remaining_usd is not None and est.usd > remaining_usd:
        return Verdict(check="load_cost", phase=Phase.FAILED, value=est.usd, threshold=round(remaining_usd, 6),
                       reason=f"The load test could cost up to ${est.usd:.2f} ({what}), more than the "
                              f"${max(remaining_usd, 0):.2f} left of today's pipeline budget "
                              f"(budget.pipeline_daily_usd): shorten the test or wait for tomorrow's budget. "
                              f"No load was sent.")
    left = f"; ${remaining_usd:.2f} of today's pipeline budget left" if remaining_usd is not None else ""
    return Verdict(check="load_cost", phase=Phase.SUCCESSFUL, value=est.usd, threshold=cap_usd,
                   reason=f"Load test cost estimate ${est.usd:.4f} ({what}) is within its cap of ${cap_usd:.2f}{left}.")


# ---------------------------------------------------------------------------- the report


class Percentiles(BaseModel):
    avg: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    count: int = 0


class TimePoint(BaseModel):
    """One bucket of the run, by the time requests were scheduled (seconds since the first)."""

    t_s: float
    sent: int
    ok: int
    errors: int
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


class EngineInfo(BaseModel):
    name: str = ENGINE
    version: str | None = None
    command: list[str] = Field(default_factory=list, description="as run, secrets redacted")
    returncode: int | None = None
    wall_s: float | None = None


class LoadReport(BaseModel):
    endpoint: str
    model: str
    target_rps: float
    duration_s: float
    arrival: str
    streaming: bool
    slo: LoadSLO
    expected_requests: float
    sent: int = Field(description="requests the engine started (ok + errors + cancelled)")
    ok: int
    errors: int
    cancelled: int = 0
    error_rate: float | None = Field(description="fraction of sent requests that failed")
    errors_by_code: dict[str, int] = Field(default_factory=dict)
    achieved_rps: float | None = Field(description="sent / sending window")
    throughput_rps: float | None = Field(default=None, description="completed responses per second (engine's)")
    usage_input_tokens: int | None = Field(default=None, description="server-reported, summed over the run")
    usage_output_tokens: int | None = None
    cost_usd: float | None = Field(default=None, description="metered: usage tokens x pricing")
    output_tokens_per_s: float | None = None
    latency_ms: Percentiles = Percentiles()
    ttft_ms: Percentiles = Percentiles()
    itl_ms: Percentiles = Percentiles()
    effective_latency_ms: Percentiles = Field(
        default=Percentiles(), description="from the scheduled send time: latency + generator lag"
    )
    generator_lag_ms: Percentiles = Field(default=Percentiles(), description="engine's credit-to-start latency")
    timeline: list[TimePoint] = Field(default_factory=list)
    engine: EngineInfo = EngineInfo()


def _percentiles(metric: Mapping[str, Any] | None) -> Percentiles:
    if not isinstance(metric, Mapping):
        return Percentiles()
    keys = ("avg", "p50", "p90", "p95", "p99", "max")
    vals = {k: float(metric[k]) for k in keys if isinstance(metric.get(k), int | float)}
    count = metric.get("count")
    return Percentiles(**vals, count=int(count) if isinstance(count, int | float) else 0)


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated quantile (numpy's default, as aiperf uses); q in 0..100."""
    return percentile(values, q, method="linear")


def _from_values(values: Sequence[float]) -> Percentiles:
    if not values:
        return Percentiles()
    return Percentiles(avg=sum(values) / len(values), p50=quantile(values, 50), p90=quantile(values, 90),
                       p95=quantile(values, 95), p99=quantile(values, 99), max=max(values), count=len(values))


def _metric(record: Mapping[str, Any], name: str) -> float | None:
    m = (record.get("metrics") or {}).get(name)
    v = m.get("value") if isinstance(m, Mapping) else None
    return float(v) if isinstance(v, int | float) else None


def error_code(error: Mapping[str, Any]) -> str:
    """``http_500``, ``http_429``; a transport failure is named by its type (ClientConnectorError)."""
    code = error.get("code")
    if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
        return f"http_{code}"
    return str(error.get("type") or "unknown")


def _profiling(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    out = []
    for r in records:
        phase = (r.get("metadata") or {}).get("benchmark_phase", "profiling")
        if phase == "profiling":
            out.append(r)
    return out


def timeline(records: Sequence[Mapping[str, Any]], bucket_s: float) -> list[TimePoint]:
    """Per-bucket sends, successes, errors and latency percentiles, by scheduled (credit) time."""
    starts = [(r.get("metadata") or {}).get("credit_issued_ns") for r in records]
    known = [s for s in starts if isinstance(s, int)]
    if not known:
        return []
    t0 = min(known)
    buckets: dict[int, list[Mapping[str, Any]]] = {}
    for r, s in zip(records, starts, strict=True):
        if isinstance(s, int):
            buckets.setdefault(int((s - t0) / 1e9 // bucket_s), []).append(r)
    points = []
    for i in range(max(buckets) + 1):
        rows = buckets.get(i, [])
        ok = [r for r in rows if _is_ok(r)]
        lat = [v for r in ok if (v := _metric(r, "request_latency")) is not None]
        points.append(TimePoint(
            t_s=round(i * bucket_s, 3), sent=len(rows), ok=len(ok), errors=len(rows) - len(ok),
            p50_ms=quantile(lat, 50), p95_ms=quantile(lat, 95), p99_ms=quantile(lat, 99),
        ))
    return points


def _is_ok(record: Mapping[str, Any]) -> bool:
    return not record.get("error") and not (record.get("metadata") or {}).get("was_cancelled")


def parse_export(
    summary: Mapping[str, Any] | None, records: Sequence[Mapping[str, Any]], plan: LoadPlan, slo: LoadSLO,
    engine: EngineInfo, pricing: Pricing | None = None,
) -> LoadReport:
    """Build the report from aiperf's summary (``profile_export_aiperf.json``) and per-request records.

    Counts and errors come from the records when there are any (aiperf writes no summary when every
    request failed); percentiles come from the engine's summary, else from the records.
    """
    summary = summary or {}
    recs = _profiling(records)
    if recs:
        cancelled = sum(1 for r in recs if (r.get("metadata") or {}).get("was_cancelled") and not r.get("error"))
        by_code: dict[str, int] = {}
        for r in recs:
            if r.get("error"):
                key = error_code(r["error"])
                by_code[key] = by_code.get(key, 0) + 1
        if cancelled:
            by_code["cancelled"] = cancelled
        sent = len(recs)
        ok = sum(1 for r in recs if _is_ok(r))
    else:
        by_code = {}
        for item in summary.get("error_summary") or []:
            details = item.get("error_details") or {}
            key = error_code(details)
            by_code[key] = by_code.get(key, 0) + int(item.get("count", 0))
        ok = int(_avg(summary, "request_count") or 0)
        sent = ok + sum(by_code.values())
        cancelled = by_code.get("cancelled", 0)
    errors = sent - ok - cancelled

    ok_recs = [r for r in recs if _is_ok(r)]

    def pick(name: str) -> Percentiles:
        from_summary = _percentiles(summary.get(name))
        if from_summary.p95 is not None or not recs:
            return from_summary
        return _from_values([v for r in (recs if name == "credit_to_start_latency" else ok_recs)
                             if (v := _metric(r, name)) is not None])

    version = engine.version or summary.get("aiperf_version")
    tokens_in, tokens_out = _avg(summary, "total_usage_prompt_tokens"), _avg(summary, "total_usage_completion_tokens")
    if tokens_in is None and recs:  # no summary: add up the records' usage
        tokens_in = sum(v for r in ok_recs if (v := _metric(r, "usage_prompt_tokens")) is not None)
        tokens_out = sum(v for r in ok_recs if (v := _metric(r, "usage_completion_tokens")) is not None)
    cost = None
    if pricing is not None and tokens_in is not None:
        cost = round(tokens_in / 1000 * pricing.input_per_1k + (tokens_out or 0) / 1000 * pricing.output_per_1k, 6)
    bucket = max(1.0, plan.duration_s / 60)
    return LoadReport(
        endpoint=plan.endpoint, model=plan.model, target_rps=plan.target_rps, duration_s=plan.duration_s,
        arrival=plan.arrival, streaming=plan.streaming, slo=slo, expected_requests=plan.expected_requests,
        sent=sent, ok=ok, errors=errors, cancelled=cancelled,
        error_rate=(errors + cancelled) / sent if sent else None, errors_by_code=dict(sorted(by_code.items())),
        # The engine stops issuing at the end of the window; its own request_throughput divides by the
        # window plus the drain of the last responses, which understates the rate it actually sent.
        achieved_rps=sent / plan.duration_s if sent else None,
        throughput_rps=_avg(summary, "request_throughput"),
        usage_input_tokens=None if tokens_in is None else int(tokens_in),
        usage_output_tokens=None if tokens_out is None else int(tokens_out), cost_usd=cost,
        output_tokens_per_s=_avg(summary, "output_token_throughput"),
        latency_ms=pick("request_latency"), ttft_ms=pick("time_to_first_token"), itl_ms=pick("inter_token_latency"),
        effective_latency_ms=pick("effective_latency"), generator_lag_ms=pick("credit_to_start_latency"),
        timeline=timeline(recs, bucket), engine=engine.model_copy(update={"version": version}),
    )


def _avg(summary: Mapping[str, Any], name: str) -> float | None:
    m = summary.get(name)
    v = m.get("avg") if isinstance(m, Mapping) else None
    return float(v) if isinstance(v, int | float) else None


# ---------------------------------------------------------------------------- verdicts


def _ms(x: float) -> str:
    return f"{x:.0f} ms"


def rate_floor(report: LoadReport, min_ratio: float) -> float:
    """The achieved/target ratio below which the generator fell short.

    Two allowances, both shrinking as the run grows: the window's edges cost a constant schedule up
    to one request (a 3 s run at 10 req/s sends 29 or 30), and Poisson arrivals over a short window
    vary by sqrt(n) around the target (100 expected requests can honestly come out as 80), so for
    Poisson the floor widens to the 0.1% quantile. Only a shortfall that neither explains counts;
    the lag check still catches an overloaded generator either way.
    """
    n = report.expected_requests
    if n <= 0:
        return min_ratio
    floor = min_ratio - 1 / n
    if report.arrival == "poisson":
        floor = min(floor, 1 - _Z_POISSON / math.sqrt(n))
    return max(0.0, floor)


def rate_verdict(report: LoadReport, min_ratio: float, evidence: str | None = None) -> Verdict:
    floor = rate_floor(report, min_ratio)
    achieved = report.achieved_rps or 0.0
    ratio = achieved / report.target_rps
    edge = "Poisson sampling of" if report.arrival == "poisson" else "the window's edge with"
    why = f" (floor {min_ratio:.0%} widened for {edge} {report.expected_requests:.0f} expected requests)"
    said = (f"Achieved rate {achieved:.2f} req/s = {ratio:.1%} of the {report.target_rps:g} req/s target "
            f"({report.sent} requests in {report.duration_s:g} s)")
    if ratio + 1e-9 < floor:
        return Verdict(check="load_rate", phase=Phase.ERROR, value=round(ratio, 4), threshold=round(floor, 4),
                       evidence=evidence,
                       reason=f"{said} < {floor:.1%}{why}: the load generator did not deliver the planned load, so "
                              f"the SLOs were not tested at the planned rate. Rerun on an idle machine or run the "
                              f"engine distributed (README: Load test).")
    return Verdict(check="load_rate", phase=Phase.SUCCESSFUL, value=round(ratio, 4), threshold=round(floor, 4),
                   evidence=evidence, reason=f"{said} >= {floor:.1%}{why}.")


def lag_verdict(report: LoadReport, max_lag_ms: float, evidence: str | None = None) -> Verdict:
    lag = report.generator_lag_ms.p95
    if lag is None:
        return Verdict(check="load_generator_lag", phase=Phase.ERROR, threshold=max_lag_ms, evidence=evidence,
                       reason="The engine reported no credit-to-start latency, so whether it kept its schedule is "
                              "unknown; a run that cannot vouch for its own load cannot pass.")
    if lag > max_lag_ms:
        return Verdict(check="load_generator_lag", phase=Phase.ERROR, value=round(lag, 2), threshold=max_lag_ms,
                       evidence=evidence,
                       reason=f"The load generator fell behind its own schedule: credit-to-start p95 {_ms(lag)} > "
                              f"{_ms(max_lag_ms)} over {report.generator_lag_ms.count} requests. The client, not "
                              f"the candidate, was the bottleneck, so this run cannot pass: rerun on an idle machine "
                              f"or run the engine distributed (README: Load test).")
    return Verdict(check="load_generator_lag", phase=Phase.SUCCESSFUL, value=round(lag, 2), threshold=max_lag_ms,
                   evidence=evidence,
                   reason=f"Load generator kept its schedule: credit-to-start p95 {_ms(lag)} <= {_ms(max_lag_ms)}.")


def load_verdicts(report: LoadReport, lt: LoadTest, evidence: str | None = None) -> list[Verdict]:
    """Each SLO, then the generator's own health. Order matters: the first blocking verdict is the
    release summary's headline, so the candidate's SLO breaches come first."""
    slo = lt.slo
    at = f"at {report.achieved_rps or 0:.1f} req/s"
    n_ok = report.ok
    out: list[Verdict] = [
        at_most("load_p95", report.latency_ms.p95, slo.p95_ms, what=f"p95 latency {at}", fmt=_ms, n=n_ok,
                min_n=MIN_SAMPLES, evidence=evidence,
                fix="Speed the candidate up (or scale it out) before it takes 2x peak traffic."),
    ]
    if slo.p99_ms is not None:
        out.append(at_most("load_p99", report.latency_ms.p99, slo.p99_ms, what=f"p99 latency {at}", fmt=_ms,
                           n=n_ok, min_n=MIN_SAMPLES, evidence=evidence,
                           fix="The tail is too long at 2x peak: look at queueing and timeouts."))
    if slo.ttft_p95_ms is not None:
        ttft = report.ttft_ms.p95 if report.streaming else None
        v = at_most("load_ttft_p95", ttft, slo.ttft_p95_ms, what=f"TTFT p95 {at}", fmt=_ms, n=n_ok,
                    min_n=MIN_SAMPLES, evidence=evidence,
                    fix="Users wait too long for the first token: check prefill and queueing.")
        if not report.streaming:
            v.reason = "TTFT could not be judged: load_test.streaming is false, so there is no first token to time."
        out.append(v)
    codes = ", ".join(f"{k} x{n}" for k, n in report.errors_by_code.items())
    out.append(at_most("load_error_rate", report.error_rate, slo.error_rate / 100, what=f"Error rate {at}",
                       n=report.sent, evidence=evidence,
                       fix=f"Errors by code: {codes}." if codes else ""))
    rate = rate_verdict(report, lt.min_achieved_rate / 100, evidence)
    lag = lag_verdict(report, lt.max_generator_lag_ms, evidence)
    if rate.blocks or lag.blocks:
        # Latency measured by a client that fell behind is inflated by the client itself: do not blame
        # the candidate for it. Errors (HTTP codes from the server) stay failures.
        for v in out:
            if v.check in ("load_p95", "load_p99", "load_ttft_p95") and v.phase is Phase.FAILED:
                v.phase = Phase.ERROR
                v.reason += " Not attributed to the candidate: the load generator was overloaded (see load_rate / " \
                            "load_generator_lag)."
    return [*out, rate, lag]

