"""The statistical canary judge (launchgate.canary.judge): pure, so every case is exact."""

from __future__ import annotations

import math
import random

import pytest

from launchgate.canary.judge import (
    Action,
    CanaryJudge,
    JudgeConfig,
    bernoulli_llr,
    judge_window,
    mixture_radius,
    slow_fraction,
)
from launchgate.config import Canary, Rollback
from launchgate.router.base import WindowStats
from launchgate.verdicts import Phase

FAST = {"p50_ms": 40.0, "p95_ms": 120.0, "p99_ms": 200.0}
CFG = JudgeConfig()


def stats(n: int, errors: int = 0, *, schema: int = 0, cost: float = 0.0002, **kw: float) -> WindowStats:
    return WindowStats(count=n, errors=errors, schema_failures=schema, cost_per_request=cost, **{**FAST, **kw})


def window(cand: WindowStats, stable: WindowStats | None = None) -> dict[str, WindowStats]:
    return {"candidate": cand, "stable": stable or stats(2000, 10)}


def by_check(verdicts: list) -> dict:
    return {v.check: v for v in verdicts}


def test_config_maps_percent_thresholds_to_fractions() -> None:
    cfg = JudgeConfig.from_config(Canary(min_requests=80, alpha=0.01, interval_s=5, duration_s=600), Rollback())
    assert (cfg.error_rate, cfg.schema_failure_rate, cfg.p95_ms, cfg.cost_increase) == (0.015, 0.01, 2000.0, 0.2)
    assert cfg.min_requests == 80 and cfg.looks == 121
    # The false-rollback bound over all looks: e^-A (1 + M e^-L) == alpha.
    bound = math.exp(-cfg.boundary) * (1 + cfg.looks * math.exp(-cfg.floor))
    assert bound == pytest.approx(0.01) and cfg.floor == pytest.approx(math.log(121) + 1)


def test_llr_is_the_bernoulli_likelihood_ratio() -> None:
    assert bernoulli_llr(10, 212, 0.015, 0.045) == pytest.approx(
        10 * math.log(3) + 202 * math.log(0.955 / 0.985))
    assert bernoulli_llr(0, 0, 0.015, 0.045) == 0


def test_error_breach_fails_with_numbers_in_the_reason() -> None:
    j = CanaryJudge(CFG).judge(window(stats(212, 10)), at_s=106)
    assert j.action is Action.ROLLBACK and j.phase is Phase.FAILED
    v = by_check(j.verdicts)["canary_error_rate"]
    assert v.phase is Phase.FAILED and v.value == pytest.approx(10 / 212) and v.threshold == 0.015
    assert v.reason.startswith("error rate 4.7% > 1.5% over 212 canary requests (SPRT log-LR 4.7 > 3.3)")
    assert j.reason == v.reason


def test_the_floor_caps_healthy_credit_so_a_late_fault_is_caught_fast() -> None:
    judge, errors = CanaryJudge(CFG), 0
    for n in range(10, 1210, 10):  # ten healthy minutes at 2 req/s
        assert judge.judge(window(stats(n, 0)), at_s=n / 2).action is Action.CONTINUE
    assert judge.tests["errors"].llr == pytest.approx(-CFG.floor)
    for n in range(1210, 1400, 10):  # then 8% errors
        errors += 1 if n % 120 == 0 else 0
        errors = max(errors, round((n - 1200) * 0.08))
        j = judge.judge(window(stats(n, errors)), at_s=n / 2)
        if j.action is Action.ROLLBACK:
            break
    # Without the floor the 1200 clean requests (-37 of log-LR) would need ~600 faulty ones.
    assert j.action is Action.ROLLBACK and n - 1200 <= 160


def test_shrinking_counts_add_no_evidence() -> None:
    judge = CanaryJudge(CFG)
    judge.judge(window(stats(200, 9)), at_s=10)
    before = judge.tests["errors"].llr
    judge.judge(window(stats(150, 9)), at_s=15)  # the source forgot requests
    assert judge.tests["errors"].llr == before


def test_one_error_in_few_requests_is_not_a_breach() -> None:
    # The naive rule (1/60 = 1.7% > 1.5%) would roll back here.
    j = CanaryJudge(CFG).judge(window(stats(60, 1)), at_s=30)
    assert j.action is Action.CONTINUE
    assert by_check(j.verdicts)["canary_error_rate"].phase is Phase.SUCCESSFUL


