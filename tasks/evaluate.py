"""Eval gate task: launchgate.eval.step.run_eval under Prefect, with a progress artifact and reports."""

from __future__ import annotations

import time
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from launchgate.eval.step import EvalOutcome, run_eval
from launchgate.notify import progress
from launchgate.release.preflight import ReleaseRun

__all__ = ["EvalOutcome", "eval_gate"]

UPDATE_EVERY_S = 0.5  # an artifact update is an API call, and cases finish hundreds per second


class _ProgressArtifact:
    """The eval's progress as a Prefect artifact (throttled) and on launchgate's progress bus (the CLI bar)."""

    def __init__(self) -> None:
        self.artifact_id: UUID | None = None
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.artifact_id is None:  # run_eval reports (0, total) before the first model call
            self.artifact_id = create_progress_artifact(progress=0.0, key="eval-progress",
                                                        description=f"golden set: {total} calls")
        progress.emit("eval", done, total)
        now = time.monotonic()
        if done and (now - self.last > UPDATE_EVERY_S or done == total):
            self.last = now
            update_progress_artifact(artifact_id=self.artifact_id, progress=100.0 * done / total)


@task(name="eval-gate", cache_policy=NO_CACHE, timeout_seconds=3600)
def eval_gate(run: ReleaseRun) -> EvalOutcome:
    log = get_run_logger()
    bar = _ProgressArtifact()
    outcome = run_eval(run, on_progress=bar)
    for warning in outcome.warnings:
        log.warning("%s", warning)
    if bar.artifact_id is not None:
        update_progress_artifact(artifact_id=bar.artifact_id, progress=100.0)
    if not outcome.summaries:  # stopped before any model call (the budget): nothing to report
        log.warning("eval: %s", outcome.summary)
        return outcome
    create_markdown_artifact(key="eval-report", markdown=outcome.markdown,
                             description=f"eval report of {run.release_id}")
    create_table_artifact(key="eval-summary", table=outcome.tables["eval-summary"],
                          description=f"eval summary of {run.release_id}"
                                      + (f"; {outcome.comparison}" if outcome.comparison else ""))
    log.info("eval: %s", outcome.summary)
    return outcome
