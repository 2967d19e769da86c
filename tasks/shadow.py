"""Shadow task: the candidate answers mirrored live traffic beside stable (launchgate.shadow.step does the work)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.notify import progress
from launchgate.release.preflight import ReleaseRun
from launchgate.shadow.step import shadow_step
from launchgate.verdicts import Verdict


@task(name="shadow", cache_policy=NO_CACHE)
def shadow(run: ReleaseRun) -> list[Verdict]:
    log = get_run_logger()

    def on_progress(done: int, total: int, what: str) -> None:
        progress.emit("shadow", done, total)
        log.info("shadow %ds/%ds: %s", done, total, what)

    result = shadow_step(run, on_progress)
    log.info("%s", result.summary)
    if result.markdown:
        create_markdown_artifact(key="shadow", markdown=result.markdown, description=result.summary[:250])
    return result.verdicts
