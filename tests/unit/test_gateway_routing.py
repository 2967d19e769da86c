"""Variant choice (weights, sticky sessions) and the routing state (weights, lease, events)."""

from __future__ import annotations

import random

import pytest

from launchgate.gateway.config import Upstream
from launchgate.gateway.routing import CANDIDATE, STABLE, Weights, choose_variant, session_point
from launchgate.gateway.state import GatewayState, StateConflict

STABLE_UP = Upstream(url="http://127.0.0.1:1/v1", model="m-stable", prompt_version="v1")
CAND_UP = Upstream(url="http://127.0.0.1:2/v1", model="m-cand", prompt_version="v2")


def _share(weights: Weights, n: int = 20_000, seed: int = 7) -> float:
    rng = random.Random(seed)
    return sum(choose_variant(weights, None, rng) == CANDIDATE for _ in range(n)) / n


@pytest.mark.parametrize("pct", [1, 10, 25, 50, 90])
def test_weighted_split_matches_weights(pct: float) -> None:
    share = _share(Weights(pct))
    sd = (pct / 100 * (1 - pct / 100) / 20_000) ** 0.5
    assert abs(share - pct / 100) < 4 * sd + 1e-9


def test_zero_and_full_weights_are_exact() -> None:
    rng = random.Random(1)
    assert {choose_variant(Weights(0), None, rng) for _ in range(1000)} == {STABLE}
    assert {choose_variant(Weights(100), None, rng) for _ in range(1000)} == {CANDIDATE}
    assert {choose_variant(Weights(0), f"s{i}", rng) for i in range(1000)} == {STABLE}


def test_weights_validate_range() -> None:
    assert Weights(30).as_dict() == {STABLE: 70.0, CANDIDATE: 30.0}
    with pytest.raises(ValueError):
        Weights(101)
    with pytest.raises(ValueError):
        Weights(-1)


def test_sticky_session_always_gets_the_same_variant() -> None:
    rng = random.Random(3)
    for i in range(200):
        first = choose_variant(Weights(50), f"user-{i}", rng)
        assert all(choose_variant(Weights(50), f"user-{i}", rng) == first for _ in range(5))


def test_sticky_sessions_split_by_weight() -> None:
    rng = random.Random(0)
    n = 20_000
    share = sum(choose_variant(Weights(20), f"session-{i}", rng) == CANDIDATE for i in range(n)) / n
    assert abs(share - 0.20) < 0.015


def test_sticky_sessions_only_move_towards_the_new_weight() -> None:
    rng = random.Random(0)
    sessions = [f"s-{i}" for i in range(5000)]
    at = {pct: {s for s in sessions if choose_variant(Weights(pct), s, rng) == CANDIDATE} for pct in (10, 25, 50)}
    # stepping 10 -> 25 -> 50 only adds sessions to the candidate: nobody bounces back to stable
    assert at[10] <= at[25] <= at[50]
    assert len(at[10]) < len(at[25]) < len(at[50])


def test_session_point_is_stable_and_uniformish() -> None:
    assert session_point("abc") == session_point("abc")
    points = [session_point(f"k{i}") for i in range(10_000)]
    assert all(0 <= p < 1 for p in points)
    assert abs(sum(points) / len(points) - 0.5) < 0.02


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_state_weights_and_events() -> None:
    state = GatewayState(STABLE_UP, CAND_UP, clock=Clock())
    state.set_weights(10, "canary step 1", release_id="rel-1")
    assert state.weights.candidate == 10 and state.release_id == "rel-1"
    assert state.events[-1]["kind"] == "weights" and "0% -> 10%" in state.events[-1]["reason"]
    with pytest.raises(ValueError):
        state.set_weights(150, "bad")


def test_candidate_weight_needs_a_candidate_upstream() -> None:
    state = GatewayState(STABLE_UP, None, clock=Clock())
    with pytest.raises(StateConflict) as exc:
        state.set_weights(10, "x")
    assert exc.value.code == "no_upstream"
    state.set_candidate(CAND_UP, "rel-2")
    state.set_weights(10, "x")
    assert state.release_id == "rel-2" and state.weights.candidate == 10


def test_lease_acquire_renew_conflict_release() -> None:
    clock = Clock()
    state = GatewayState(STABLE_UP, CAND_UP, clock=clock)
    lease = state.acquire_lease("flow-a", 5)
    assert lease.expires_at == 1005
    clock.now += 3
    assert state.acquire_lease("flow-a", 5).expires_at == 1008  # renewal extends
    with pytest.raises(StateConflict):
        state.acquire_lease("flow-b", 5)
    with pytest.raises(StateConflict):
        state.release_lease("flow-b")
    state.release_lease("flow-a")
    state.release_lease("flow-a")  # idempotent
    assert state.lease is None
    assert state.acquire_lease("flow-b", 5).holder == "flow-b"


def test_lease_expiry_returns_traffic_to_stable_and_says_why() -> None:
    clock = Clock()
    state = GatewayState(STABLE_UP, CAND_UP, clock=clock)
    state.acquire_lease("canary-rel-1", 2)
    state.set_weights(25, "canary")
    clock.now += 1.9
    assert not state.check_lease() and state.weights.candidate == 25
    clock.now += 0.2
    assert state.check_lease()
    assert state.weights.candidate == 0 and state.lease is None
    event = state.events[-1]
    assert event["kind"] == "lease_expired"
    assert "canary-rel-1" in event["reason"] and "25% -> 0%" in event["reason"]
    assert not state.check_lease()  # fires once


def test_expired_lease_can_be_taken_over() -> None:
    clock = Clock()
    state = GatewayState(STABLE_UP, CAND_UP, clock=clock)
    state.acquire_lease("dead-flow", 1)
    clock.now += 5
    assert state.acquire_lease("new-flow", 1).holder == "new-flow"
    assert [e["kind"] for e in state.events][-2:] == ["lease_expired", "lease_acquired"]


def test_snapshot_shape_and_event_cap() -> None:
    state = GatewayState(STABLE_UP, CAND_UP, clock=Clock())
    for i in range(80):
        state.set_weights(i % 50, f"step {i}")
    snap = state.snapshot()
    assert set(snap) >= {"weights", "release_id", "lease", "events"}
    assert len(snap["events"]) == 50 and snap["events"][-1]["reason"].endswith("step 79")
    assert set(snap["events"][0]) == {"ts", "kind", "reason"}
