"""Monthly cost review arithmetic on synthetic months: forecast, variance, spikes, recommendations."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from launchgate.config import Budget
from launchgate.requestlog.reader import AT, parse_ts
from launchgate.reviews.config import CostReviewConfig
from launchgate.reviews.cost import (
    build_report,
    compare_cost_explorer,
    cost_markdown,
    month_bounds,
    parse_cost_explorer,
    previous_month,
)
from tests.support.requestlog import PRICING, synth_requests

MONTH = "2026-10"
START, END = month_bounds(MONTH)
CFG = CostReviewConfig(min_spike_usd=0.1)  # synthetic days cost ~$0.2; the default floor is $1


def lines(start: datetime, days: float, per_day: int = 400, seed: int = 0, **kw: Any) -> list[dict[str, Any]]:
    out = synth_requests(start, days=days, per_day=per_day, seed=seed, error_rate=0.0, **kw)
    for line in out:
        line[AT] = parse_ts(line["ts"])
    return out


def steady_month(**kw: Any) -> list[dict[str, Any]]:
    return lines(START, 31, **kw)


def test_month_helpers() -> None:
    assert (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)) == (START, END)
    assert previous_month(datetime(2026, 11, 1, 9, tzinfo=UTC)) == MONTH
    assert previous_month(datetime(2027, 1, 1, 9, tzinfo=UTC)) == "2026-12"
    with pytest.raises(ValueError):
        month_bounds("October")


def test_steady_month_forecast_follows_the_seed_model() -> None:
    records = steady_month()
    report = build_report("support-bot", MONTH, records, PRICING, Budget(), CFG)
    assert not report.spike and report.wow_within_slo is True
    assert len(report.days) == 31 and sum(d.requests for d in report.days) == len(records) == 31 * 400
    fc = report.forecast
    assert fc is not None and fc.month == "2026-11" and fc.days == 30
    assert fc.requests == math.ceil(400 * 30)
    avg_in = sum(r["input_tokens"] for r in records) / len(records)
    avg_out = sum(r["output_tokens"] for r in records) / len(records)
    base = avg_in * fc.requests / 1000 * 0.0005 + avg_out * fc.requests / 1000 * 0.0015
    assert fc.base_usd == pytest.approx(base, rel=1e-3)
    assert fc.usd == pytest.approx(base * 1.15, rel=1e-3)  # default buffer 15%, inside the seed's 10-20%
    rec = report.recommendation
    assert rec is not None and rec.daily_cap_usd >= fc.usd_per_day
    assert rec.alert_usd == pytest.approx(rec.daily_cap_usd * 45 / 50, abs=0.011)  # the configured 45/50 ratio
    assert "leaves more than 2x headroom" in rec.reason  # ~$0.25/day against a $50 cap
    assert "No cost spike" in cost_markdown(report)


def test_a_spike_day_is_found_and_named() -> None:
    records = steady_month() + lines(datetime(2026, 10, 14, tzinfo=UTC), 1, per_day=1600, seed=9)
    report = build_report("support-bot", MONTH, records, PRICING, Budget(), CFG)
    day_spikes = [s for s in report.spikes if s.kind == "day"]
    assert report.spike and [s.when for s in day_spikes] == ["2026-10-14"]
    assert day_spikes[0].factor >= 4.5 and "2026-10-14" in report.reasons[0]


def test_week_over_week_breach_without_a_spike() -> None:
    # From Oct 19 (a Monday) traffic is 25% higher: beyond the 10% SLO, short of a 50% spike.
    records = lines(START, 18) + lines(datetime(2026, 10, 19, tzinfo=UTC), 13, per_day=500, seed=1)
    report = build_report("support-bot", MONTH, records, PRICING, Budget(), CFG)
    assert not report.spike and report.wow_within_slo is False
    breach = [w for w in report.weeks if w.within_slo is False]
    assert [w.week for w in breach] == ["2026-W43"] and 20 < breach[0].change_pct < 30  # type: ignore[operator]
    assert any("beyond the +/-10% SLO" in r for r in report.reasons)


def test_cost_per_request_by_model_and_prompt_version() -> None:
    records = lines(START, 10, prompt_version="v1") + lines(START, 10, seed=2, prompt_version="v2",
                                                           output_tokens_mean=240)
    groups = {g.prompt_version: g for g in build_report("support-bot", MONTH, records, PRICING, Budget(),
                                                           CFG).by_model_prompt}
    assert set(groups) == {"v1", "v2"} and groups["v1"].requests == groups["v2"].requests == 4000
    assert groups["v2"].cost_per_request > groups["v1"].cost_per_request  # type: ignore[operator]
    assert groups["v2"].avg_output_tokens == pytest.approx(240, rel=0.05)


def test_empty_month_has_no_forecast_but_says_why() -> None:
    report = build_report("support-bot", MONTH, [], PRICING, Budget(), CFG)
    assert report.forecast is None and report.recommendation is None and not report.spike
    assert report.wow_within_slo is None and any("No forecast" in n for n in report.notes)


def test_cost_explorer_response_is_parsed_and_compared() -> None:
    response = {"ResultsByTime": [
        {"TimePeriod": {"Start": "2026-10-01", "End": "2026-10-02"},
         "Total": {"UnblendedCost": {"Amount": "1.50", "Unit": "USD"}}, "Groups": []},
        {"TimePeriod": {"Start": "2026-10-02", "End": "2026-10-03"}, "Total": {},
         "Groups": [{"Keys": ["a"], "Metrics": {"UnblendedCost": {"Amount": "0.25", "Unit": "USD"}}},
                    {"Keys": ["b"], "Metrics": {"UnblendedCost": {"Amount": "0.25", "Unit": "USD"}}}]},
    ]}
    billed = parse_cost_explorer(response, "UnblendedCost")
    assert billed == {"2026-10-01": 1.5, "2026-10-02": 0.5}
    days = build_report("support-bot", MONTH, lines(START, 2), PRICING, Budget(), CFG).days
    cmp = compare_cost_explorer(billed, days, "UnblendedCost")
    assert cmp["billed_usd"] == 2.0 and cmp["difference_pct"] is not None and cmp["logged_usd"] > 0


def test_budget_recommendation_warns_when_the_cap_is_too_low() -> None:
    report = build_report("support-bot", MONTH, steady_month(), PRICING, Budget(daily_usd=0.1, alert_usd=0.09), CFG)
    assert report.recommendation is not None and "expect budget stops" in report.recommendation.reason
    assert report.days[0].day + timedelta(days=30) == report.days[-1].day
