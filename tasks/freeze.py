"""Release freeze + pipeline budget task (launchgate/governance/release_freeze.py decides)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from launchgate.governance.release_freeze import freeze_step
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import Verdict


@task(name="release-freeze", cache_policy=NO_CACHE, timeout_seconds=60)
def freeze_check(run: ReleaseRun) -> list[Verdict]:
    done = freeze_step(run)
    if done.blocks:
        get_run_logger().warning("%s", done.summary)
    return done.verdicts
