"""Rollback drill task: shift 1% to the candidate, roll back, prove stable serves everything."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.canary.drill import drill_step
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import Verdict


@task(name="rollback-drill", cache_policy=NO_CACHE, timeout_seconds=300)
def rollback_drill(run: ReleaseRun) -> list[Verdict]:
    done = drill_step(run)
    get_run_logger().info("%s", done.summary)
    if done.markdown:
        create_markdown_artifact(key="rollback-drill", markdown=done.markdown, description=done.summary[:250])
    return done.verdicts
