"""Tasks of the scheduled reviews (drift, cost, post-launch): thin wrappers over launchgate.

Nothing here retries: the reviews are idempotent per period, so a failed run is simply rerun
(or picked up by the next schedule).
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from launchgate.config.context import ServiceContext
from launchgate.governance.freeze import FreezeRecord, Source, set_freeze
from launchgate.notify.base import Notice, NotifyOutcome
from launchgate.reviews.common import write_notifications, write_review


@task(name="write-review", cache_policy=NO_CACHE, timeout_seconds=300)
def store_review(ctx: ServiceContext, prefix: str, report: object, markdown: str,
                 charts: dict[str, bytes]) -> dict[str, str]:
    return write_review(ctx.store, prefix, report, markdown, charts)


@task(name="set-freeze", cache_policy=NO_CACHE, timeout_seconds=120)
def freeze_releases(ctx: ServiceContext, *, by: str, reason: str, source: Source, evidence: str) -> FreezeRecord:
    record = set_freeze(ctx.store, ctx.config, by=by, reason=reason, source=source, evidence=evidence)
    get_run_logger().warning("releases of %s frozen: %s", ctx.service, reason)
    return record


@task(name="notify-review", cache_policy=NO_CACHE, timeout_seconds=120)
def notify_review(ctx: ServiceContext, notices: list[Notice], prefix: str) -> list[NotifyOutcome]:
    """Send the summary notices and keep who was told what next to the review."""
    outcomes = [ctx.dispatcher.send(n) for n in notices]
    for o in outcomes:
        if not o.ok:
            get_run_logger().warning("notice %s to %s not delivered: %s", o.event, o.role, o.error)
    write_notifications(ctx.store, prefix, ctx.dispatcher)
    return outcomes
