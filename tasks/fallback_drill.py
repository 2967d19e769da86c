"""Fallback drill task: real faults at the candidate through a private gateway, before the canary."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.guardrails.drill import fallback_drill_step
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import Verdict


@task(name="fallback-drill", cache_policy=NO_CACHE, timeout_seconds=120)
def fallback_drill(run: ReleaseRun) -> list[Verdict]:
    done = fallback_drill_step(run)
    get_run_logger().info("%s", done.summary)
    if done.markdown:
        create_markdown_artifact(key="fallback-drill", markdown=done.markdown, description=done.summary[:250])
    return done.verdicts
