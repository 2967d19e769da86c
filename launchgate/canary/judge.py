"""The canary judge: pure statistics over per-variant window stats, no I/O and no clock.

Why sequential tests: the judge looks at the same, growing sample every interval. Comparing a raw
rate with the threshold each time rolls back healthy canaries (a 0.5% canary shows one error in
60 requests a quarter of the time), and a fixed-sample test checked repeatedly inflates its false
positive rate with every look. Each check here is instead a test whose error bound holds over all
the looks of the window, at any sample size (Ville's inequality on a nonnegative supermartingale):

* error rate, schema failures, slow requests: Wald's SPRT on Bernoulli outcomes, H0: p <= p0 with
  p0 = max(threshold, stable's rate), against H1: p = ``effect`` x p0, with a floor. The plain
  SPRT keeps the evidence of every healthy request, so a fault that starts late in a long window
  must first pay back minutes of "healthy" credit (after 400 clean requests at 0.5%, an 8% fault
  needs ~230 requests to be detected). Flooring the log-likelihood ratio at -L (a CUSUM-style
  restart) caps that credit. The bound then becomes: each epoch that starts at 0 or at the floor
  reaches the boundary A with probability <= e^-A resp. e^-(A+L) under any p <= p0 (the LR is a
  supermartingale), and the floor restarts at most once per look, so over M looks
  P(rolling back a canary within threshold) <= e^-A (1 + M e^-L). With L = ln M + 1 and
  A = ln((1 + M e^-L) / alpha) that is <= alpha. Cumulative stats arrive every look; the judge
  keeps the previous counts to feed the test the increments.
* cost/request: a one-sided normal-mixture confidence sequence (Robbins) for the canary's mean
  cost; it fails when the lower bound clears stable's cost x (1 + allowed increase).

FAILED may come before ``min_requests``: the guarantee does not depend on sample size, and a
canary failing every request should not wait for 50 of them. ``min_requests`` guards promotion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, Field

from launchgate.config import Canary, Rollback
from launchgate.router.base import CANDIDATE, STABLE, WindowStats
from launchgate.verdicts import Measurement, Phase, Verdict, pct

EVIDENCE = "canary/canary_summary.json"
LATENCY_QUANTILE = 0.95
# Assumed coefficient of variation of one request's cost (no metrics source reports its spread).
# Cost is tokens x price; output length of a chat model varies with a CV of ~0.2-0.4.
COST_CV = 0.5
# The normal mixture's tuning: tightest around this many requests (a few minutes of canary traffic).
COST_MIX_N = 200


class Action(StrEnum):
    CONTINUE = "continue"  # keep watching
    HOLD = "hold"  # metrics unavailable: keep the current weight, do not step up
    ROLLBACK = "rollback"
    PROMOTE = "promote"


@dataclass(frozen=True)
class JudgeConfig:
    """Thresholds as fractions (config uses percent), and the test's knobs.

    alpha = 0.05 bounds the chance of rolling back a canary sitting exactly at a threshold over the
    whole window; a healthy canary well below it (0.5% errors vs 1.5%) is rolled back far less
    often (~0 in benchmarks/canary_judge.py). 0.01 would cost ~50% more requests to detect a 3x breach.
    """

    error_rate: float = 0.015
    schema_failure_rate: float = 0.01
    p95_ms: float = 2000.0
    cost_increase: float = 0.20
    retry_rate: float = 0.03
    min_requests: int = 50
    alpha: float = 0.05
    effect: float = 3.0
    max_metric_errors: int = 3
    looks: int = 121  # looks per window (duration / interval + the final one): sets floor and boundary

    @classmethod
    def from_config(cls, canary: Canary, rollback: Rollback) -> JudgeConfig:
        return cls(
            error_rate=rollback.error_rate_threshold / 100, schema_failure_rate=rollback.schema_failure_threshold / 100,
            p95_ms=rollback.latency_p95_threshold_ms, cost_increase=rollback.cost_per_request_increase / 100,
            retry_rate=rollback.retry_rate_threshold / 100,
            min_requests=canary.min_requests, alpha=canary.alpha, max_metric_errors=canary.max_metric_errors,
            looks=math.ceil(canary.duration_s / canary.interval_s) + 1,
        )

    @property
    def floor(self) -> float:
        """How much healthy evidence the test may bank: L = ln(looks) + 1."""
        return math.log(max(self.looks, 1)) + 1

    @property
    def boundary(self) -> float:
        """Roll back once the floored log-likelihood ratio reaches A = ln((1 + M e^-L) / alpha)."""
        return math.log((1 + max(self.looks, 1) * math.exp(-self.floor)) / self.alpha)


class Detection(BaseModel):
    """How a sequential test came to roll back: the requests it took against the fewest it could have.

    ``rate`` is the failure rate over the requests that carried the evidence, counted from the
    test's lowest point (a breach that starts late is diluted by the healthy requests before it,
    which the floor has already written off). ``min_requests`` is the fewest requests at that
    rate that can take the test from 0 to the boundary: however often the judge looks, it cannot
    decide sooner, so at a given canary traffic it is a floor on the time to detect.
    """

    check: str
    requests: int = Field(description="the check's requests when the test crossed the boundary")
    evidence_requests: int = Field(description="of those, the requests since the test's lowest point")
    rate: float = Field(description="failure rate over the evidence requests")
    min_requests: int | None = Field(description="fewest requests at that rate that can cross; None = never")
    p0: float
    p1: float
    boundary: float


class Judgement(BaseModel):
    at_s: float = Field(description="seconds since the canary started")
    phase: Phase
    action: Action
    reason: str
    verdicts: list[Verdict]
    canary_requests: int = 0
    stable_requests: int = 0
    detection: Detection | None = Field(default=None, description="set when a sequential test rolled back")


# -- the tests ----------------------------------------------------------------------------------


def bernoulli_llr(failures: int, n: int, p0: float, p1: float) -> float:
    """log of the SPRT likelihood ratio for H1: p = p1 against H0: p = p0 after n trials."""
    return failures * math.log(p1 / p0) + (n - failures) * math.log((1 - p1) / (1 - p0))


def requests_to_cross(rate: float, p0: float, p1: float, boundary: float) -> int | None:
    """Fewest requests in which a canary failing at ``rate`` can take the SPRT from 0 to ``boundary``.

    At that rate each request adds d = rate ln(p1/p0) + (1 - rate) ln((1 - p1)/(1 - p0)) to the
    log-likelihood ratio, so the test crosses after ceil(boundary / d) requests and no sooner.
    None when d <= 0: a rate at or below the test's indifference point never crosses.
    """
    drift = rate * math.log(p1 / p0) + (1 - rate) * math.log((1 - p1) / (1 - p0))
    if drift <= 0:
        return None
    return max(1, math.ceil(boundary / drift - 1e-9))


def alternative(p0: float, effect: float) -> float:
    # Stay inside (p0, 1) for large baselines.
    return min(p0 * effect, (1 + p0) / 2)


def mixture_radius(n: int, sigma: float, alpha: float, mix_n: int = COST_MIX_N) -> float:
    """Half-width of a one-sided normal-mixture confidence sequence for a mean after n samples.

    P(exists n: mean_n - mu >= radius_n) <= alpha for sigma-sub-Gaussian samples (Howard et al.
    2021, eq. 14 with rho = mix_n * sigma^2).
    """
    if n <= 0 or sigma <= 0:
        return math.inf if n <= 0 else 0.0
    v, rho = n * sigma**2, mix_n * sigma**2
    return math.sqrt((v + rho) * math.log((v + rho) / (rho * alpha**2))) / n


def slow_fraction(stats: WindowStats, threshold_ms: float) -> float | None:
    """Estimated share of requests slower than ``threshold_ms``, from the quantiles the source reports.

    Log-linear interpolation of the CDF between the reported quantiles (p50/p95/p99); beyond the
    outermost one it decays linearly. An estimate, not a bound: exact when the source counts slow
    requests (``slow_requests``).
    """
    if stats.slow_requests is not None and stats.count:
        return stats.slow_requests / stats.count
    points = sorted(
        (q, v) for q, v in ((0.50, stats.p50_ms), (0.95, stats.p95_ms), (0.99, stats.p99_ms)) if v and v > 0
    )
    if not points:
        return None
    q_top, v_top = points[-1]
    if threshold_ms >= v_top:
        return (1 - q_top) * v_top / threshold_ms
    q_low, v_low = points[0]
    if threshold_ms < v_low:
        return 1 - q_low * threshold_ms / v_low
    for (qa, va), (qb, vb) in zip(points, points[1:], strict=False):
        if va <= threshold_ms < vb:
            frac = math.log(threshold_ms / va) / math.log(vb / va)
            return 1 - (qa + frac * (qb - qa))
    return 1 - q_top  # quantiles equal to each other and the threshold


# -- the checks ---------------------------------------------------------------------------------


@dataclass
class FlooredSprt:
    """The sequential test's memory: counts already seen and the floored log-likelihood ratio."""

    n: int = 0
    failures: int = 0
    llr: float = 0.0
    p0: float = 0.0
    p1: float = 0.0
    # The lowest point so far (counts and LR): the evidence that crossed the boundary came after it.
    low_n: int = 0
    low_failures: int = 0
    low_llr: float = 0.0

    def update(self, failures: int, n: int, p0: float, p1: float, floor: float) -> float:
        # Metrics report cumulative counts; feed only what is new since the last look. Counts that
        # shrink (a metrics source that forgot requests) add nothing rather than negative evidence.
        dn = max(0, n - self.n)
        dx = min(max(0, failures - self.failures), dn)
        if dn:
            self.llr = max(self.llr + bernoulli_llr(dx, dn, p0, p1), -floor)
        self.n, self.failures = max(self.n, n), max(self.failures, failures)
        self.p0, self.p1 = p0, p1
        if self.llr <= self.low_llr:
            self.low_n, self.low_failures, self.low_llr = self.n, self.failures, self.llr
        return self.llr

    def detection(self, check: str, boundary: float) -> Detection:
        evidence = self.n - self.low_n
        rate = (self.failures - self.low_failures) / evidence if evidence else 0.0
        return Detection(check=check, requests=self.n, evidence_requests=evidence, rate=round(rate, 6),
                         min_requests=requests_to_cross(rate, self.p0, self.p1, boundary) if rate > 0 else None,
                         p0=self.p0, p1=self.p1, boundary=round(boundary, 4))