def test_too_few_requests_is_inconclusive_but_a_total_failure_is_not_kept_waiting() -> None:
    few = by_check(judge_window(window(stats(12, 0)), CFG, final=False))["canary_error_rate"]
    assert few.phase is Phase.INCONCLUSIVE and "need 50" in few.reason
    burning = CanaryJudge(CFG).judge(window(stats(5, 5)), at_s=2)
    assert burning.action is Action.ROLLBACK and "over 5 canary requests" in burning.reason


def test_a_breach_shared_with_stable_is_not_blamed_on_the_candidate() -> None:
    # A shared dependency fails both: rolling back would not help, so the null moves to stable's rate.
    j = CanaryJudge(CFG).judge(window(stats(300, 15), stats(3000, 180)), at_s=60)
    v = by_check(j.verdicts)["canary_error_rate"]
    assert v.phase is Phase.SUCCESSFUL and "stable's 6.0% (above the 1.5% threshold)" in v.reason
    worse = CanaryJudge(CFG).judge(window(stats(300, 60), stats(3000, 180)), at_s=60)
    assert worse.action is Action.ROLLBACK and "> stable's 6.0%" in worse.reason


def test_window_end_promotes_only_with_enough_clean_data() -> None:
    good = CanaryJudge(CFG).judge(window(stats(400, 2)), at_s=300, final=True)
    assert good.action is Action.PROMOTE and good.phase is Phase.SUCCESSFUL
    assert all(v.phase is Phase.SUCCESSFUL for v in good.verdicts)
    thin = CanaryJudge(CFG).judge(window(stats(20, 0)), at_s=300, final=True)
    assert thin.action is Action.ROLLBACK and thin.phase is Phase.INCONCLUSIVE
    assert "without a clear result" in thin.reason and "need 50" in thin.reason
    # 2.5% > 1.5% but not significant over 120 requests: neither rolled back for cause nor promoted.
    murky = CanaryJudge(CFG).judge(window(stats(120, 3)), at_s=300, final=True)
    v = by_check(murky.verdicts)["canary_error_rate"]
    assert v.phase is Phase.INCONCLUSIVE and "not significantly" in v.reason
    assert murky.action is Action.ROLLBACK


def test_missing_metrics_hold_then_roll_back() -> None:
    judge = CanaryJudge(JudgeConfig(max_metric_errors=3))
    first = judge.judge(None, at_s=5, error="gateway admin GET /admin/stats timed out")
    assert first.action is Action.HOLD and first.phase is Phase.ERROR and "1/3" in first.reason
    assert judge.judge(None, at_s=10, error="x").action is Action.HOLD
    judge.judge(window(stats(10)), at_s=15)  # metrics came back: the count starts over
    assert judge.judge(None, at_s=20, error="x").action is Action.HOLD
    assert judge.judge(None, at_s=25, error="x").action is Action.HOLD
    third = judge.judge(None, at_s=30, error="HTTP 503")
    assert third.action is Action.ROLLBACK and "3 consecutive intervals without metrics" in third.reason
    assert third.verdicts[0].check == "canary_metrics"
    assert CanaryJudge(CFG).judge(None, at_s=300, final=True, error="x").action is Action.ROLLBACK


def test_slow_fraction_interpolates_between_reported_quantiles() -> None:
    s = WindowStats(count=100, p50_ms=900, p95_ms=2600, p99_ms=4000)
    expected = 1 - (0.5 + 0.45 * math.log(2000 / 900) / math.log(2600 / 900))
    assert slow_fraction(s, 2000) == pytest.approx(expected)
    assert slow_fraction(WindowStats(count=100, p50_ms=40, p95_ms=120, p99_ms=2000), 2000) == pytest.approx(0.01)
    assert slow_fraction(WindowStats(count=100, slow_requests=7, p95_ms=1.0), 2000) == 0.07  # exact count wins
    assert slow_fraction(WindowStats(count=100), 2000) is None


def test_latency_breach_fails_on_p95_and_quotes_it() -> None:
    slow = stats(212, 1, p50_ms=900, p95_ms=2600, p99_ms=4000)
    j = CanaryJudge(CFG).judge(window(slow), at_s=100)
    v = by_check(j.verdicts)["canary_latency_p95"]
    assert v.phase is Phase.FAILED and v.value == 2600 and v.threshold == 2000
    assert v.reason.startswith("p95 latency 2600 ms > 2000 ms over 212 canary requests, ~34 slower than 2000 ms")
    # p95 only slightly above: not enough evidence yet that more than 5% are slow.
    edge = by_check(judge_window(window(stats(212, 0, p50_ms=900, p95_ms=2050, p99_ms=2500)), CFG, final=False))
    assert edge["canary_latency_p95"].phase is not Phase.FAILED


