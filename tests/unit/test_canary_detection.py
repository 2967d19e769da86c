"""The canary evidence says how many requests the judge needed to decide, the fewest it could have
needed at the observed rate, and whether traffic or the look interval limited the time to detect."""

from __future__ import annotations

import math

import pytest

from launchgate.canary.judge import CanaryJudge, JudgeConfig, bernoulli_llr
from launchgate.canary.report import summary, summary_markdown
from launchgate.canary.rollout import CanaryPlan, run_canary
from tests.unit.test_canary_rollout import Clock, FakeMetrics, FakeRouter

# The demo: a 2 s interval over a 30 s window, 10% of ~60 req/s = ~6 canary req/s, errors at 8%.
DEMO = JudgeConfig(looks=math.ceil(30 / 2) + 1)


def test_fewest_requests_to_cross_is_where_the_llr_first_reaches_the_boundary() -> None:
    from launchgate.canary.judge import requests_to_cross

    p0, p1 = 0.015, 0.045
    n = requests_to_cross(0.08, p0, p1, DEMO.boundary)
    assert n is not None and 40 <= n <= 70  # ~56: about 9 s at 6 req/s
    drift = 0.08 * math.log(p1 / p0) + 0.92 * math.log((1 - p1) / (1 - p0))
    assert n * drift >= DEMO.boundary > (n - 1) * drift
    assert bernoulli_llr(round(0.08 * (n + 10)), n + 10, p0, p1) >= DEMO.boundary
    assert requests_to_cross(0.01, p0, p1, DEMO.boundary) is None  # below the indifference point: never


def _canary(rps: float, interval_s: float, rate: float = 0.08):  # noqa: ANN202
    clock = Clock()
    plan = CanaryPlan(steps=[10], interval_s=interval_s, duration_s=30, lease_ttl_s=10, holder="h")
    cfg = JudgeConfig(looks=math.ceil(30 / interval_s) + 1)
    out = run_canary(FakeRouter(clock), FakeMetrics(clock, lambda t: rate, rps=rps), CanaryJudge(cfg), plan,
                     clock=clock, sleep=clock.sleep)
    return out, cfg


def test_traffic_limited_rollback_says_so() -> None:
    out, cfg = _canary(rps=6, interval_s=2)
    assert out.result == "rolled_back"
    s = summary(out, cfg, release_id="r", router="fake", interval_s=2)
    d = s["detection"]
    assert d["check"] == "canary_error_rate"
    assert d["decided_after_requests"] == out.judgement.canary_requests
    assert d["min_requests"] <= d["decided_after_requests"] <= d["min_requests"] + 2 * 6 * 2  # within ~2 looks
    assert d["canary_rps"] == pytest.approx(6, rel=0.1) and d["min_seconds"] > 2
    assert d["limited_by"] == "traffic"
    md = summary_markdown(s)
    assert "traffic, not the 2 s interval" in md and str(d["min_requests"]) in md


def test_interval_limited_rollback_says_so() -> None:
    out, cfg = _canary(rps=200, interval_s=5)
    s = summary(out, cfg, release_id="r", router="fake", interval_s=5)
    d = s["detection"]
    assert d["limited_by"] == "interval" and d["min_seconds"] < 5
    assert "shorter canary.interval_s" in summary_markdown(s)


def test_promotion_reports_the_requests_it_took() -> None:
    out, cfg = _canary(rps=20, interval_s=2, rate=0.0)
    assert out.result == "promoted"
    s = summary(out, cfg, release_id="r", router="fake", interval_s=2)
    assert s["detection"]["decided_after_requests"] == out.judgement.canary_requests
    assert s["detection"]["limited_by"] == "window"