def _rate_check(check: str, what: str, fails: int, n: int, stable_fails: int, stable_n: int, limit: float,
                cfg: JudgeConfig, final: bool, sprt: FlooredSprt, *, counted: str = "", fmt_value: str | None = None,
                labels: tuple[str, str] | None = None) -> Verdict:
    """SPRT for 'the canary's rate exceeds max(limit, stable's rate)'.

    ``labels`` names the threshold and stable's level when the rate is a proxy (latency).
    """
    rate = fails / n if n else None
    stable_rate = stable_fails / stable_n if stable_n else None
    # Clamped so that a 0% threshold (or a 100% failing stable) still gives a finite test.
    p0 = min(max(limit, stable_rate or 0.0, 1e-4), 0.99)
    p1 = alternative(p0, cfg.effect)
    llr = sprt.update(fails, n, p0, p1, cfg.floor)
    limit_label, stable_label = labels or (pct(limit), f"stable's {pct(p0)}")
    null = limit_label if p0 == limit else f"{stable_label} (above the {limit_label} threshold)"
    shown = fmt_value or (pct(rate) if rate is not None else "n/a")
    extra = f", {counted}" if counted else ""
    stats = f"over {n} canary requests{extra}"
    m = [Measurement(name=f"{check}.llr", value=round(llr, 3), phase=Phase.INCONCLUSIVE,
                     message=f"p0={p0:.4f} p1={p1:.4f} failures={fails} n={n}")]
    kw = {"check": check, "value": rate, "threshold": limit, "evidence": EVIDENCE, "measurements": m}
    if llr >= cfg.boundary:
        m[0].phase = Phase.FAILED
        return Verdict(phase=Phase.FAILED, reason=f"{what} {shown} > {null} {stats} "
                       f"(SPRT log-LR {llr:.1f} > {cfg.boundary:.1f}): rolled back to stable.", **kw)
    if n < cfg.min_requests:
        return Verdict(phase=Phase.INCONCLUSIVE, reason=f"{what} {shown} {stats}: too few to judge, "
                       f"need {cfg.min_requests} (SPRT log-LR {llr:.1f}, rollback at {cfg.boundary:.1f}).", **kw)
    if final and rate is not None and rate > p0:
        return Verdict(phase=Phase.INCONCLUSIVE, reason=f"{what} {shown} is above {null} {stats} but not "
                       f"significantly (SPRT log-LR {llr:.1f} < {cfg.boundary:.1f}): not promoted; "
                       f"rerun with a longer canary window.", **kw)
    m[0].phase = Phase.SUCCESSFUL
    sofar = "" if final else " so far"
    return Verdict(phase=Phase.SUCCESSFUL, reason=f"{what} {shown} <= {null} {stats}{sofar} "
                   f"(SPRT log-LR {llr:.1f}).", **kw)