def test_latency_without_percentiles_uses_the_maximum_as_a_bound() -> None:
    bounded = WindowStats(count=100, max_ms=900, cost_per_request=0.0002)
    v = by_check(judge_window(window(bounded), CFG, final=True))["canary_latency_p95"]
    assert v.phase is Phase.SUCCESSFUL and "max latency 900 ms" in v.reason
    unknown = WindowStats(count=100, max_ms=5000, cost_per_request=0.0002)
    v = by_check(judge_window(window(unknown), CFG, final=True))["canary_latency_p95"]
    assert v.phase is Phase.INCONCLUSIVE and "latency_percentiles" in v.reason


def test_schema_failures_are_judged_over_checked_answers() -> None:
    cand = stats(300, 0, schema=12).model_copy(update={"schema_checked": 280})
    v = by_check(CanaryJudge(CFG).judge(window(cand), at_s=60).verdicts)["canary_schema_failures"]
    assert v.phase is Phase.FAILED and "schema failure rate 4.3% > 1.0% over 280 canary requests" in v.reason


def test_cost_increase_needs_a_confident_lower_bound() -> None:
    doubled = by_check(judge_window(window(stats(200, 0, cost=0.0004)), CFG, final=False))["canary_cost_per_request"]
    assert doubled.phase is Phase.FAILED and "(+100%, allowed +20%)" in doubled.reason
    slight = by_check(judge_window(window(stats(200, 0, cost=0.00022)), CFG, final=True))["canary_cost_per_request"]
    assert slight.phase is Phase.SUCCESSFUL
    # +30% but few requests: above the limit, not significantly.
    unsure = by_check(judge_window(window(stats(60, 0, cost=0.00026)), CFG, final=True))["canary_cost_per_request"]
    assert unsure.phase is Phase.INCONCLUSIVE
    none = by_check(judge_window(window(stats(60, 0), stats(0, cost=None)), CFG, final=True))
    assert none["canary_cost_per_request"].phase is Phase.INCONCLUSIVE
    assert mixture_radius(400, 1.0, 0.05) < mixture_radius(100, 1.0, 0.05)


def test_checks_the_source_cannot_measure_are_left_out() -> None:
    cand = stats(300, 0).model_copy(update={"unmeasured": ["schema", "cost"]})
    checks = {v.check for v in judge_window(window(cand), CFG, final=True)}
    assert checks == {"canary_error_rate", "canary_latency_p95"}


def test_false_rollbacks_at_the_threshold_stay_below_alpha_under_continuous_looks() -> None:
    # The anytime guarantee: a canary sitting exactly at 1.5%, looked at every 10 requests for 600.
    rng = random.Random(7)
    trials, rolled = 150, 0
    for _ in range(trials):
        judge, errors = CanaryJudge(CFG), 0
        for n in range(1, 601):
            errors += rng.random() < 0.015
            if n % 10 == 0 and judge.judge(window(stats(n, errors)), at_s=n).action is Action.ROLLBACK:
                rolled += 1
                break
    assert rolled / trials <= CFG.alpha + 0.03


def test_retry_rate_over_the_slo_rolls_back_where_the_source_counts_retries() -> None:
    assert JudgeConfig.from_config(Canary(), Rollback(retry_rate_threshold=5)).retry_rate == 0.05
    # 30 of 300 canary requests needed an upstream retry (10%) against stable's 1%: above the 3% SLO.
    j = CanaryJudge(CFG).judge(window(stats(300, retried=30), stats(2000, 10, retried=20)), at_s=60)
    v = by_check(j.verdicts)["canary_retry_rate"]
    assert j.action is Action.ROLLBACK and v.phase is Phase.FAILED and v.threshold == 0.03
    assert v.reason.startswith("retry rate 10.0% > 3.0% over 300 canary requests") and j.reason == v.reason
    assert j.detection is not None and j.detection.check == "canary_retry_rate"
    # At 1% the check passes and the canary goes on.
    ok = CanaryJudge(CFG).judge(window(stats(300, retried=3), stats(2000, 10, retried=20)), at_s=60)
    assert ok.action is Action.CONTINUE and by_check(ok.verdicts)["canary_retry_rate"].phase is Phase.SUCCESSFUL


def test_a_source_without_retry_counts_is_not_judged_on_retries() -> None:
    verdicts = judge_window(window(stats(300)), CFG, final=False)
    assert "canary_retry_rate" not in by_check(verdicts)


def test_gateway_stats_carry_the_retry_count() -> None:
    from launchgate.router.gateway import to_window_stats

    assert to_window_stats({"count": 10, "retried": 2}).retried == 2
    assert to_window_stats({"count": 10}).retried is None
