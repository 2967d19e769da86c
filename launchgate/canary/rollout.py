"""The canary loop: shift, watch, judge, heartbeat; then promote or roll back. No Prefect here.

tasks/canary.py wraps it with Prefect (artifacts, events, transaction); the benchmark drives it
directly against a real gateway. Time and sleep are injectable so tests can run it fast.

Safety, in order of who acts first:
1. the judge says FAILED -> weight 0 within the same loop turn (before anything else is reported);
2. anything in this loop raises -> weight 0 best effort, then the error propagates;
3. this process dies -> the lease is not renewed and the gateway sets weight 0 by itself.
The loop also notices (3) from the outside: if the router reports weight 0 while the plan says
otherwise, the gateway reverted on its own and the canary ends as rolled back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from launchgate.canary.judge import Action, CanaryJudge, Judgement
from launchgate.config import Canary
from launchgate.errors import ExternalError, LaunchgateError
from launchgate.router.base import CANDIDATE, MetricsSource, TrafficRouter, WindowStats
from launchgate.verdicts import Phase, Verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CanaryPlan:
    steps: list[float]
    interval_s: float
    duration_s: float
    lease_ttl_s: float
    holder: str

    @classmethod
    def from_config(cls, canary: Canary, holder: str) -> CanaryPlan:
        return cls(steps=canary.plan, interval_s=canary.interval_s, duration_s=canary.duration_s,
                   lease_ttl_s=canary.lease_ttl_s, holder=holder)

    @property
    def heartbeat_s(self) -> float:
        # Three renewals per TTL: one lost or slow renewal must not let the lease lapse.
        return min(self.interval_s, self.lease_ttl_s / 3)

    def step_at(self, elapsed_s: float) -> int:
        """Index of the step in force ``elapsed_s`` into the window (steps split it evenly)."""
        per = self.duration_s / len(self.steps)
        return min(int(elapsed_s // per), len(self.steps) - 1)


class Tick(BaseModel):
    """One look: what the judge saw and decided."""

    t_s: float
    ts: float
    weight: float = Field(description="candidate % the plan had in force")
    router_weight: float | None = Field(default=None, description="candidate % the router reported")
    stats: dict[str, WindowStats] | None = None
    error: str | None = None
    phase: Phase
    action: Action
    reason: str
    source: dict[str, Any] | None = Field(default=None, description="the metrics source's record of the look "
                                                                    "(Prometheus: resolved queries, raw values)")


class Shift(BaseModel):
    t_s: float
    ts: float
    pct: float
    reason: str
    took_s: float


class CanaryOutcome(BaseModel):
    result: Literal["promoted", "rolled_back"]
    reason: str
    judgement: Judgement
    started_at: float
    ended_at: float
    ticks: list[Tick]
    shifts: list[Shift]
    rollback_at_s: float | None = None
    reverted_by_router: bool = False

    @property
    def verdicts(self) -> list[Verdict]:
        return self.judgement.verdicts


@dataclass
class _Loop:
    router: TrafficRouter
    metrics: MetricsSource
    judge: CanaryJudge
    plan: CanaryPlan
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    on_tick: Callable[[Tick, float], None] | None
    started: float = 0.0
    weight: float = 0.0
    ticks: list[Tick] = field(default_factory=list)
    shifts: list[Shift] = field(default_factory=list)

    def shift(self, pct: float, reason: str) -> None:
        t0 = self.clock()
        self.router.set_candidate_weight(pct, reason)
        now = self.clock()
        self.weight = pct
        self.shifts.append(Shift(t_s=round(t0 - self.started, 3), ts=t0, pct=pct, reason=reason,
                                 took_s=round(now - t0, 4)))
        log.info("canary: candidate weight %s%% (%s)", pct, reason)

    def heartbeat(self) -> None:
        try:
            self.router.heartbeat(self.plan.holder, self.plan.lease_ttl_s)
        except ExternalError as exc:
            # The next look will see whether the router is still there; the lease covers us meanwhile.
            log.warning("canary: lease renewal failed: %s", exc)

    def look(self, final: bool) -> tuple[Tick, Judgement]:
        now = self.clock()
        stats: dict[str, WindowStats] | None = None
        error = None
        try:
            stats = self.metrics.window(self.started)
        except ExternalError as exc:
            error = str(exc)
        router_weight = None
        try:
            router_weight = float(self.router.weights().get(CANDIDATE, 0.0))
        except ExternalError as exc:
            error = error or f"router weights unavailable: {exc}"
        j = self.judge.judge(stats, at_s=now - self.started, final=final, error=error)
        tick = Tick(t_s=round(now - self.started, 3), ts=now, weight=self.weight, router_weight=router_weight,
                    stats=stats, error=error, phase=j.phase, action=j.action, reason=j.reason,
                    source=getattr(self.metrics, "last_look", None))  # optional: only some sources keep one
        self.ticks.append(tick)
        return tick, j


class CanaryStart(BaseModel):
    """The canary's first shift, done; ``started_at`` is the unix time its stats window opens."""

    started_at: float
    shift: Shift


