"""The budget guard inside the real gateway: alert and stop at the right totals, alert on the Slack stand-in.

Real requests go through the gateway to the simulated model; each answer's ``usage`` tells the
test what the gateway should have counted, so the expected crossing points are exact.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from launchgate.budget.ledger import BUDGET_EXCEEDED, read_state
from launchgate.config import Budget, Owners
from launchgate.store import LocalStore
from tests.support.gateway import EXAMPLE, EXAMPLE_PRICING, running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim
from tests.support.slack_standin import slack_standin

SYSTEM = (EXAMPLE / "prompts" / "v1.txt").read_text()
FAST = {"latency_ms": {"median": 2, "p95": 4}, "invalid_json_rate": 0.0, "error_rate": 0.0}
OWNERS = Owners(budget="#support-bot-finops", oncall="@support-oncall")


def chat(i: int) -> dict[str, Any]:
    user = json.dumps({"subject": f"Refund {i}", "body": "charged twice", "customer_tier": "pro"})
    return {"model": "support-bot", "messages": [{"role": "system", "content": SYSTEM},
                                                 {"role": "user", "content": user}]}


def budget_posts(state: Any, kind: str) -> list[dict[str, Any]]:
    return [p.body for p in state.posts() if f"Budget {kind}" in str(p.body.get("text", ""))]


def test_gateway_alerts_then_stops_at_the_configured_totals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with slack_standin() as (slack_url, slack), running_sim(EXAMPLE_VARIANTS, "stable", **FAST) as stable:
        monkeypatch.setenv("LAUNCHGATE_SLACK_TOKEN", "xoxb-test-token")
        monkeypatch.setenv("LAUNCHGATE_SLACK_BASE_URL", slack_url)
        # Calibrate: one request's cost through the same gateway path, then cap at ~10 of them.
        with running_gateway(stable, None, str(tmp_path / "probe")) as (url, _):
            usage = httpx.post(f"{url}/v1/chat/completions", json=chat(0), timeout=10).json()["usage"]
        one = EXAMPLE_PRICING.cost(usage["prompt_tokens"], usage["completion_tokens"])
        budget = Budget(daily_usd=one * 10.5, alert_usd=one * 6.5)
        store = tmp_path / "store"
        totals: list[float] = [0.0]  # running total after each answered request, from its usage
        alerted_at: float | None = None
        with running_gateway(stable, None, str(store), budget=budget, owners=OWNERS, notifier="slack") as (url, _):
            with httpx.Client(timeout=10) as client:
                for i in range(1, 30):
                    r = client.post(f"{url}/v1/chat/completions", json=chat(i))
                    if r.status_code == 429:
                        assert r.json()["error"]["code"] == BUDGET_EXCEEDED and int(r.headers["Retry-After"]) > 0
                        break
                    assert r.status_code == 200, r.text
                    u = r.json()["usage"]
                    totals.append(totals[-1] + EXAMPLE_PRICING.cost(u["prompt_tokens"], u["completion_tokens"]))
                    if alerted_at is None and totals[-1] >= budget.alert_usd:
                        alerted_at = time.monotonic()
                # The stop holds for every later request too.
                assert client.post(f"{url}/v1/chat/completions", json=chat(99)).status_code == 429
            deadline = time.monotonic() + 10
            while len(budget_posts(slack, "alert")) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert alerted_at is not None and time.monotonic() - alerted_at < 10  # far inside the seed's 5 minutes
        # The model was called until the running total reached the cap, and not once after.
        assert totals[-1] >= budget.daily_usd > totals[-2]
        alerts, stops = budget_posts(slack, "alert"), budget_posts(slack, "stop")
        assert sorted(p["channel"] for p in alerts) == ["#support-bot-finops", "@support-oncall"]  # once each
        assert sorted(p["channel"] for p in stops) == ["#support-bot-finops", "@support-oncall"]
        # Recorded: the day's state file (at the exact crossing totals) and the refused requests' log lines.
        state = read_state(LocalStore(store), "support-bot", datetime.now(UTC).date())
        assert state is not None and [e.kind for e in state.events] == ["alert", "stop"]
        crossed_alert = next(t for t in totals if t >= budget.alert_usd)
        assert state.events[0].spend_usd == pytest.approx(crossed_alert, abs=1e-6)
        assert state.events[1].spend_usd == pytest.approx(totals[-1], abs=1e-6)
        assert state.gateway.spend_usd == pytest.approx(totals[-1], rel=1e-6)
        lines = [json.loads(x) for f in sorted(store.glob("support-bot/logs/requests/*/*.jsonl"))
                 for x in f.read_text().splitlines()]
        refused = [x for x in lines if x["error_code"] == BUDGET_EXCEEDED]
        assert len(refused) == 2 and all(x["status"] == 429 and x["cost_usd"] is None for x in refused)
