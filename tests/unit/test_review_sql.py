"""The reviews' SQL path (DuckDB over the compacted log) agrees with the in-memory path on the same week.

Tolerances (docs/logs.md): counts, rates, means, percentiles and PSI equal (PSI to 1e-9); KS
equal while both windows are within scipy's exact limit; above it (forced here with
``exact_max=0``) D is within 1e-3 and every verdict is the same. Cost figures equal within one
unit of the report's rounding (a compensated SQL sum and Python's left-to-right sum can round a
day's spend to 6 decimals one unit apart).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launchgate.config import Budget
from launchgate.requestlog.compaction import compact
from launchgate.requestlog.reader import read_requests, write_request_lines
from launchgate.requestlog.view import LogView
from launchgate.reviews import cost, cost_sql, drift, drift_sql
from launchgate.reviews.config import CostReviewConfig, DriftReviewConfig
from launchgate.store import LocalStore
from tests.support.requestlog import PRICING, synth_requests

SERVICE = "support-bot"
CUR = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
REF = CUR - timedelta(weeks=1)
END = CUR + timedelta(weeks=1)
CFG = DriftReviewConfig()
USD_TOL = 1.5e-6


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    store = LocalStore(tmp_path_factory.mktemp("log"))
    write_request_lines(store, SERVICE, synth_requests(REF, days=7, per_day=1400, seed=1, refusal_rate=0.01))
    write_request_lines(store, SERVICE, synth_requests(CUR, days=7, per_day=1400, seed=2, output_tokens_mean=160,
                                                       error_rate=0.02, refusal_rate=0.01))
    # The reviewed week's last days compacted, the rest still JSONL: the view's two sources at once.
    compact(store, SERVICE, END + timedelta(hours=2), lookback=timedelta(days=3))
    return store


@pytest.mark.parametrize("exact_max", [drift_sql.EXACT_MAX_N, 0], ids=["exact-ks", "binned-ks"])
def test_drift_sql_agrees_with_the_in_memory_review(week: LocalStore, exact_max: int) -> None:
    ref = read_requests(week, SERVICE, REF, CUR).records
    cur = read_requests(week, SERVICE, CUR, END).records
    old, old_notes = drift.compare(ref, cur, CFG)
    with LogView.open(week, SERVICE, REF, END) as view:
        assert {bool(hf.part) for hf in view.hours} == {True, False}
        data = drift_sql.drift_data(view.con, CUR, CFG, exact_max=exact_max)
    new, new_notes = drift.compare_stats(data.dists, data.ref_rates, data.cur_rates, data.n_reference, CFG)
    assert (data.n_reference, data.n_current) == (len(ref), len(cur)) and new_notes == old_notes
    assert [f.name for f in new] == [f.name for f in old]
    assert {f.name for f in old if f.significant} == {"output_tokens", "latency_ms", "error_rate"}
    for a, b in zip(old, new, strict=True):
        assert (a.phase, a.n_reference, a.n_current, a.reference, a.current) == \
               (b.phase, b.n_reference, b.n_current, b.reference, b.current), a.name
        assert (a.z, a.p_value) == (b.z, b.p_value)
        if a.kind == "distribution":
            assert b.psi == pytest.approx(a.psi, abs=1e-9)
            tol = 0 if exact_max else 1e-3
            assert b.ks_statistic == pytest.approx(a.ks_statistic, abs=tol)
            assert (b.ks_pvalue < CFG.ks_alpha) == (a.ks_pvalue < CFG.ks_alpha)


def test_ks_from_a_histogram_is_exact_on_integer_values() -> None:
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(3)
    a, b = rng.poisson(120, 30_000).astype(float), rng.poisson(123, 20_000).astype(float)
    values = np.union1d(a, b)
    ca = np.array([np.sum(a == v) for v in values], dtype=float)
    cb = np.array([np.sum(b == v) for v in values], dtype=float)
    d, p = drift_sql.ks_from_histogram(ca, cb)
    want = stats.ks_2samp(a, b)
    assert d == pytest.approx(want.statistic, abs=1e-12) and p == pytest.approx(want.pvalue, rel=1e-9)


def test_cost_sql_agrees_with_the_in_memory_review(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    month = "2026-09"
    start, end = cost.month_bounds(month)
    write_request_lines(store, SERVICE, synth_requests(start, days=30, per_day=200, seed=3))
    write_request_lines(store, SERVICE, synth_requests(datetime(2026, 9, 17, tzinfo=UTC), days=1, per_day=3000,
                                                       seed=4, model="support-bot-candidate", prompt_version="v2"),
                        writer="burst")
    compact(store, SERVICE, datetime(2026, 9, 20, tzinfo=UTC), lookback=timedelta(days=4))  # partly compacted
    records = read_requests(store, SERVICE, start, end).records
    budget, cfg = Budget(daily_usd=5, alert_usd=4.5), CostReviewConfig(min_spike_usd=0.1)
    old = cost.build_report(SERVICE, month, records, PRICING, budget, cfg)
    with LogView.open(store, SERVICE, start, end) as view:
        assert any(hf.part for hf in view.hours) and any(hf.jsonl for hf in view.hours)
        inputs = cost_sql.cost_inputs(view.con, start, end)
    new = cost.report_from(SERVICE, month, inputs, PRICING, budget, cfg)
    a, b = old.model_dump(exclude={"generated_at"}), new.model_dump(exclude={"generated_at"})
    assert a["requests"] == b["requests"] == 30 * 200 + 3000 and a["spike"] and b["spike"]
    assert b["total_usd"] == pytest.approx(a["total_usd"], abs=USD_TOL)
    assert [(d["day"], d["requests"]) for d in a["days"]] == [(d["day"], d["requests"]) for d in b["days"]]
    assert all(x["usd"] == pytest.approx(y["usd"], abs=USD_TOL) for x, y in zip(a["days"], b["days"], strict=True))
    for x, y in zip(a["by_model_prompt"], b["by_model_prompt"], strict=True):
        assert (x["model"], x["prompt_version"], x["requests"], x["avg_input_tokens"], x["avg_output_tokens"]) == \
               (y["model"], y["prompt_version"], y["requests"], y["avg_input_tokens"], y["avg_output_tokens"])
        assert y["usd"] == pytest.approx(x["usd"], abs=USD_TOL)
    assert [(x["kind"], x["when"]) for x in a["spikes"]] == [(y["kind"], y["when"]) for y in b["spikes"]]
    assert all(y["baseline_usd"] == pytest.approx(x["baseline_usd"], abs=USD_TOL)
               for x, y in zip(a["spikes"], b["spikes"], strict=True))
    for key in ("forecast", "recommendation", "reasons", "notes", "wow_within_slo"):
        assert b[key] == pytest.approx(a[key], abs=1e-5) if key == "forecast" else b[key] == a[key], key
    for x, y in zip(a["weeks"], b["weeks"], strict=True):
        assert (x["week"], x["days"], x["requests"], x["within_slo"]) == (y["week"], y["days"], y["requests"],
                                                                           y["within_slo"])
        assert y["usd"] == pytest.approx(x["usd"], abs=10 * USD_TOL)
