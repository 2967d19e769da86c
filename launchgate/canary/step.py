"""The canary step as plain functions: shift, watch, conclude (promote or roll back), write evidence.

The orchestrator (tasks/canary.py) wraps ``shift`` and ``watch`` in one transaction so that a
failed watch undoes the shift, publishes the progress and events, and nothing more.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

from launchgate.canary.judge import CanaryJudge, JudgeConfig
from launchgate.canary.prometheus import metrics_for
from launchgate.canary.report import summary, summary_markdown, tick_row, timeline_png
from launchgate.canary.rollout import CanaryOutcome, CanaryPlan, CanaryStart, Tick, begin_canary, watch_canary
from launchgate.canary.traffic import TrafficGenerator, golden_prompts
from launchgate.config import Canary
from launchgate.errors import ArtifactExistsError, LaunchgateError, ReleaseStateError
from launchgate.notify.base import Notice
from launchgate.observability.baggage import baggage_headers, release_baggage
from launchgate.observability.links import dashboard_link
from launchgate.release.preflight import ReleaseRun
from launchgate.release.promotion import find_promotion, record_promotion, write_last_known_good
from launchgate.release.resume import holder_for, wait_out_other_attempts
from launchgate.router import make_router, traffic_url
from launchgate.verdicts import StepResult, Verdict, by_severity

log = logging.getLogger(__name__)
EVIDENCE = ("canary/timeseries.jsonl", "canary/canary_summary.json", "canary/canary_summary.md",
            "canary/verdicts.json", "canary/timeline.png")


class CanaryStepResult(BaseModel):
    result: Literal["promoted", "rolled_back"]
    reason: str
    verdicts: list[Verdict]
    markdown: str = ""
    rollback_at_s: float | None = None


def holder(run: ReleaseRun) -> str:
    return holder_for(run.release_id, run.attempt)


def shift(run: ReleaseRun) -> CanaryStart:
    """Attach the candidate, take the lease and shift the plan's first step."""
    cfg = run.config
    router, _ = make_router(cfg.canary)
    if run.attempt > 1:
        _check_not_decided_meanwhile(run, router)
    router.attach_candidate(cfg.candidate.endpoint, cfg.candidate.model, cfg.candidate.prompt.version,
                            run.release_id, system_prompt=run.prompts["candidate"])
    return begin_canary(router, CanaryPlan.from_config(cfg.canary, holder(run)))


def undo_shift(canary: dict[str, Any], lease_holder: str) -> None:
    """Weight 0 and the lease released; rebuilt from plain data so any process can run it."""
    router, _ = make_router(Canary.model_validate(canary))
    router.set_candidate_weight(0, "canary step failed: the shift was rolled back")
    with contextlib.suppress(LaunchgateError):
        router.release(lease_holder)


def _check_not_decided_meanwhile(run: ReleaseRun, router: Any) -> None:
    """A resumed attempt shifts nothing if an earlier attempt decided or promoted while it ran."""
    if run.bundle.exists("decision.json") or find_promotion(run.store, run.config.service, run.release_id):
        raise ReleaseStateError(f"--resume {run.release_id}: an earlier attempt decided or promoted this release "
                                f"while attempt {run.attempt} ran; nothing was shifted. Its decision stands.")
    waited = wait_out_other_attempts(router, run.release_id, holder(run))  # a dead attempt's lease lapses first
    if waited:
        log.info("canary: %s", waited)


