"""Budget guard (alert once, stop at the cap, survive restarts, roll over at midnight) and the pipeline cap."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launchgate.budget.ledger import (
    BUDGET_EXCEEDED,
    pipeline_budget_verdict,
    pipeline_remaining_usd,
    read_state,
    record_pipeline_spend,
)
from launchgate.config import Budget
from launchgate.gateway.budget import BudgetGuard, Level, level
from launchgate.notify.base import Notice, NotifyOutcome
from launchgate.requestlog.reader import write_request_lines
from launchgate.store import LocalStore, layout
from launchgate.verdicts import Phase

SERVICE = "support-bot"
NOON = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
T0 = NOON.timestamp()
BUDGET = Budget(daily_usd=1.0, alert_usd=0.75, pipeline_daily_usd=2.0)  # binary-exact sums of 0.25


class Recorder:
    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def send(self, notice: Notice) -> NotifyOutcome:
        self.notices.append(notice)
        return NotifyOutcome(event=notice.event, role=notice.role, target="#x", notifier="test", ok=True)


def guard(store: LocalStore, budget: Budget = BUDGET, rec: Recorder | None = None) -> BudgetGuard:
    return BudgetGuard(store, SERVICE, budget, dispatcher=rec or Recorder()).load(T0)


def test_level_is_pure_and_the_cap_wins() -> None:
    assert level(0.74, BUDGET) is Level.OK
    assert level(0.75, BUDGET) is Level.ALERT
    assert level(1.0, BUDGET) is Level.STOP


def test_alert_once_then_stop_with_the_documented_fallback(tmp_path: Path) -> None:
    store, rec = LocalStore(tmp_path), Recorder()
    g = guard(store, rec=rec)
    for i in range(2):
        g.record(0.25, T0 + i)
    g.drain()
    assert g.allow(T0 + 2) and rec.notices == []
    g.record(0.25, T0 + 3)  # 0.75: the alert, to the budget owner and on-call
    g.drain()
    assert [(n.event, n.role) for n in rec.notices] == [("budget_alert", "budget"), ("budget_alert", "oncall")]
    assert g.allow(T0 + 4)
    g.record(0.25, T0 + 5)  # 1.00: the stop (no second alert)
    g.drain()
    assert [n.event for n in rec.notices] == ["budget_alert"] * 2 + ["budget_stop"] * 2
    assert not g.allow(T0 + 6)
    status, body, headers = g.rejection(T0 + 6)
    assert status == 429 and body["error"]["code"] == BUDGET_EXCEEDED
    assert int(headers["Retry-After"]) == 12 * 3600 - 6  # until 00:00 UTC
    state = read_state(store, SERVICE, NOON.date())
    assert state is not None and state.gateway.spend_usd == 1.0
    assert state.gateway.alerted_at is not None and state.gateway.stopped_at is not None
    assert [e.kind for e in state.events] == ["alert", "stop"] and state.events[0].notified == ["budget", "oncall"]
    g.close(T0 + 7)


def test_state_survives_a_restart_without_a_second_alert(tmp_path: Path) -> None:
    store, rec = LocalStore(tmp_path), Recorder()
    first = guard(store, rec=rec)
    for i in range(4):
        first.record(0.25, T0 + i)
    first.close(T0 + 5)
    again_rec = Recorder()
    second = guard(store, rec=again_rec)
    assert second.spend == 1.0 and not second.allow(T0 + 10)
    second.record(None, T0 + 11)
    second.drain()
    assert again_rec.notices == []  # alerted once per day, across restarts
    # A raised cap takes effect on restart: the stop is recomputed, the alert is still remembered.
    raised = guard(store, Budget(daily_usd=2.0, alert_usd=1.5), rec=again_rec)
    assert raised.allow(T0 + 12) and raised.alerted


def test_restart_recovers_spend_from_the_request_log_when_state_is_stale(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    lines = [{"ts": f"2026-11-05T0{h}:00:00.000Z", "request_id": str(h), "cost_usd": 0.25} for h in range(3)]
    lines.append({"ts": "2026-11-04T23:59:59.000Z", "request_id": "yesterday", "cost_usd": 5.0})
    write_request_lines(store, SERVICE, lines, writer="gw1")
    g = guard(store)
    assert g.spend == 0.75 and g.allow(T0)
    g.record(0.0, T0 + 1)
    g.drain()
    assert g.alerted  # the 0.75 already logged today crossed the alert before this process started


def test_a_new_utc_day_starts_from_zero(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    g = guard(store)
    for i in range(4):
        g.record(0.25, T0 + i)
    assert not g.allow(T0 + 10)
    tomorrow = (NOON + timedelta(days=1)).replace(hour=0, minute=0, second=1).timestamp()
    assert g.allow(tomorrow) and g.spend == 0.0
    g.record(0.25, T0 + 20)  # a request that started yesterday and ended today counts today
    assert g.day == (NOON + timedelta(days=1)).date() and g.spend == 0.25
    g.close(tomorrow + 1)
    assert read_state(store, SERVICE, NOON.date()).gateway.spend_usd == 1.0  # type: ignore[union-attr]


def test_pipeline_spend_is_idempotent_and_capped(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for _ in range(2):  # a rerun of the same step replaces its entry
        record_pipeline_spend(store, SERVICE, BUDGET, usd=0.5, release_id="r1", step="eval_gate", now=NOON)
    record_pipeline_spend(store, SERVICE, BUDGET, usd=1.0, release_id="r2", step="eval_gate", now=NOON)
    state = read_state(store, SERVICE, NOON.date())
    assert state is not None and state.pipeline_spend_usd == 1.5
    assert pipeline_remaining_usd(store, SERVICE, BUDGET, now=NOON) == 0.5
    ok = pipeline_budget_verdict(store, SERVICE, BUDGET, 0.5, now=NOON)
    assert ok.phase is Phase.SUCCESSFUL
    over = pipeline_budget_verdict(store, SERVICE, BUDGET, 0.6, now=NOON, what="the eval")
    assert over.phase is Phase.FAILED and "$1.50 of its $2.00" in over.reason and "the eval" in over.reason
    assert pipeline_budget_verdict(store, SERVICE, BUDGET, 0.6, now=NOON + timedelta(days=1)).phase is \
        Phase.SUCCESSFUL


def test_pipeline_and_gateway_ledgers_share_the_day_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    g = guard(store)
    g.record(0.25, T0)
    g.close(T0 + 1)
    record_pipeline_spend(store, SERVICE, BUDGET, usd=0.5, release_id="r1", step="eval_gate", now=NOON)
    state = read_state(store, SERVICE, NOON.date())
    assert state is not None and state.gateway.spend_usd == 0.25 and state.pipeline_spend_usd == 0.5
    store.put(layout.budget_day(SERVICE, NOON.date()), b"[]", "application/json")
    assert pipeline_budget_verdict(store, SERVICE, BUDGET, 0.1, now=NOON).phase is Phase.ERROR


def test_gateway_persists_and_pipeline_bookings_at_once_lose_nothing(tmp_path: Path) -> None:
    # The gateway persists after every request (persist_s=0) on its worker thread while a release
    # books its spend on the same day file: every booking and the gateway's total must survive.
    store = LocalStore(tmp_path)
    big = Budget(daily_usd=100.0, alert_usd=90.0, pipeline_daily_usd=100.0)
    g = BudgetGuard(store, SERVICE, big, dispatcher=Recorder(), persist_s=0.0).load(T0)
    booker = threading.Thread(target=lambda: [
        record_pipeline_spend(store, SERVICE, big, usd=0.25, release_id="r1", step=f"step-{i}", now=NOON)
        for i in range(20)])
    booker.start()
    for i in range(100):
        g.record(0.25, T0 + i / 1000)
    booker.join()
    g.close(T0 + 1)
    state = read_state(store, SERVICE, NOON.date())
    assert state is not None
    assert len(state.pipeline) == 20 and state.pipeline_spend_usd == 5.0
    assert state.gateway.spend_usd == 25.0 and state.gateway.requests == 100


@pytest.mark.parametrize("cost", [None, 0.0])
def test_unbilled_requests_count_but_cost_nothing(tmp_path: Path, cost: float | None) -> None:
    g = guard(LocalStore(tmp_path))
    g.record(cost, T0)
    assert g.requests == 1 and g.spend == 0.0
    g.close(T0)


def test_refresh_picks_up_other_gateway_processes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    g = BudgetGuard(store, SERVICE, BUDGET, dispatcher=Recorder(), refresh_s=30).load(T0)
    g.record(0.25, T0 + 1)
    # Another process of the same service logs $0.75 meanwhile; this guard sees it at its next refresh.
    write_request_lines(store, SERVICE, [{"ts": "2026-11-05T12:00:10.000Z", "request_id": f"o{i}", "cost_usd": 0.25}
                                         for i in range(3)], writer="gw2")
    g.record(0.0, T0 + 20)
    g.drain()
    assert g.spend == 0.25  # not yet due
    g.record(0.0, T0 + 40)
    g.drain()
    assert g.spend == 0.75 and not g.stopped  # the log's total (its own line is not flushed in this test)
    g.close(T0 + 41)