def error_check(c: WindowStats, s: WindowStats, cfg: JudgeConfig, final: bool, sprt: FlooredSprt) -> Verdict:
    return _rate_check("canary_error_rate", "error rate", c.errors, c.count, s.errors, s.count, cfg.error_rate,
                       cfg, final, sprt)


def schema_check(c: WindowStats, s: WindowStats, cfg: JudgeConfig, final: bool, sprt: FlooredSprt) -> Verdict:
    # Over the answers that were checked: errors and truncated replies have no output to validate.
    return _rate_check("canary_schema_failures", "schema failure rate", c.schema_failures, c.schema_n,
                       s.schema_failures, s.schema_n, cfg.schema_failure_rate, cfg, final, sprt)


def retry_check(c: WindowStats, s: WindowStats, cfg: JudgeConfig, final: bool, sprt: FlooredSprt) -> Verdict:
    """The seed's retry SLO: requests that needed an upstream retry (connection or output contract)."""
    return _rate_check("canary_retry_rate", "retry rate", c.retried or 0, c.count, s.retried or 0, s.count,
                       cfg.retry_rate, cfg, final, sprt)


def latency_check(c: WindowStats, s: WindowStats, cfg: JudgeConfig, final: bool, sprt: FlooredSprt) -> Verdict:
    """p95 > T  <=>  more than 5% of requests are slower than T: an SPRT on 'slow' outcomes."""
    check, tail = "canary_latency_p95", 1 - LATENCY_QUANTILE
    frac = slow_fraction(c, cfg.p95_ms)
    if frac is None:
        if c.count == 0:
            return _rate_check(check, "p95 latency", 0, 0, 0, 0, tail, cfg, final, sprt, fmt_value="n/a")
        if c.max_ms is not None and c.max_ms <= cfg.p95_ms and c.count >= cfg.min_requests:
            # Without percentiles the maximum still bounds p95 from above.
            return Verdict(check=check, phase=Phase.SUCCESSFUL, value=c.max_ms, threshold=cfg.p95_ms,
                           evidence=EVIDENCE, reason=f"max latency {c.max_ms:.0f} ms <= {cfg.p95_ms:.0f} ms over "
                                                     f"{c.count} canary requests, so p95 is within threshold too.")
        return Verdict(check=check, phase=Phase.INCONCLUSIVE, threshold=cfg.p95_ms, evidence=EVIDENCE,
                       reason=f"p95 latency is not reported by the metrics source for {c.count} canary requests "
                              f"(max {c.max_ms or 0:.0f} ms): enable canary.sagemaker.latency_percentiles.")
    slow = round(frac * c.count)
    s_frac = slow_fraction(s, cfg.p95_ms) or 0.0
    shown = f"{c.p95_ms:.0f} ms" if c.p95_ms is not None else f"~{pct(frac)} slow"
    stable_p95 = f"stable's {s.p95_ms:.0f} ms" if s.p95_ms is not None else "stable's latency"
    v = _rate_check(check, "p95 latency", slow, c.count, round(s_frac * s.count), s.count, tail, cfg, final, sprt,
                    counted=f"~{slow} slower than {cfg.p95_ms:.0f} ms", fmt_value=shown,
                    labels=(f"{cfg.p95_ms:.0f} ms", stable_p95))
    # The SPRT ran on the slow share (threshold 5%); the verdict reports the latency itself.
    v.value, v.threshold = c.p95_ms, cfg.p95_ms
    return v


