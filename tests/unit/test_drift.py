"""Drift statistics on synthetic request logs with known shifts (and without)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from launchgate.requestlog.reader import AT, parse_ts
from launchgate.reviews.config import DriftReviewConfig
from launchgate.reviews.drift import (
    build_report,
    compare,
    drift_markdown,
    previous_week,
    psi,
    run_expectations,
    week_bounds,
)
from launchgate.verdicts import Phase
from tests.support.requestlog import synth_requests

WEEK = "2026-W45"
START, END = week_bounds(WEEK)
CFG = DriftReviewConfig()


def window(start: datetime, days: float, seed: int, **kw: object) -> list[dict]:  # type: ignore[type-arg]
    lines = synth_requests(start, days=days, per_day=150, seed=seed, **kw)  # type: ignore[arg-type]
    for line in lines:
        line[AT] = parse_ts(line["ts"])
    return lines


def reference(**kw: object) -> list[dict]:  # type: ignore[type-arg]
    return window(START - timedelta(weeks=4), 28, seed=1, **kw)


def by_name(features: list) -> dict:  # type: ignore[type-arg]
    return {f.name: f for f in features}


def test_week_helpers() -> None:
    assert datetime(2026, 11, 2, tzinfo=UTC) == START and timedelta(days=7) == END - START
    assert previous_week(datetime(2026, 11, 9, 9, 0, tzinfo=UTC)) == WEEK
    with pytest.raises(ValueError, match="ISO week"):
        week_bounds("2026-45")


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(5, 0.4, 5000), rng.lognormal(5, 0.4, 1000)
    assert psi(a, b) < 0.05
    assert psi(a, rng.lognormal(5.5, 0.4, 1000)) > 0.5


def test_unshifted_traffic_raises_no_flag() -> None:
    features, notes = compare(reference(), window(START, 7, seed=2), CFG)
    assert all(f.phase is Phase.SUCCESSFUL for f in features), [f.reason for f in features if f.blocks]
    assert {f.name for f in features} >= {"input_tokens", "output_tokens", "tokens_per_request", "latency_ms",
                                          "error_rate", "schema_failure_rate"}
    assert any("Refusal rate skipped" in n for n in notes)


def test_longer_answers_are_flagged_with_numbers() -> None:
    report = build_report("support-bot", WEEK, reference(), window(START, 7, seed=2, output_tokens_mean=200), CFG,
                          reference_window=(START - timedelta(weeks=4), START), current_window=(START, END))
    f = by_name(report.features)
    assert report.significant
    assert f["output_tokens"].phase is Phase.FAILED and f["output_tokens"].psi >= 0.2  # type: ignore[operator]
    assert f["input_tokens"].phase is Phase.SUCCESSFUL
    assert any("Output length (tokens) shifted" in r and "mean" in r for r in report.reasons)
    assert "Significant drift" in drift_markdown(report)


def test_error_and_refusal_rate_rises_are_flagged_but_falls_are_not() -> None:
    ref = reference(error_rate=0.01, refusal_rate=0.02)
    worse = by_name(compare(ref, window(START, 7, seed=2, error_rate=0.05, refusal_rate=0.08), CFG)[0])
    assert worse["error_rate"].phase is Phase.FAILED and "+" in worse["error_rate"].reason
    assert worse["refusal_rate"].phase is Phase.FAILED
    better = by_name(compare(ref, window(START, 7, seed=2, error_rate=0.0, refusal_rate=0.0), CFG)[0])
    assert better["error_rate"].phase is Phase.SUCCESSFUL and better["refusal_rate"].phase is Phase.SUCCESSFUL


def rate_lines(n: int, errors: int) -> list[dict]:  # type: ignore[type-arg]
    return [{"status": 502 if i < errors else 200, "error_code": "upstream_error" if i < errors else None}
            for i in range(n)]


def test_a_small_but_significant_rate_rise_below_the_minimum_is_not_drift() -> None:
    # 1% -> 1.6% on 20k requests each is statistically significant, but below the 1 pp that merits a freeze.
    f = by_name(compare(rate_lines(20000, 200), rate_lines(20000, 320), CFG)[0])["error_rate"]
    assert f.p_value is not None and f.p_value < CFG.rate_alpha and f.phase is Phase.SUCCESSFUL
    f = by_name(compare(rate_lines(20000, 200), rate_lines(20000, 420), CFG)[0])["error_rate"]
    assert f.phase is Phase.FAILED  # 1% -> 2.1%: past both bars


def test_too_little_data_is_inconclusive_not_drift() -> None:
    features, _ = compare(reference()[:50], window(START, 7, seed=2, output_tokens_mean=400)[:50], CFG)
    assert all(f.phase is Phase.INCONCLUSIVE for f in features)
    report = build_report("support-bot", WEEK, [], window(START, 7, seed=2), CFG,
                          reference_window=(START - timedelta(weeks=4), START), current_window=(START, END))
    assert not report.significant and any("reference window has no requests" in n for n in report.notes)


def test_great_expectations_suite_passes_clean_log_and_fails_overlong_answers() -> None:
    clean = run_expectations(window(START, 2, seed=3), max_output_tokens=400)
    assert clean["success"], [r for r in clean["results"] if not r["success"]]
    bad = run_expectations(window(START, 2, seed=3, output_tokens_mean=600), max_output_tokens=400)
    failed = {(r["expectation"], r["column"]) for r in bad["results"] if not r["success"]}
    assert ("expect_column_values_to_be_between", "output_tokens") in failed
