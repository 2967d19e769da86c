"""Weekly drift: is this week's traffic still the traffic the release was judged on? (pure)

Compares the reviewed week's request log with a reference window (the weeks before it):

* distributions (input tokens, output tokens, tokens per request, latency of successful calls):
  PSI over the reference's deciles plus a two-sample Kolmogorov-Smirnov test. Both must agree:
  on a week of traffic KS alone flags shifts far too small to matter, and PSI alone is noisy on
  small samples. PSI >= 0.2 is the conventional "significant shift".
* rates (errors, schema failures, refusals when the log has a ``refused`` field): a one-sided
  two-proportion z-test for an *increase*, and the rise must be at least ``min_rate_increase``
  percentage points. Fewer errors is not drift anyone freezes releases for.

Too little data on either side makes a feature inconclusive, never significant. The Great
Expectations suite (``run_expectations``) checks the log itself against the contract's limits;
it is reported next to the drift and does not set the flag on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats

from launchgate.budget.ledger import BUDGET_EXCEEDED
from launchgate.metrics.percentiles import percentile
from launchgate.requestlog.reader import num
from launchgate.reviews.config import DriftReviewConfig
from launchgate.verdicts import Phase

Record = Mapping[str, Any]
PSI_BINS = 10
PSI_FLOOR = 1e-4  # an empty bin would make PSI infinite; this is the usual smoothing


def _ok(r: Record) -> bool:
    return r.get("status") == 200 and not r.get("error_code")


def _tokens(r: Record) -> float | None:
    tin, tout = num(r, "input_tokens"), num(r, "output_tokens")
    return None if tin is None or tout is None else tin + tout


NUMERIC: dict[str, tuple[str, Callable[[Record], float | None]]] = {
    "input_tokens": ("Input length (tokens)", lambda r: num(r, "input_tokens")),
    "output_tokens": ("Output length (tokens)", lambda r: num(r, "output_tokens")),
    "tokens_per_request": ("Tokens per request", _tokens),
    "latency_ms": ("Latency of successful requests (ms)", lambda r: num(r, "latency_ms") if _ok(r) else None),
}


def _counted(r: Record) -> bool:
    # A budget stop is the gateway refusing on purpose, not the model failing: keep it out of rates.
    return r.get("error_code") != BUDGET_EXCEEDED


# name -> (title, field that must be present for the rate to exist, denominator test, numerator test)
RATES: dict[str, tuple[str, str | None, Callable[[Record], bool], Callable[[Record], bool]]] = {
    "error_rate": ("Error rate", None, _counted, lambda r: not _ok(r)),
    "schema_failure_rate": ("Schema failure rate", "schema_ok", lambda r: isinstance(r.get("schema_ok"), bool),
                            lambda r: r.get("schema_ok") is False),
    "refusal_rate": ("Refusal rate", "refused", lambda r: isinstance(r.get("refused"), bool),
                     lambda r: r.get("refused") is True),
}


class FeatureDrift(BaseModel):
    name: str
    title: str
    kind: Literal["distribution", "rate"]
    phase: Phase = Field(description="failed = significant drift; inconclusive = too little data")
    reason: str
    n_reference: int
    n_current: int
    reference: dict[str, float | None] = Field(default_factory=dict)
    current: dict[str, float | None] = Field(default_factory=dict)
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    z: float | None = None
    p_value: float | None = None

    @property
    def significant(self) -> bool:
        return self.phase is Phase.FAILED


class Window(BaseModel):
    start: datetime
    end: datetime
    requests: int


class DriftReport(BaseModel):
    service: str
    week: str
    current: Window
    reference: Window
    significant: bool
    reasons: list[str]
    features: list[FeatureDrift]
    notes: list[str] = Field(default_factory=list)
    expectations: dict[str, Any] | None = Field(default=None, description="Great Expectations suite summary")
    log_quality: dict[str, Any] = Field(default_factory=dict)
    quality: dict[str, Any] | None = Field(default=None, description="labels and user feedback per week, release "
                                                                      "and variant (reviews/quality.py)")
    thresholds: DriftReviewConfig
    generated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


# ------------------------------------------------------------------------------------- weeks


def week_label(d: date) -> str:
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(label: str) -> tuple[datetime, datetime]:
    """``2026-W45`` -> [Monday 00:00 UTC, next Monday 00:00 UTC)."""
    try:
        year, week = label.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise ValueError(f"week {label!r}: expected an ISO week like 2026-W45") from None
    start = datetime.combine(monday, datetime.min.time(), UTC)
    return start, start + timedelta(days=7)


def previous_week(now: datetime) -> str:
    """The last complete ISO week: what a Monday-morning run reviews."""
    return week_label((now.astimezone(UTC) - timedelta(days=7)).date())


# ----------------------------------------------------------------------------------- numbers


def numeric_values(records: Sequence[Record]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, (_, get) in NUMERIC.items():
        values = [v for r in records if (v := get(r)) is not None and math.isfinite(v)]
        out[name] = np.asarray(values, dtype=float)
    return out


def rate_counts(records: Sequence[Record]) -> dict[str, tuple[int, int]]:
    """name -> (events, denominator); a rate whose field no line carries is left out."""
    out: dict[str, tuple[int, int]] = {}
    for name, (_, needs, counted, event) in RATES.items():
        if needs is not None and not any(needs in r for r in records):
            continue
        den = [r for r in records if counted(r)]
        out[name] = (sum(1 for r in den if event(r)), len(den))
    return out


def psi_edges(quantiles: Sequence[float] | np.ndarray) -> np.ndarray:
    """The bin edges from the reference's quantiles, at 12 significant digits: two correct ways of
    interpolating a quantile (numpy's, DuckDB's) differ in the last bits, and a value sitting on an
    edge must not change bins with them."""
    return np.unique([float(f"{float(q):.12g}") for q in quantiles])


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population Stability Index over the reference's quantile bins (ties merge bins)."""
    edges = psi_edges(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1) / len(reference)
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1) / len(current)
    ref, cur = np.clip(ref, PSI_FLOOR, None), np.clip(cur, PSI_FLOOR, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _summary(values: np.ndarray) -> dict[str, float | None]:
    if not len(values):
        return {"mean": None, "p50": None, "p95": None}
    ordered = sorted(values.tolist())
    return {"mean": round(float(values.mean()), 3),
            "p50": round(percentile(ordered, 50, method="linear", presorted=True) or 0.0, 3),
            "p95": round(percentile(ordered, 95, method="linear", presorted=True) or 0.0, 3)}


def _rel(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return ""
    if a == 0:
        return " (from zero)"
    return f" ({(b / a - 1) * 100:+.0f}%)"


class DistStats(BaseModel):
    """What a distribution verdict needs; from arrays (``dist_stats``) or from SQL aggregates (drift_sql.py)."""

    n_reference: int
    n_current: int
    reference: dict[str, float | None]
    current: dict[str, float | None]
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None


def dist_stats(ref: np.ndarray, cur: np.ndarray, cfg: DriftReviewConfig) -> DistStats:
    """PSI and KS over the full arrays (computed only when both sides have ``min_requests`` values)."""
    out = DistStats(n_reference=len(ref), n_current=len(cur), reference=_summary(ref), current=_summary(cur))
    if min(len(ref), len(cur)) >= cfg.min_requests:
        ks = stats.ks_2samp(ref, cur)
        out.psi, out.ks_statistic, out.ks_pvalue = psi(ref, cur), float(ks.statistic), float(ks.pvalue)
    return out


def distribution_drift(name: str, ref: np.ndarray, cur: np.ndarray, cfg: DriftReviewConfig) -> FeatureDrift:
    return distribution_verdict(name, dist_stats(ref, cur, cfg), cfg)


def distribution_verdict(name: str, s: DistStats, cfg: DriftReviewConfig) -> FeatureDrift:
    title = NUMERIC[name][0]
    base = {"name": name, "title": title, "kind": "distribution", "n_reference": s.n_reference,
            "n_current": s.n_current, "reference": s.reference, "current": s.current}
    if min(s.n_reference, s.n_current) < cfg.min_requests or s.psi is None or s.ks_pvalue is None:
        return FeatureDrift(**base, phase=Phase.INCONCLUSIVE,
                            reason=f"{title}: {s.n_reference} reference and {s.n_current} current values, need at "
                                   f"least {cfg.min_requests} each.")
    value, ks_stat, ks_p = s.psi, float(s.ks_statistic or 0.0), s.ks_pvalue
    r_mean, c_mean = s.reference["mean"], s.current["mean"]
    moved = f"mean {r_mean:g} -> {c_mean:g}{_rel(r_mean, c_mean)}"
    significant = value >= cfg.psi_threshold and ks_p < cfg.ks_alpha
    if significant:
        reason = (f"{title} shifted: PSI {value:.3f} >= {cfg.psi_threshold:g} and KS p={ks_p:.2g} < "
                  f"{cfg.ks_alpha:g}; {moved}.")
    else:
        why = f"PSI {value:.3f} < {cfg.psi_threshold:g}" if value < cfg.psi_threshold else f"KS p={ks_p:.2g}"
        reason = f"{title} stable: {why}; {moved}."
    return FeatureDrift(**base, phase=Phase.FAILED if significant else Phase.SUCCESSFUL, reason=reason,
                        psi=round(value, 4), ks_statistic=round(ks_stat, 4), ks_pvalue=ks_p)


def two_proportion_rise(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """(z, one-sided p) of the pooled two-proportion test that k2/n2 is above k1/n1: only a rise is
    drift worth acting on."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (k2 / n2 - k1 / n1) / se if se > 0 else 0.0
    return z, float(stats.norm.sf(z))


def rate_drift(name: str, ref: tuple[int, int], cur: tuple[int, int], cfg: DriftReviewConfig) -> FeatureDrift:
    title = RATES[name][0]
    (k1, n1), (k2, n2) = ref, cur
    p1, p2 = (k1 / n1 if n1 else None), (k2 / n2 if n2 else None)
    base = {"name": name, "title": title, "kind": "rate", "n_reference": n1, "n_current": n2,
            "reference": {"rate": p1, "events": float(k1)}, "current": {"rate": p2, "events": float(k2)}}
    if min(n1, n2) < cfg.min_requests or p1 is None or p2 is None:
        return FeatureDrift(**base, phase=Phase.INCONCLUSIVE,
                            reason=f"{title}: {n1} reference and {n2} current requests, need at least "
                                   f"{cfg.min_requests} each.")
    z, p_value = two_proportion_rise(k1, n1, k2, n2)
    rise_pp = (p2 - p1) * 100
    moved = f"{p1 * 100:.2f}% -> {p2 * 100:.2f}% ({k2}/{n2})"
    significant = p_value < cfg.rate_alpha and rise_pp >= cfg.min_rate_increase
    if significant:
        reason = (f"{title} rose: {moved}, +{rise_pp:.2f} pp >= {cfg.min_rate_increase:g} pp, two-proportion "
                  f"p={p_value:.2g} < {cfg.rate_alpha:g}.")
    else:
        reason = f"{title} stable: {moved}, p={p_value:.2g}."
    return FeatureDrift(**base, phase=Phase.FAILED if significant else Phase.SUCCESSFUL, reason=reason,
                        z=round(z, 3), p_value=p_value)


def compare(reference: Sequence[Record], current: Sequence[Record],
            cfg: DriftReviewConfig) -> tuple[list[FeatureDrift], list[str]]:
    """Every feature's verdict, plus notes on what could not be compared (records in memory: small logs, tests)."""
    ref_values, cur_values = numeric_values(reference), numeric_values(current)
    dists = {name: dist_stats(ref_values[name], cur_values[name], cfg) for name in NUMERIC}
    return compare_stats(dists, rate_counts(reference), rate_counts(current), len(reference), cfg)


def compare_stats(dists: Mapping[str, DistStats], ref_rates: Mapping[str, tuple[int, int]],
                  cur_rates: Mapping[str, tuple[int, int]], n_reference: int,
                  cfg: DriftReviewConfig) -> tuple[list[FeatureDrift], list[str]]:
    """The verdicts from per-feature statistics and rate counts, however they were computed."""
    notes: list[str] = []
    features = [distribution_verdict(name, dists[name], cfg) for name in NUMERIC]
    for name, (title, needs, _, _) in RATES.items():
        if name in ref_rates and name in cur_rates:
            features.append(rate_drift(name, ref_rates[name], cur_rates[name], cfg))
        else:
            notes.append(f"{title} skipped: the request log has no `{needs}` field in "
                         f"{'either window' if name not in ref_rates and name not in cur_rates else 'one window'}.")
    if not n_reference:
        notes.append("The reference window has no requests: nothing to compare against yet (new service, or the "
                     "log was not kept). Every feature is inconclusive.")
    return features, notes


def report_from(service: str, week: str, features: list[FeatureDrift], notes: list[str], cfg: DriftReviewConfig,
                *, reference_window: tuple[datetime, datetime], current_window: tuple[datetime, datetime],
                n_reference: int, n_current: int) -> DriftReport:
    reasons = [f.reason for f in features if f.significant]
    return DriftReport(
        service=service, week=week, significant=bool(reasons), reasons=reasons, features=features, notes=notes,
        current=Window(start=current_window[0], end=current_window[1], requests=n_current),
        reference=Window(start=reference_window[0], end=reference_window[1], requests=n_reference),
        thresholds=cfg,
    )


def build_report(service: str, week: str, reference: Sequence[Record], current: Sequence[Record],
                 cfg: DriftReviewConfig, *, reference_window: tuple[datetime, datetime],
                 current_window: tuple[datetime, datetime]) -> DriftReport:
    features, notes = compare(reference, current, cfg)
    return report_from(service, week, features, notes, cfg, reference_window=reference_window,
                       current_window=current_window, n_reference=len(reference), n_current=len(current))


# ------------------------------------------------------------------------ Great Expectations

LOG_COLUMNS = ("ts", "request_id", "service", "release_id", "variant", "model", "prompt_version", "prompt_sha256",
               "status", "error_code", "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd",
               "schema_ok", "retries")


def run_expectations(records: Sequence[Record] | Any, *, max_output_tokens: int, min_schema_valid: float = 0.99,
                     max_error_rate: float = 0.05, max_latency_ms: float = 120_000) -> dict[str, Any]:
    """A Great Expectations suite over the log lines (a list of records or a pandas DataFrame of
    LOG_COLUMNS, e.g. drift_sql.expectation_sample); returns a JSON-able summary.

    GX is imported here, not at module load: it costs seconds and ~200 MB, and only the review needs it.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    if isinstance(records, pd.DataFrame):
        df = records.reindex(columns=list(LOG_COLUMNS))
    else:
        df = pd.DataFrame([{c: r.get(c) for c in LOG_COLUMNS} for r in records], columns=list(LOG_COLUMNS))
    for col in ("latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd", "status"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (ctx.data_sources.add_pandas("request_log").add_dataframe_asset("requests")
             .add_batch_definition_whole_dataframe("week"))
    suite = ctx.suites.add(gx.ExpectationSuite(name="request_log"))
    expectations = [
        *(gxe.ExpectColumnToExist(column=c) for c in LOG_COLUMNS),
        gxe.ExpectColumnValuesToNotBeNull(column="ts"),
        gxe.ExpectColumnValuesToNotBeNull(column="request_id"),
        gxe.ExpectColumnValuesToBeUnique(column="request_id", mostly=0.999),
        gxe.ExpectColumnValuesToBeInSet(column="variant", value_set=["stable", "candidate"]),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=[200], mostly=1 - max_error_rate),
        gxe.ExpectColumnValuesToBeBetween(column="latency_ms", min_value=0, max_value=max_latency_ms, mostly=0.999),
        gxe.ExpectColumnValuesToBeBetween(column="input_tokens", min_value=1, mostly=0.999),
        gxe.ExpectColumnValuesToBeBetween(column="output_tokens", min_value=0, max_value=max_output_tokens,
                                          mostly=0.99),
        gxe.ExpectColumnValuesToBeBetween(column="cost_usd", min_value=0),
        gxe.ExpectColumnValuesToBeInSet(column="schema_ok", value_set=[True], mostly=min_schema_valid),
    ]
    for e in expectations:
        suite.add_expectation(e)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="request_log_week", data=batch, suite=suite))
    result = vd.run(batch_parameters={"dataframe": df})
    results = []
    for r in result.results:
        kw = r.expectation_config.kwargs
        results.append({
            "expectation": r.expectation_config.type, "column": kw.get("column"), "success": bool(r.success),
            "mostly": kw.get("mostly"), "unexpected_percent": _round(r.result.get("unexpected_percent")),
            "element_count": r.result.get("element_count"),
        })
    failed = [x for x in results if not x["success"]]
    return {"suite": "request_log", "success": bool(result.success), "evaluated": len(results),
            "failed": len(failed), "results": results, "rows": len(df)}


def _round(x: Any) -> float | None:
    return None if x is None else round(float(x), 4)


# ----------------------------------------------------------------------------------- markdown


def _fmt(v: float | None, rate: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v * 100:.2f}%" if rate else f"{v:g}"


def drift_markdown(report: DriftReport, charts: Sequence[str] = (), sections: Sequence[str] = ()) -> str:
    """``sections``: more Markdown lines (the quality section, reviews/quality.py) before the notes."""
    head = "**Significant drift**: releases are frozen until someone lifts it." if report.significant else \
        "No significant drift."
    lines = [
        f"# Drift review {report.service} {report.week}", "", head, "",
        f"Current: {report.current.start:%Y-%m-%d} .. {report.current.end:%Y-%m-%d}, {report.current.requests} "
        f"requests. Reference: {report.reference.start:%Y-%m-%d} .. {report.reference.end:%Y-%m-%d}, "
        f"{report.reference.requests} requests.", "",
    ]
    if report.reasons:
        lines += ["## Why", "", *(f"- {r}" for r in report.reasons), ""]
    lines += ["## Features", "", "| feature | phase | reference | current | PSI | KS p | rate p |",
              "|---|---|---|---|---|---|---|"]
    for f in report.features:
        key = "rate" if f.kind == "rate" else "mean"
        rate = f.kind == "rate"
        lines.append(f"| {f.title} | {f.phase.value} | {_fmt(f.reference.get(key), rate)} | "
                     f"{_fmt(f.current.get(key), rate)} | {_fmt(f.psi)} | "
                     f"{'-' if f.ks_pvalue is None else f'{f.ks_pvalue:.2g}'} | "
                     f"{'-' if f.p_value is None else f'{f.p_value:.2g}'} |")
    if report.expectations:
        e = report.expectations
        lines += ["", f"## Log expectations (Great Expectations): {'pass' if e.get('success') else 'FAIL'}", "",
                  f"{e.get('evaluated', 0) - e.get('failed', 0)}/{e.get('evaluated', 0)} expectations met over "
                  f"{e.get('rows', 0)} lines."]
        for x in e.get("results", []):
            if not x["success"]:
                lines.append(f"- {x['expectation']} on `{x['column']}`: {x['unexpected_percent']}% unexpected "
                             f"(mostly={x['mostly']})")
    q = report.log_quality
    if q:
        lines += ["", "## Log quality", ""]
        lines += [f"- {name}: {v.get('records', 0)} records from {v.get('files', 0)} files, {v.get('bad_lines', 0)} "
                  f"bad lines" for name, v in q.items() if isinstance(v, dict)]
    if sections:
        lines += ["", *sections]
    if report.notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in report.notes)]
    if charts:
        lines += ["", *(f"![{c}]({c})" for c in charts)]
    return "\n".join(lines) + "\n"