def cost_check(c: WindowStats, s: WindowStats, cfg: JudgeConfig, final: bool, _sprt: FlooredSprt) -> Verdict:
    check = "canary_cost_per_request"
    if c.cost_per_request is None or s.cost_per_request is None or s.cost_per_request <= 0 or c.count == 0:
        phase = Phase.INCONCLUSIVE
        return Verdict(check=check, phase=phase, threshold=cfg.cost_increase, evidence=EVIDENCE,
                       reason=f"cost/request cannot be compared yet ({c.count} canary, {s.count} stable requests "
                              f"with cost).")
    limit = s.cost_per_request * (1 + cfg.cost_increase)
    increase = c.cost_per_request / s.cost_per_request - 1
    lower = c.cost_per_request - mixture_radius(c.count, COST_CV * c.cost_per_request, cfg.alpha)
    head = (f"cost/request ${c.cost_per_request:.5f} vs stable ${s.cost_per_request:.5f} "
            f"({increase:+.0%}, allowed +{cfg.cost_increase:.0%}) over {c.count} canary requests")
    kw = {"check": check, "value": round(increase, 4), "threshold": cfg.cost_increase, "evidence": EVIDENCE}
    if lower > limit:
        return Verdict(phase=Phase.FAILED, reason=f"{head}: lower confidence bound ${lower:.5f} > "
                       f"${limit:.5f}: rolled back to stable.", **kw)
    if c.count < cfg.min_requests:
        return Verdict(phase=Phase.INCONCLUSIVE, reason=f"{head}: too few to judge, need {cfg.min_requests}.", **kw)
    if final and c.cost_per_request > limit:
        return Verdict(phase=Phase.INCONCLUSIVE, reason=f"{head}: above the limit but not significantly "
                       f"(lower bound ${lower:.5f}): not promoted.", **kw)
    return Verdict(phase=Phase.SUCCESSFUL, reason=f"{head}: within the limit{'' if final else ' so far'}.", **kw)


