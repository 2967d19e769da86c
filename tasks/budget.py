"""Pipeline-spend task: book the release's eval and load-test spend (launchgate/budget/release_spend.py)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from launchgate.budget.release_spend import book_release_spend
from launchgate.release.preflight import ReleaseRun


@task(name="pipeline-spend", cache_policy=NO_CACHE, timeout_seconds=60)
def record_release_spend(run: ReleaseRun) -> float:
    return book_release_spend(run)
