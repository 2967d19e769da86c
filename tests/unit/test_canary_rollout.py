"""The canary loop (launchgate.canary.rollout) with a fake router, fake metrics and a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from launchgate.canary.judge import CanaryJudge, JudgeConfig
from launchgate.canary.rollout import CanaryPlan, run_canary
from launchgate.errors import RouterError
from launchgate.router.base import WindowStats


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


class FakeRouter:
    name = "fake"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.candidate = 0.0
        self.calls: list[tuple[str, float, float]] = []  # (what, value, at)
        self.fail_weights_at: float | None = None
        self.revert_at: float | None = None

    def attach_candidate(self, url: str, model: str, prompt_version: str, release_id: str) -> None: ...

    def set_candidate_weight(self, pct: float, reason: str) -> None:
        if self.fail_weights_at is not None and pct > 0 and self.clock.now >= self.fail_weights_at:
            raise RouterError("gateway admin POST /admin/weights answered 500")
        self.candidate = pct
        self.calls.append(("weight", pct, self.clock.now))

    def weights(self) -> dict[str, float]:
        if self.revert_at is not None and self.clock.now >= self.revert_at:
            self.candidate = 0.0  # the gateway's lease watchdog acted on its own
        return {"stable": 100 - self.candidate, "candidate": self.candidate}

    def heartbeat(self, holder: str, ttl_s: float) -> None:
        self.calls.append(("lease", ttl_s, self.clock.now))

    def release(self, holder: str) -> None:
        self.calls.append(("release", 0, self.clock.now))

    def weight_history(self) -> list[float]:
        return [v for what, v, _ in self.calls if what == "weight"]


class FakeMetrics:
    """Candidate traffic at ``rps`` with ``error_rate(t)``; None from ``down`` raises."""

    def __init__(self, clock: Clock, error_rate: Callable[[float], float], rps: float = 10.0,
                 down: Callable[[float], bool] = lambda t: False) -> None:
        self.clock, self.error_rate, self.rps, self.down = clock, error_rate, rps, down
        self.t0: float | None = None

    def window(self, since: float) -> dict[str, WindowStats]:
        t = self.clock.now - since
        if self.down(t):
            raise RouterError("gateway admin GET /admin/stats timed out")
        n = int(t * self.rps)
        errors = int(n * self.error_rate(t))
        lat = {"p50_ms": 40.0, "p95_ms": 120.0, "p99_ms": 200.0}
        return {"candidate": WindowStats(count=n, errors=errors, cost_per_request=1.0, **lat),
                "stable": WindowStats(count=9 * n, errors=0, cost_per_request=1.0, **lat)}


PLAN = CanaryPlan(steps=[10, 25, 50], interval_s=5, duration_s=60, lease_ttl_s=15, holder="canary-r1")


def run(router: FakeRouter, metrics: FakeMetrics, clock: Clock, plan: CanaryPlan = PLAN):  # noqa: ANN201
    return run_canary(router, metrics, CanaryJudge(JudgeConfig(min_requests=50)), plan, clock=clock,
                      sleep=clock.sleep)


def test_healthy_canary_steps_up_then_promotes_and_heartbeats() -> None:
    clock = Clock()
    router = FakeRouter(clock)
    out = run(router, FakeMetrics(clock, lambda t: 0.0), clock)
    assert out.result == "promoted" and router.weight_history() == [10, 25, 50, 100]
    assert out.ended_at - out.started_at == pytest.approx(60, abs=0.01)
    beats = [at for what, _, at in router.calls if what == "lease"]
    assert beats[0] == out.started_at and max(b - a for a, b in zip(beats, beats[1:], strict=False)) <= 5.0001
    assert router.calls[-1][0] == "release"
    assert [s.pct for s in out.shifts] == [10, 25, 50, 100]


def test_breach_rolls_back_in_the_same_look() -> None:
    clock = Clock()
    router = FakeRouter(clock)
    out = run(router, FakeMetrics(clock, lambda t: 0.0 if t < 20 else 0.5), clock)
    assert out.result == "rolled_back" and router.candidate == 0
    assert out.rollback_at_s == 20  # the first look after the onset
    rollback = out.shifts[-1]
    assert rollback.pct == 0 and rollback.reason.startswith("rollback: error rate")
    assert out.ticks[-1].action.value == "rollback"


def test_missing_metrics_hold_the_step_then_roll_back() -> None:
    clock = Clock()
    router = FakeRouter(clock)
    out = run(router, FakeMetrics(clock, lambda t: 0.0, down=lambda t: t >= 18), clock)
    assert out.result == "rolled_back" and out.judgement.phase.value == "error"
    assert 25 not in router.weight_history()[2:] and router.weight_history()[-1] == 0
    assert [t.action.value for t in out.ticks[-3:]] == ["hold", "hold", "rollback"]


def test_router_reverting_on_its_own_ends_the_canary() -> None:
    clock = Clock()
    router = FakeRouter(clock)
    router.revert_at = clock.now + 12
    out = run(router, FakeMetrics(clock, lambda t: 0.0), clock)
    assert out.result == "rolled_back" and out.reverted_by_router
    assert "returned traffic to stable by itself" in out.reason


def test_router_failure_mid_canary_sets_weight_zero_and_raises() -> None:
    clock = Clock()
    router = FakeRouter(clock)
    router.fail_weights_at = clock.now + 25  # the step to 50% fails
    with pytest.raises(RouterError):
        run(router, FakeMetrics(clock, lambda t: 0.0), clock)
    assert router.candidate == 0 and router.calls[-1][0] == "release"


def test_plan_splits_the_window_across_steps() -> None:
    assert [PLAN.step_at(t) for t in (0, 19.9, 20, 45, 60, 99)] == [0, 0, 1, 2, 2, 2]
    assert PLAN.heartbeat_s == 5
    assert CanaryPlan(steps=[10], interval_s=30, duration_s=60, lease_ttl_s=15, holder="h").heartbeat_s == 5
