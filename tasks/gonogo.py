"""Go/no-go task: the rubric over every verdict so far (launchgate/governance/rubric.py decides)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.governance.rubric import gonogo_step
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import Verdict


# No retries: bundle writes are write-once, so a retry after a partial write could never succeed.
@task(name="go-no-go", cache_policy=NO_CACHE, timeout_seconds=120)
def go_no_go_verdicts(run: ReleaseRun, verdicts: list[Verdict]) -> list[Verdict]:
    """Writes gonogo.json + gonogo.md and tells engineering; returns the go_no_go verdict."""
    _, done = gonogo_step(run, verdicts)
    create_markdown_artifact(key="go-no-go", markdown=done.markdown, description=done.summary[:250])
    return done.verdicts
