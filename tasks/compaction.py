"""Task of the hourly request-log compaction: the step plus its table and progress as Prefect artifacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.config.context import ServiceContext
from launchgate.notify.progress import emit
from launchgate.requestlog.compaction import compaction_step
from launchgate.verdicts import StepResult


# No retries here: a failed hour is retried by the next hourly run (compaction is idempotent).
@task(name="compact-request-log", cache_policy=NO_CACHE, timeout_seconds=3000)
def compact_log(ctx: ServiceContext, grace_minutes: int, lookback_days: int) -> StepResult:
    progress = create_progress_artifact(progress=0.0, description="closed hours compacted")

    def on_progress(done: int, total: int) -> None:
        emit("compact", done, total)
        update_progress_artifact(artifact_id=progress, progress=100.0 * done / max(total, 1))

    result = compaction_step(ctx.store, ctx.service, datetime.now(UTC), grace=timedelta(minutes=grace_minutes),
                             lookback=timedelta(days=lookback_days), on_progress=on_progress)
    create_markdown_artifact(key="log-compaction", markdown=result.markdown, description=result.summary[:250])
    log = get_run_logger()
    (log.warning if result.blocks else log.info)("%s", result.summary)
    return result
