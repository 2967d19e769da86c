"""Tasks of the scheduled reviews (drift, cost, post-launch): thin wrappers over launchgate.

Nothing here retries: the reviews are idempotent per period, so a failed run is simply rerun
(or picked up by the next schedule).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from launchgate.config.context import ServiceContext
from launchgate.governance.freeze import FreezeRecord, Source, set_freeze
from launchgate.notify.base import Notice, NotifyOutcome
from launchgate.requestlog.reader import LogRead, read_requests
from launchgate.reviews.common import write_notifications, write_review
from launchgate.reviews.drift import run_expectations


@task(name="read-request-log", cache_policy=NO_CACHE, timeout_seconds=900)
def read_log(ctx: ServiceContext, start: datetime, end: datetime) -> LogRead:
    read = read_requests(ctx.store, ctx.service, start, end)
    log = get_run_logger()
    log.info("request log %s .. %s: %d requests from %d files", f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}",
             len(read.records), read.files)
    if read.bad_lines:
        log.warning("%d bad log lines skipped, e.g. %s", read.bad_lines, "; ".join(read.bad_examples[:3]))
    return read


@task(name="log-expectations", cache_policy=NO_CACHE, timeout_seconds=600)
def log_expectations(ctx: ServiceContext, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The Great Expectations suite; a GX failure is reported in the review, never fails it."""
    cfg = ctx.config
    try:
        return run_expectations(records, max_output_tokens=cfg.contracts.max_output_tokens,
                                min_schema_valid=cfg.evaluation.min_schema_valid_rate / 100)
    except Exception as exc:  # noqa: BLE001 - the statistics stand without the suite
        get_run_logger().exception("Great Expectations suite crashed")
        return {"suite": "request_log", "success": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                "evaluated": 0, "failed": 0, "results": []}


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
