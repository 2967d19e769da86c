"""Canary task: shift and watch inside one Prefect transaction (launchgate.canary.step does the work).

If the watch fails in any way (crash, timeout, evidence write error), the transaction rolls back
and the shift's undo hook sets the weight back to 0, on top of the loop's own undo and the
gateway's lease. The transaction is unkeyed on purpose: a keyed one persists, and a rerun would
find it committed and skip its hooks.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.transactions import Transaction, get_transaction, transaction

from launchgate.canary import step
from launchgate.canary.rollout import CanaryStart, Tick
from launchgate.canary.step import CanaryStepResult
from launchgate.notify import progress
from launchgate.release.preflight import ReleaseRun

TXN_KEY = "launchgate_canary"


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
    txn = get_transaction()
    if txn is not None:  # what the undo hook needs to rebuild the router in any process
        txn.set(TXN_KEY, {"canary": run.config.canary.model_dump(mode="json"), "holder": step.holder(run)})
    start = step.shift(run)
    cand = run.config.candidate
    emit(run, "started", f"{start.shift.pct:g}% of traffic shifted to {cand.model} (prompt {cand.prompt.version})",
         steps=run.config.canary.plan)
    return start


@shift_to_canary.on_rollback
def _undo_shift(txn: Transaction) -> None:
    data = txn.get(TXN_KEY, None)
    if data:
        step.undo_shift(data["canary"], data["holder"])


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
def watch(run: ReleaseRun, start: CanaryStart) -> CanaryStepResult:
    done = step.watch(run, start, on_tick=_Progress(run))
    emit(run, done.result, done.reason, **({"rollback_at_s": done.rollback_at_s} if done.result == "rolled_back"
                                           else {}))
    create_markdown_artifact(key="canary-summary", markdown=done.markdown, description=done.reason[:250])
    return done


def canary(run: ReleaseRun) -> CanaryStepResult:
    """The canary step for the release flow: shift + watch in one transaction."""
    c = run.config.canary
    with transaction():
        start = shift_to_canary(run)
        return watch.with_options(timeout_seconds=c.duration_s + 2 * c.interval_s + 300)(run, start)