def watch(run: ReleaseRun, start: CanaryStart, on_tick: Callable[[Tick, float], None] | None = None
          ) -> CanaryStepResult:
    """Run the window (with demo traffic when configured), then promote or roll back and write evidence."""
    cfg = run.config
    router, metrics = make_router(cfg.canary)
    metrics = metrics_for(cfg, metrics)
    judge_cfg = JudgeConfig.from_config(cfg.canary, cfg.rollback)
    plan = CanaryPlan.from_config(cfg.canary, holder(run))
    traffic = None
    url = traffic_url(cfg.canary)
    if cfg.canary.demo_traffic_rps > 0 and url:
        prompts = golden_prompts([c.input for c in run.cases])
        with release_baggage(run.release_id):
            baggage = baggage_headers()  # the demo traffic says which release sent it
        traffic = TrafficGenerator(f"{url.rstrip('/')}/v1", cfg.stable.model, prompts,
                                   cfg.canary.demo_traffic_rps, timeout_s=cfg.stable.timeout_s,
                                   max_tokens=cfg.contracts.max_output_tokens, headers=baggage)
    with traffic or contextlib.nullcontext():
        outcome = watch_canary(router, metrics, CanaryJudge(judge_cfg), plan, start, on_tick=on_tick)
    if outcome.result == "rolled_back":
        _tell_oncall(run, outcome)  # on-call first, evidence after
    else:
        promote(run, outcome.reason)
    md = write_evidence(run, outcome, judge_cfg, traffic.tally.as_dict() if traffic else None)
    return CanaryStepResult(result=outcome.result, reason=outcome.reason, verdicts=by_severity(outcome.verdicts),
                            markdown=md, rollback_at_s=outcome.rollback_at_s)


def _tell_oncall(run: ReleaseRun, outcome: CanaryOutcome) -> None:
    run.dispatcher.send(Notice(
        event="rollback", role="oncall", service=run.config.service, release_id=run.release_id,
        status="rolled_back", title=f"Canary rolled back: {run.release_id}",
        text=f"{outcome.reason} Stable serves all traffic; evidence in canary/.", link=run.evidence_uri,
        fields={"at": f"{outcome.rollback_at_s or 0:.1f}s into the canary", "router": run.config.canary.router},
    ))


def promote(run: ReleaseRun, reason: str) -> None:
    """The write-once promotion record (what a resume reads), last-known-good, and engineering told."""
    cand = run.manifest.candidate
    record = {"endpoint": cand.endpoint, "model": cand.model, "prompt_version": cand.prompt_version,
              "prompt_sha256": cand.prompt_sha256, "candidate_sha256": run.manifest.candidate_sha256}
    try:
        record_promotion(run.store, run.config.service, run.release_id, run.attempt, record)
    except ArtifactExistsError:
        log.error("%s already had a promotion record: another attempt promoted it too", run.release_id)
    write_last_known_good(run.store, run.config.service, run.release_id, record,
                          eval_report=run.bundle.key("eval/eval_report.json"))
    run.dispatcher.send(Notice(
        event="promoted", role="engineering", service=run.config.service, release_id=run.release_id,
        status="promoted", title=f"Promoted: {run.release_id}", text=reason, link=run.evidence_uri,
    ))


def write_evidence(run: ReleaseRun, outcome: CanaryOutcome, judge_cfg: JudgeConfig,
                   traffic: dict[str, Any] | None) -> str:
    """canary/: timeseries, summary (JSON + Markdown), verdicts, timeline chart. Returns the Markdown."""
    b = run.bundle
    b.put_jsonl("canary/timeseries.jsonl", [tick_row(t) for t in outcome.ticks])
    s = summary(outcome, judge_cfg, release_id=run.release_id, router=run.config.canary.router, traffic=traffic,
                interval_s=run.config.canary.interval_s)
    s["dashboard"] = dashboard_link(run.config, outcome.started_at, outcome.ended_at)
    b.put_json("canary/canary_summary.json", s)
    md = summary_markdown(s)
    b.put_text("canary/canary_summary.md", md, "text/markdown")
    b.put_json("canary/verdicts.json", [v.model_dump(mode="json") for v in outcome.verdicts])
    try:
        b.put_bytes("canary/timeline.png", timeline_png(outcome, judge_cfg), "image/png")
    except (ValueError, RuntimeError) as exc:  # a chart must never turn a decided canary into a crash
        log.warning("canary timeline not drawn: %s", exc)
    return md


def as_step_result(done: CanaryStepResult) -> StepResult:
    return StepResult(step="canary", verdicts=done.verdicts, evidence=list(EVIDENCE), summary=done.reason,
                      markdown=done.markdown)