CHECKS = {"errors": error_check, "latency": latency_check, "schema": schema_check, "cost": cost_check,
          "retries": retry_check}
# The checks that run a sequential test, by the name their verdict carries.
SPRT_TESTS = {"canary_error_rate": "errors", "canary_latency_p95": "latency", "canary_schema_failures": "schema",
              "canary_retry_rate": "retries"}


def _measured(name: str, c: WindowStats) -> bool:
    """A check the source declares unmeasured, or retries from a source that does not count them, is left out."""
    return name not in c.unmeasured and not (name == "retries" and c.retried is None)


def judge_window(stats: Mapping[str, WindowStats], cfg: JudgeConfig, *, final: bool,
                 state: dict[str, FlooredSprt] | None = None) -> list[Verdict]:
    """Every check the metrics source can measure, on one look at the cumulative stats.

    ``state`` carries each check's sequential test from look to look (updated in place); without
    it, the look is judged as if it were the first. A check the source declares unmeasured (e.g.
    cost on plain CloudWatch) is left out rather than passed.
    """
    state = {} if state is None else state
    c = stats.get(CANDIDATE) or WindowStats()
    s = stats.get(STABLE) or WindowStats()
    return [check(c, s, cfg, final, state.setdefault(name, FlooredSprt()))
            for name, check in CHECKS.items() if _measured(name, c)]


# -- the judge over time -------------------------------------------------------------------------


class CanaryJudge:
    """Turns each interval's stats into an action; remembers the tests' state and missing metrics."""

    def __init__(self, cfg: JudgeConfig) -> None:
        self.cfg = cfg
        self.metric_errors = 0
        self.tests: dict[str, FlooredSprt] = {}

    def judge(self, stats: Mapping[str, WindowStats] | None, *, at_s: float, final: bool = False,
              error: str | None = None) -> Judgement:
        if stats is None:
            return self._unavailable(at_s, final, error or "no stats returned")
        self.metric_errors = 0
        verdicts = judge_window(stats, self.cfg, final=final, state=self.tests)
        c = stats.get(CANDIDATE) or WindowStats()
        s = stats.get(STABLE) or WindowStats()
        counts = {"canary_requests": c.count, "stable_requests": s.count}
        failed = [v for v in verdicts if v.phase is Phase.FAILED]
        if failed:
            test = self.tests.get(SPRT_TESTS.get(failed[0].check, ""))
            detection = test.detection(failed[0].check, self.cfg.boundary) if test is not None else None
            return Judgement(at_s=at_s, phase=Phase.FAILED, action=Action.ROLLBACK, reason=failed[0].reason,
                             verdicts=verdicts, detection=detection, **counts)
        if not final:
            return Judgement(at_s=at_s, phase=Phase.INCONCLUSIVE, action=Action.CONTINUE, verdicts=verdicts,
                             reason=f"watching: {c.count} canary / {s.count} stable requests, no breach.", **counts)
        open_ = [v for v in verdicts if v.phase is not Phase.SUCCESSFUL]
        if open_:
            return Judgement(at_s=at_s, phase=Phase.INCONCLUSIVE, action=Action.ROLLBACK, verdicts=verdicts,
                             reason=f"canary window ended without a clear result: {open_[0].reason}", **counts)
        return Judgement(at_s=at_s, phase=Phase.SUCCESSFUL, action=Action.PROMOTE, verdicts=verdicts,
                         reason=f"canary passed every check over {c.count} canary requests: promoted.", **counts)

    def _unavailable(self, at_s: float, final: bool, error: str) -> Judgement:
        self.metric_errors += 1
        n, limit = self.metric_errors, self.cfg.max_metric_errors
        give_up = n >= limit or final
        why = ("the window ended without metrics" if final and n < limit
               else f"{n} consecutive intervals without metrics")
        reason = (f"canary metrics unavailable ({error}): " +
                  (f"{why}, rolled back to stable because the canary cannot be watched." if give_up else
                   f"holding the current weight ({n}/{limit} before rollback)."))
        v = Verdict(check="canary_metrics", phase=Phase.ERROR, value=n, threshold=limit, reason=reason,
                    evidence=EVIDENCE)
        return Judgement(at_s=at_s, phase=Phase.ERROR, action=Action.ROLLBACK if give_up else Action.HOLD,
                         reason=reason, verdicts=[v])
