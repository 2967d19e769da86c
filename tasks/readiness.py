"""Readiness task: every readiness item judged from this run's evidence and the store, before go/no-go."""

from __future__ import annotations

import time
from collections.abc import Sequence

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.readiness.step import readiness_step
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import Verdict


# No retries: bundle writes are write-once, so a retry after a partial write could never succeed.
@task(name="readiness", cache_policy=NO_CACHE, timeout_seconds=60)
def readiness(run: ReleaseRun, verdicts: Sequence[Verdict]) -> list[Verdict]:
    """Writes readiness/readiness.json, readiness.md and evidence.json; returns the readiness verdict."""
    log = get_run_logger()
    started = time.perf_counter()
    result = readiness_step(run, list(verdicts))
    took = time.perf_counter() - started
    create_markdown_artifact(key="readiness", markdown=result.markdown, description=result.summary[:250])
    create_table_artifact(key="readiness-items", table=result.tables["readiness"],
                          description=f"readiness items of {run.release_id}, required first")
    (log.warning if result.blocks else log.info)("readiness (judged in %.2f s): %s", took, result.summary)
    return result.verdicts
