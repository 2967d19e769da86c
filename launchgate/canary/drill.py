"""The rollback drill: prove, before anyone approves a canary, that rollback works. No Prefect here.

Shift a sliver (``canary.drill_traffic``, 1%) to the candidate, roll back, then check two ways that
stable serves everything: the router's own weights, and real requests sent through the gateway
afterwards (each answer's variant header, and the gateway's per-variant stats since the probe
began). The drill holds the router's lease throughout, so a crash mid-drill still ends at stable.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from launchgate.canary.traffic import TrafficTally, golden_prompts, send_requests
from launchgate.errors import ExternalError
from launchgate.release.preflight import ReleaseRun
from launchgate.release.resume import holder_for, wait_out_other_attempts
from launchgate.router import make_router, traffic_url
from launchgate.router.base import CANDIDATE, STABLE, MetricsSource, TrafficRouter
from launchgate.verdicts import Phase, StepResult, Verdict

log = logging.getLogger(__name__)

EVIDENCE = "drill/drill_record.json"
CHECK = "rollback_tested"
WEIGHT_TOLERANCE = 0.01  # percent; routers store floats


class ProbeResult(BaseModel):
    sent: int
    answered: int = Field(description="requests that got an HTTP answer (any status)")
    ok: int
    statuses: dict[str, int]
    header_variants: dict[str, int] = Field(description="answers per variant, from the gateway's variant header")
    stats_served: dict[str, int] | None = Field(default=None, description="gateway stats since the probe began")


class DrillRecord(BaseModel):
    router: str
    drill_pct: float
    started_at: datetime
    weights_before: dict[str, float]
    weights_during: dict[str, float]
    weights_after: dict[str, float]
    shift_s: float = Field(description="shift call until the router reported the drill weight")
    rollback_s: float = Field(description="rollback call until the router reported candidate 0%")
    total_s: float
    probe: ProbeResult | None = None
    phase: Phase
    reason: str


Probe = Callable[[], TrafficTally]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= WEIGHT_TOLERANCE


def run_drill(router: TrafficRouter, *, pct: float, holder: str, ttl_s: float, probe: Probe | None = None,
              metrics: MetricsSource | None = None, clock: Callable[[], float] = time.time) -> DrillRecord:
    """Run the drill; RouterError from the router propagates (the caller records it as an error verdict)."""
    t0 = clock()
    started = datetime.now(UTC)
    router.heartbeat(holder, ttl_s)
    try:
        before = router.weights()
        router.set_candidate_weight(pct, f"rollback drill: {pct:g}% to the candidate")
        during = router.weights()
        t_shifted = clock()
        router.set_candidate_weight(0, "rollback drill: back to stable")
        after = router.weights()
        t_back = clock()
    except BaseException:
        # A half-done drill must not leave the sliver on the candidate (the lease is the backstop).
        with contextlib.suppress(ExternalError):
            router.set_candidate_weight(0, "rollback drill aborted")
        raise
    finally:
        with contextlib.suppress(ExternalError):  # an unreleased lease simply expires
            router.release(holder)
    result = None
    if probe is not None and _close(after.get(CANDIDATE, 0.0), 0.0):
        result = _run_probe(probe, metrics, clock)
    phase, reason = _judge(pct, during, after, result, t_back - t_shifted)
    return DrillRecord(router=router.name, drill_pct=pct, started_at=started, weights_before=before,
                       weights_during=during, weights_after=after, shift_s=round(t_shifted - t0, 4),
                       rollback_s=round(t_back - t_shifted, 4), total_s=round(clock() - t0, 4), probe=result,
                       phase=phase, reason=reason)


def _run_probe(probe: Probe, metrics: MetricsSource | None, clock: Callable[[], float]) -> ProbeResult:
    since = clock()
    tally = probe()
    served = None
    if metrics is not None:
        try:
            window = metrics.window(since)
            served = {name: window[name].count for name in (STABLE, CANDIDATE) if name in window}
        except ExternalError:
            served = None  # the header tally still speaks; the reason says stats were missing
    answered = tally.sent - tally.statuses.get(0, 0)
    return ProbeResult(sent=tally.sent, answered=answered, ok=tally.ok,
                       statuses={str(k): v for k, v in sorted(tally.statuses.items())},
                       header_variants=dict(tally.variants), stats_served=served)


def _judge(pct: float, during: dict[str, float], after: dict[str, float], probe: ProbeResult | None,
           rollback_s: float) -> tuple[Phase, str]:
    cand_during, cand_after = during.get(CANDIDATE, 0.0), after.get(CANDIDATE, 0.0)
    if not _close(cand_during, pct):
        return Phase.FAILED, (f"Rollback drill: the router reported {cand_during:g}% on the candidate after a "
                              f"{pct:g}% shift, so the drill proves nothing: check the router.")
    if not _close(cand_after, 0.0):
        return Phase.FAILED, (f"Rollback drill failed: after rolling back the router still sends {cand_after:g}% "
                              f"to the candidate. Do not start a canary until rollback works.")
    head = (f"Rollback drill: {pct:g}% shifted to the candidate and back in {rollback_s:.2f} s; "
            f"the router reports stable {after.get(STABLE, 0.0):g}%")
    if probe is None:
        return Phase.SUCCESSFUL, f"{head} (no request probe for this router)."
    if probe.answered == 0:
        return Phase.ERROR, (f"{head}, but none of {probe.sent} probe requests through the gateway got an answer: "
                             f"is the gateway's proxy reachable?")
    by_header = probe.header_variants.get(CANDIDATE, 0)
    by_stats = (probe.stats_served or {}).get(CANDIDATE, 0)
    if by_header or by_stats:
        return Phase.FAILED, (f"Rollback drill failed: after the rollback {max(by_header, by_stats)} of "
                              f"{probe.answered} probe requests were still served by the candidate.")
    stable_seen = max(probe.header_variants.get(STABLE, 0), (probe.stats_served or {}).get(STABLE, 0))
    if stable_seen < probe.answered:
        return Phase.ERROR, (f"{head}, but only {stable_seen} of {probe.answered} answered probe requests can be "
                             f"attributed to stable (no variant header or stats): rollback not proven.")
    return Phase.SUCCESSFUL, (f"{head}, and {probe.answered}/{probe.sent} probe requests were served by stable "
                              f"(candidate 0).")


def drill_verdict(record: DrillRecord) -> Verdict:
    return Verdict(check=CHECK, phase=record.phase, value=record.rollback_s, threshold=None, reason=record.reason,
                   evidence=EVIDENCE)


def drill_step(run: ReleaseRun) -> StepResult:
    """The release's drill: attach the candidate, shift ``drill_traffic``, roll back, probe; write the record."""
    cfg = run.config
    canary = cfg.canary
    router, metrics = make_router(canary)  # a missing admin token is an InputError: exit 2
    probe = None
    url = traffic_url(canary)  # the gateway, or HAProxy's frontend when configured
    if url:
        prompts = golden_prompts([c.input for c in run.cases])

        def probe() -> TrafficTally:
            return send_requests(f"{url.rstrip('/')}/v1", cfg.stable.model, prompts,
                                 canary.drill_requests, timeout_s=cfg.stable.timeout_s,
                                 max_tokens=cfg.contracts.max_output_tokens)
    holder = holder_for(run.release_id, run.attempt, "drill")
    try:
        if run.attempt > 1:  # a resumed release: the dead attempt's lease must lapse before any shift
            waited = wait_out_other_attempts(router, run.release_id, holder)
            if waited:
                log.info("rollback drill: %s", waited)
        router.attach_candidate(cfg.candidate.endpoint, cfg.candidate.model, cfg.candidate.prompt.version,
                                run.release_id)
        record = run_drill(router, pct=canary.drill_traffic, holder=holder,
                           ttl_s=canary.lease_ttl_s, probe=probe, metrics=metrics)
    except ExternalError as exc:
        # The router being down is a finding about the release setup, not a launchgate bug.
        verdict = Verdict(check=CHECK, phase=Phase.ERROR, evidence=EVIDENCE,
                          reason=f"Rollback drill could not run: {exc}. Fix the {canary.router} router and rerun.")
        run.bundle.put_json(EVIDENCE, {"phase": "error", "reason": verdict.reason, "router": canary.router})
        return StepResult(step="rollback_drill", verdicts=[verdict], evidence=[EVIDENCE], summary=verdict.reason)
    run.bundle.put_json(EVIDENCE, record)
    verdict = drill_verdict(record)
    md = (f"# Rollback drill: {record.phase.value}\n\n{record.reason}\n\n"
          f"| shift | rollback | total |\n|---|---|---|\n"
          f"| {record.shift_s:.3f} s | {record.rollback_s:.3f} s | {record.total_s:.3f} s |\n")
    return StepResult(step="rollback_drill", verdicts=[verdict], evidence=[EVIDENCE], summary=verdict.reason,
                      markdown=md)
