"""Tasks of the retention deployment: thin wrappers over launchgate/lifecycle/ and privacy/scan.py.

No retries: a failed deletion is counted in the record and retried by the next daily run; the scan
is read-only and simply runs again.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.config.context import ServiceContext
from launchgate.lifecycle.retention import run_retention
from launchgate.privacy.scan import scan_notices, scan_unsafe_logging
from launchgate.verdicts import Phase, StepResult


def _publish(key: str, done: StepResult) -> None:
    create_markdown_artifact(key=key, markdown=done.markdown, description=done.summary[:250])
    for name, rows in done.tables.items():
        if rows:
            create_table_artifact(key=f"{key}-{name}".replace("_", "-"), table=rows, description=done.summary[:250])


@task(name="retention", cache_policy=NO_CACHE, timeout_seconds=3600)
def apply_retention(ctx: ServiceContext) -> StepResult:
    done = run_retention(ctx.store, ctx.config)
    log = get_run_logger()
    log.info("%s", done.summary)
    for v in done.verdicts[1:]:
        if v.blocks:
            log.warning("%s", v.reason)
    _publish("retention", done)
    return done


@task(name="unsafe-logging-scan", cache_policy=NO_CACHE, timeout_seconds=1800)
def unsafe_logging_scan(ctx: ServiceContext) -> StepResult:
    done = scan_unsafe_logging(ctx.store, ctx.config)
    for notice in scan_notices(done, ctx.service, ctx.store.location(done.evidence[0])):
        outcome = ctx.dispatcher.send(notice)
        if not outcome.ok:
            get_run_logger().warning("unsafe-logging alert to %s not delivered: %s", outcome.role, outcome.error)
    found = done.verdicts[0].phase is Phase.FAILED
    (get_run_logger().warning if found else get_run_logger().info)("%s", done.summary)
    _publish("unsafe-logging-scan", done)
    return done
