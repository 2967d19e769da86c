"""The shared routing-state document's changes (pure) and the merged-histogram percentile."""

from __future__ import annotations

import pytest

from launchgate.gateway.config import Upstream
from launchgate.gateway.routingdoc import RoutingDoc, apply, edit, initial
from launchgate.gateway.state import GatewayState, StateConflict
from launchgate.gateway.window import Tally, quantize
from launchgate.metrics.percentiles import percentile, percentile_counts

STABLE = Upstream(url="http://stable:8000/v1", model="s", prompt_version="v1")
CANDIDATE = Upstream(url="http://cand:8000/v1", model="c", prompt_version="v2")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_change_is_computed_on_the_document_with_the_gateways_own_rules() -> None:
    clock = Clock()
    doc = initial("svc", GatewayState(STABLE, CANDIDATE), "r0", clock.now)
    assert doc.version == 1 and doc.candidate_pct == 0
    doc = edit(doc, lambda s, d: s.acquire_lease("ctl", 3), "r0", clock)
    doc = edit(doc, lambda s, d: s.set_weights(10, "canary"), "r1", clock)
    assert (doc.version, doc.candidate_pct, doc.change.by) == (3, 10, "r1")  # type: ignore[union-attr]
    with pytest.raises(StateConflict):  # another controller, through another replica
        edit(doc, lambda s, d: s.acquire_lease("other", 3), "r2", clock)
    assert edit(doc, lambda s, d: s.set_weights(10, "same"), "r2", clock) is doc  # nothing changed: no write
    clock.now += 5  # the lease lapsed: a late renewal finds it expired and traffic at 0, like one gateway
    late = edit(doc, lambda s, d: s.acquire_lease("ctl", 3), "r0", clock)
    assert late.candidate_pct == 0 and late.change.kind == "lease_expired"  # type: ignore[union-attr]


def test_a_replica_applies_a_document_and_reverts_when_its_lease_expires() -> None:
    clock = Clock()
    doc = initial("svc", GatewayState(STABLE, CANDIDATE), "r0", clock.now)
    doc = edit(edit(doc, lambda s, d: s.acquire_lease("ctl", 3), "r0", clock),
               lambda s, d: s.set_weights(25, "canary"), "r0", clock)
    replica = GatewayState(STABLE, None, clock=clock)
    assert apply(replica, RoutingDoc.model_validate_json(doc.encode()))
    assert replica.weights.candidate == 25 and replica.upstreams["candidate"] == CANDIDATE
    clock.now += 3.1
    assert replica.check_lease() and replica.weights.candidate == 0


def test_percentiles_of_merged_histograms_match_the_raw_values_to_the_rounding() -> None:
    values = [0.37 + i * 1.731 % 97 for i in range(5000)]
    halves = [Tally(), Tally()]
    for i, v in enumerate(values):
        t = halves[i % 2]
        t.latency[quantize(v)] = t.latency.get(quantize(v), 0) + 1
    merged = Tally()
    for t in halves:
        merged.merge(Tally.from_json(t.as_json()))
    for q in (50, 95, 99):
        exact = percentile(values, q)
        assert exact is not None and percentile_counts(merged.latency, q) == pytest.approx(exact, rel=0.005)
