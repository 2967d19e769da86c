"""What a release's eval spent, from its eval report."""

from __future__ import annotations

from launchgate.eval.spend import eval_spend_usd


def test_sums_the_variants_that_were_called() -> None:
    report = {"variants": {"candidate": {"total_cost_usd": 0.08}, "stable": {"total_cost_usd": 0.05}},
              "baseline": {"kind": "stable"}}
    assert eval_spend_usd(report) == 0.08 + 0.05


def test_a_stored_baseline_was_not_paid_for_again() -> None:
    report = {"variants": {"candidate": {"total_cost_usd": 0.08}, "stable": {"total_cost_usd": 0.05}},
              "baseline": {"kind": "last_promoted", "release_id": "r1"}}
    assert eval_spend_usd(report) == 0.08


def test_a_report_without_variants_spent_nothing() -> None:
    assert eval_spend_usd({"variants": {}}) == 0.0
    assert eval_spend_usd({}) == 0.0
    assert eval_spend_usd({"variants": {"candidate": {"total_cost_usd": None}}}) == 0.0