def begin_canary(router: TrafficRouter, plan: CanaryPlan, *, clock: Callable[[], float] = time.time) -> CanaryStart:
    """Take the lease, then shift the first step. The candidate must already be attached."""
    # Lease first: if this process dies right after the shift, the gateway still reverts.
    router.heartbeat(plan.holder, plan.lease_ttl_s)
    started = clock()
    reason = f"canary step 1/{len(plan.steps)}: {plan.steps[0]:g}% to the candidate"
    router.set_candidate_weight(plan.steps[0], reason)
    shift = Shift(t_s=0.0, ts=started, pct=plan.steps[0], reason=reason, took_s=round(clock() - started, 4))
    log.info("canary: candidate weight %s%% (%s)", plan.steps[0], reason)
    return CanaryStart(started_at=started, shift=shift)


def watch_canary(
    router: TrafficRouter, metrics: MetricsSource, judge: CanaryJudge, plan: CanaryPlan, start: CanaryStart, *,
    clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
    on_tick: Callable[[Tick, float], None] | None = None,
) -> CanaryOutcome:
    """Watch the window that ``begin_canary`` opened, then promote or roll back; releases the lease.

    ``on_tick(tick, progress_fraction)`` is called after each look (progress artifacts, logs).
    Raises only when the router itself fails; the candidate weight is set back to 0 first.
    """
    loop = _Loop(router, metrics, judge, plan, clock, sleep, on_tick, started=start.started_at,
                 weight=start.shift.pct, shifts=[start.shift])
    try:
        return _watch(loop)
    except BaseException:
        try:
            router.set_candidate_weight(0, "canary aborted: launchgate hit an error mid-canary")
        except LaunchgateError as undo_exc:  # the lease will still revert the gateway
            log.error("canary: could not set the candidate weight back to 0: %s", undo_exc)
        raise
    finally:
        try:
            router.release(plan.holder)
        except LaunchgateError as exc:
            log.warning("canary: could not release the lease (it expires by itself): %s", exc)


def run_canary(
    router: TrafficRouter, metrics: MetricsSource, judge: CanaryJudge, plan: CanaryPlan, *,
    clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
    on_tick: Callable[[Tick, float], None] | None = None,
) -> CanaryOutcome:
    """begin_canary + watch_canary in one call (benchmarks, tests, the CLI)."""
    start = begin_canary(router, plan, clock=clock)
    return watch_canary(router, metrics, judge, plan, start, clock=clock, sleep=sleep, on_tick=on_tick)


def _watch(loop: _Loop) -> CanaryOutcome:
    plan, clock = loop.plan, loop.clock
    step = 0
    end = loop.started + plan.duration_s
    next_look = loop.started + plan.interval_s
    next_beat = loop.started + plan.heartbeat_s
    while True:
        now = clock()
        if now >= next_beat:
            loop.heartbeat()
            next_beat = now + plan.heartbeat_s
        if now >= next_look or now >= end:
            final = now >= end
            tick, j = loop.look(final)
            if loop.on_tick is not None:
                loop.on_tick(tick, min(1.0, (now - loop.started) / plan.duration_s))
            if tick.router_weight == 0 and loop.weight > 0 and j.action is not Action.ROLLBACK:
                return _reverted(loop, j, tick)
            if j.action is Action.ROLLBACK:
                loop.shift(0, f"rollback: {j.reason}")
                return _outcome(loop, "rolled_back", j, rollback_at_s=tick.t_s)
            if j.action is Action.PROMOTE:
                loop.shift(100, f"promote: {j.reason}")
                hand_over = getattr(loop.router, "hand_over", None)
                if hand_over is not None:  # routers with upstream slots (the gateway) swap stable
                    hand_over(f"promoted after the canary: {j.reason}")
                return _outcome(loop, "promoted", j)
            want = plan.step_at(now - loop.started)
            if j.action is Action.CONTINUE and want > step:  # HOLD never steps up
                step = want
                loop.shift(plan.steps[step], f"canary step {step + 1}/{len(plan.steps)}: "
                                             f"{plan.steps[step]:g}% to the candidate")
            next_look = max(next_look + plan.interval_s, now + plan.interval_s / 10)
        wake = min(next_look, next_beat, end)
        loop.sleep(max(0.0, wake - clock()))


def _reverted(loop: _Loop, j: Judgement, tick: Tick) -> CanaryOutcome:
    reason = (f"the router reports candidate weight 0 while the canary planned {loop.weight:g}%: the gateway "
              f"returned traffic to stable by itself (lease expired or a manual rollback).")
    v = Verdict(check="canary_router", phase=Phase.ERROR, value=0, threshold=loop.weight, reason=reason,
                evidence="canary/canary_summary.json")
    judged = j.model_copy(update={"phase": Phase.ERROR, "action": Action.ROLLBACK, "reason": reason,
                                  "verdicts": [*j.verdicts, v]})
    loop.weight = 0
    return _outcome(loop, "rolled_back", judged, rollback_at_s=tick.t_s, reverted=True)


def _outcome(loop: _Loop, result: Literal["promoted", "rolled_back"], j: Judgement, *,
             rollback_at_s: float | None = None, reverted: bool = False) -> CanaryOutcome:
    return CanaryOutcome(result=result, reason=j.reason, judgement=j, started_at=loop.started,
                         ended_at=loop.clock(), ticks=loop.ticks, shifts=loop.shifts, rollback_at_s=rollback_at_s,
                         reverted_by_router=reverted)
