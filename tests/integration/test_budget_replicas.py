"""Two gateway replicas of one service spend together: the stop comes at the service's total, and
applies on both within the stated bound (2 x budget_sync_s plus the store's writes).

Each answer's ``usage`` gives the exact cost, so the test knows when the total crossed the cap.
Printed with -s: the measured time from the crossing to the stop on each replica.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx

from launchgate.budget.ledger import BUDGET_EXCEEDED, read_state
from launchgate.config import Budget
from launchgate.config.replicas import Replicas
from launchgate.store import LocalStore
from tests.support.gateway import EXAMPLE_PRICING, running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

SYNC_S = 0.5
BOUND_S = 2 * SYNC_S + 0.5  # two syncs, plus the local store's two writes with room to spare
FAST = {"latency_ms": {"median": 2, "p95": 4}, "invalid_json_rate": 0.0, "error_rate": 0.0}
BODY = {"model": "support-bot", "messages": [{"role": "user", "content": json.dumps(
    {"subject": "Refund", "body": "charged twice", "customer_tier": "pro"})}]}


def test_two_replicas_stop_at_the_services_total(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with ExitStack() as stack:
        stable = stack.enter_context(running_sim(EXAMPLE_VARIANTS, "stable", **FAST))
        with running_gateway(stable, None, str(tmp_path / "probe")) as (url, _):
            usage = httpx.post(f"{url}/v1/chat/completions", json=BODY, timeout=10).json()["usage"]
        one = EXAMPLE_PRICING.cost(usage["prompt_tokens"], usage["completion_tokens"])
        budget = Budget(daily_usd=one * 30.5, alert_usd=one * 20.5)  # ~15 requests per replica
        urls = [stack.enter_context(running_gateway(
            stable, None, str(store), budget=budget, log_writer=f"r{i}",
            replicas=Replicas(shared_state=True, name=f"r{i}", budget_sync_s=SYNC_S)))[0] for i in range(2)]
        client = stack.enter_context(httpx.Client(timeout=10))
        total, crossed_at = 0.0, None
        first_stop: dict[int, float] = {}
        answered = [0, 0]
        deadline = time.monotonic() + 20
        while len(first_stop) < 2:
            assert time.monotonic() < deadline, (first_stop, total)
            for i, url in enumerate(urls):  # both replicas, in turn, ~every 20 ms
                if i in first_stop:
                    continue
                r = client.post(f"{url}/v1/chat/completions", json=BODY)
                if r.status_code == 429:
                    assert r.json()["error"]["code"] == BUDGET_EXCEEDED
                    first_stop[i] = time.monotonic()
                    continue
                assert r.status_code == 200, r.text
                answered[i] += 1
                u = r.json()["usage"]
                total += EXAMPLE_PRICING.cost(u["prompt_tokens"], u["completion_tokens"])
                if crossed_at is None and total >= budget.daily_usd:
                    crossed_at = time.monotonic()
            time.sleep(0.02)
        assert crossed_at is not None
        # Neither replica could have stopped on its own spend: each served well under the cap alone.
        assert all(n * one < budget.daily_usd for n in answered), answered
        lags = [max(0.0, first_stop[i] - crossed_at) for i in range(2)]
        assert max(lags) <= BOUND_S, (lags, BOUND_S)
        overshoot = total - budget.daily_usd
        time.sleep(SYNC_S * 2)
    state = read_state(LocalStore(store), "support-bot", datetime.now(UTC).date())
    assert state is not None
    assert abs(state.gateway.spend_usd - total) < 1e-6  # every replica's spend booked once, none lost
    kinds = [e.kind for e in state.events]
    assert kinds.count("alert") == 1 and kinds.count("stop") == 1  # announced once each for the service
    print("\n" + json.dumps({"bound_s": BOUND_S, "stop_after_crossing_s": [round(x, 3) for x in lags],
                             "requests_per_replica": answered, "overshoot_requests": round(overshoot / one, 2),
                             "cap_usd": round(budget.daily_usd, 6), "ledger_usd": round(state.gateway.spend_usd, 6)}))
