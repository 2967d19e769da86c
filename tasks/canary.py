"""Canary step: shift traffic, watch it, then promote or roll back (launchgate.canary.rollout does the work).

Two tasks inside one Prefect transaction: ``canary-shift`` takes the lease and shifts the first
step, and its on_rollback hook sets the weight back to 0; ``canary-watch`` runs the window. If the
watch task fails in any way (crash, timeout, evidence write error), the transaction rolls back and
the hook undoes the shift, on top of the loop's own undo and the gateway's lease. The transaction
is unkeyed on purpose: a keyed one persists, and a rerun would find it committed and skip hooks.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Literal

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.transactions import Transaction, get_transaction, transaction
from pydantic import BaseModel

from launchgate.canary.judge import CanaryJudge, JudgeConfig
from launchgate.canary.report import summary, summary_markdown, tick_row, timeline_png
from launchgate.canary.rollout import CanaryOutcome, CanaryPlan, CanaryStart, Tick, begin_canary, watch_canary
from launchgate.canary.traffic import TrafficGenerator, golden_prompts
from launchgate.config import Canary
from launchgate.errors import ArtifactExistsError, LaunchgateError, ReleaseStateError
from launchgate.notify import progress
from launchgate.notify.base import Notice
from launchgate.release.preflight import ReleaseRun
from launchgate.release.promotion import find_promotion, record_promotion, write_last_known_good
from launchgate.release.resume import holder_for, wait_out_other_attempts
from launchgate.router import make_router
from launchgate.verdicts import Phase, Verdict

TXN_KEY = "launchgate_canary"


class CanaryStepResult(BaseModel):
    result: Literal["promoted", "rolled_back"]
    reason: str
    verdicts: list[Verdict]


def _holder(run: ReleaseRun) -> str:
    return holder_for(run.release_id, run.attempt)


def _check_not_decided_meanwhile(run: ReleaseRun, router: Any) -> None:
    """A resumed attempt shifts nothing if an earlier attempt decided or promoted while it ran."""
    if run.bundle.exists("decision.json") or find_promotion(run.store, run.config.service, run.release_id):
        raise ReleaseStateError(f"--resume {run.release_id}: an earlier attempt decided or promoted this release "
                                f"while attempt {run.attempt} ran; nothing was shifted. Its decision stands.")
    waited = wait_out_other_attempts(router, run.release_id, _holder(run))  # a dead attempt's lease lapses first
    if waited:
        get_run_logger().info("canary: %s", waited)


def emit(run: ReleaseRun, name: str, reason: str, **extra: Any) -> None:
    """A Prefect event teams can hang automations on; the reason travels in the payload."""
    emit_event(
        event=f"launchgate.canary.{name}",
        resource={"prefect.resource.id": f"launchgate.release.{run.release_id}",
                  "prefect.resource.name": run.release_id, "launchgate.service": run.config.service},
        related=[{"prefect.resource.id": f"launchgate.service.{run.config.service}",
                  "prefect.resource.role": "service"}],
        payload={"release_id": run.release_id, "service": run.config.service, "reason": reason,
                 "evidence": run.evidence_uri, **extra},
    )


@task(name="canary-shift", cache_policy=NO_CACHE, timeout_seconds=120)
def shift_to_canary(run: ReleaseRun) -> CanaryStart:
    cfg = run.config
    router, _ = make_router(cfg.canary)
    if run.attempt > 1:
        _check_not_decided_meanwhile(run, router)
    router.attach_candidate(cfg.candidate.endpoint, cfg.candidate.model, cfg.candidate.prompt.version,
                            run.release_id, system_prompt=run.prompts["candidate"])
    txn = get_transaction()
    if txn is not None:  # what the undo hook needs to rebuild the router in any process
        txn.set(TXN_KEY, {"canary": cfg.canary.model_dump(mode="json"), "holder": _holder(run)})
    start = begin_canary(router, CanaryPlan.from_config(cfg.canary, _holder(run)))
    emit(run, "started", f"{start.shift.pct:g}% of traffic shifted to {cfg.candidate.model} "
                         f"(prompt {cfg.candidate.prompt.version})", steps=cfg.canary.plan)
    return start


@shift_to_canary.on_rollback
def _undo_shift(txn: Transaction) -> None:
    data = txn.get(TXN_KEY, None)
    if not data:
        return
    router, _ = make_router(Canary.model_validate(data["canary"]))
    router.set_candidate_weight(0, "canary step failed: the Prefect transaction rolled the shift back")
    with contextlib.suppress(LaunchgateError):
        router.release(data["holder"])


class _Progress:
    """Prefect progress artifact + the CLI's progress bus, throttled to one update per second."""

    def __init__(self, run: ReleaseRun) -> None:
        self.total = int(run.config.canary.duration_s)
        self.artifact_id = create_progress_artifact(progress=0.0, key="canary-progress",
                                                    description=f"canary window of {run.release_id}")
        self.last = 0.0
        self.log = get_run_logger()

    def __call__(self, tick: Tick, frac: float) -> None:
        progress.emit("canary", int(frac * self.total), self.total)
        now = time.monotonic()
        if now - self.last >= 1.0 or frac >= 1.0:
            self.last = now
            update_progress_artifact(artifact_id=self.artifact_id, progress=round(100.0 * frac, 1))
        self.log.info("canary t=%.1fs weight=%g%%: %s", tick.t_s, tick.weight, tick.reason)


@task(name="canary-watch", cache_policy=NO_CACHE)
def watch(run: ReleaseRun, start: CanaryStart) -> CanaryOutcome:
    cfg = run.config
    router, metrics = make_router(cfg.canary)
    judge_cfg = JudgeConfig.from_config(cfg.canary, cfg.rollback)
    plan = CanaryPlan.from_config(cfg.canary, _holder(run))
    traffic = None
    if cfg.canary.demo_traffic_rps > 0:
        prompts = golden_prompts([c.input for c in run.cases])
        traffic = TrafficGenerator(f"{cfg.canary.gateway_url.rstrip('/')}/v1", cfg.stable.model, prompts,
                                   cfg.canary.demo_traffic_rps, timeout_s=cfg.stable.timeout_s,
                                   max_tokens=cfg.contracts.max_output_tokens)
    with traffic or contextlib.nullcontext():
        outcome = watch_canary(router, metrics, CanaryJudge(judge_cfg), plan, start, on_tick=_Progress(run))
    if outcome.result == "rolled_back":
        _on_rollback(run, outcome)  # on-call first, evidence after
    else:
        _on_promote(run, outcome)
    write_evidence(run, outcome, judge_cfg, traffic.tally.as_dict() if traffic else None)
    return outcome


def _on_rollback(run: ReleaseRun, outcome: CanaryOutcome) -> None:
    run.dispatcher.send(Notice(
        event="rollback", role="oncall", service=run.config.service, release_id=run.release_id,
        status="rolled_back", title=f"Canary rolled back: {run.release_id}",
        text=f"{outcome.reason} Stable serves all traffic; evidence in canary/.", link=run.evidence_uri,
        fields={"at": f"{outcome.rollback_at_s or 0:.1f}s into the canary", "router": run.config.canary.router},
    ))
    emit(run, "rolled_back", outcome.reason, rollback_at_s=outcome.rollback_at_s)


def _on_promote(run: ReleaseRun, outcome: CanaryOutcome) -> None:
    cand = run.manifest.candidate
    record = {"endpoint": cand.endpoint, "model": cand.model, "prompt_version": cand.prompt_version,
              "prompt_sha256": cand.prompt_sha256, "candidate_sha256": run.manifest.candidate_sha256}
    try:  # write-once: the record a resume reads to know this release was promoted
        record_promotion(run.store, run.config.service, run.release_id, run.attempt, record)
    except ArtifactExistsError:
        get_run_logger().error("%s already had a promotion record: another attempt promoted it too",
                               run.release_id)
    write_last_known_good(run.store, run.config.service, run.release_id, record,
                          eval_report=run.bundle.key("eval/eval_report.json"))
    run.dispatcher.send(Notice(
        event="promoted", role="engineering", service=run.config.service, release_id=run.release_id,
        status="promoted", title=f"Promoted: {run.release_id}", text=outcome.reason, link=run.evidence_uri,
    ))
    emit(run, "promoted", outcome.reason)


def write_evidence(run: ReleaseRun, outcome: CanaryOutcome, judge_cfg: JudgeConfig,
                   traffic: dict[str, Any] | None) -> None:
    b = run.bundle
    b.put_jsonl("canary/timeseries.jsonl", [tick_row(t) for t in outcome.ticks])
    s = summary(outcome, judge_cfg, release_id=run.release_id, router=run.config.canary.router, traffic=traffic)
    b.put_json("canary/canary_summary.json", s)
    md = summary_markdown(s)
    b.put_text("canary/canary_summary.md", md, "text/markdown")
    b.put_json("canary/verdicts.json", [v.model_dump(mode="json") for v in outcome.verdicts])
    try:
        b.put_bytes("canary/timeline.png", timeline_png(outcome, judge_cfg), "image/png")
    except (ValueError, RuntimeError) as exc:  # a chart must never turn a decided canary into a crash
        logging.getLogger(__name__).warning("canary timeline not drawn: %s", exc)
    create_markdown_artifact(key="canary-summary", markdown=md, description=outcome.reason[:250])


def canary(run: ReleaseRun) -> CanaryStepResult:
    """The canary step for the release flow: shift + watch in one transaction."""
    c = run.config.canary
    with transaction():
        start = shift_to_canary(run)
        outcome = watch.with_options(timeout_seconds=c.duration_s + 2 * c.interval_s + 300)(run, start)
    # Worst first, so the decision's summary names the check that rolled the canary back.
    order = {Phase.FAILED: 0, Phase.ERROR: 1, Phase.INCONCLUSIVE: 2, Phase.SUCCESSFUL: 3}
    verdicts = sorted(outcome.verdicts, key=lambda v: order[v.phase])
    return CanaryStepResult(result=outcome.result, reason=outcome.reason, verdicts=verdicts)
