"""The monthly extended evaluation deployment (``extended-eval``, the 1st of each month, 07:00).

Runs the golden set against stable with repeats (flaky cases), scores per tag and the
representativeness check (launchgate/readiness/extended_eval.py), writes
``<service>/reviews/extended-eval/<yyyy-mm>/`` (report.json, report.md) and tells product.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from launchgate.config.context import ServiceContext
from launchgate.notify.base import Notice
from launchgate.readiness.extended_eval import DEFAULT_REPEATS, extended_markdown, run_extended_eval
from launchgate.reviews.common import REPORT_JSON
from launchgate.store import layout
from tasks.reviews import notify_review, store_review


@flow(name="extended-eval", log_prints=True)
def extended_eval(config: str, artifacts: str | None = None, repeats: int = DEFAULT_REPEATS) -> dict[str, Any]:
    """Evaluate ``config``'s stable variant on the whole golden set, ``repeats`` times per case."""
    log = get_run_logger()
    now = datetime.now(UTC)
    ctx = ServiceContext.open(config, artifacts=artifacts)
    assert ctx.config_path is not None
    report = run_extended_eval(ctx.store, ctx.config, ctx.config_path, settings=ctx.settings, now=now,
                               repeats=repeats)
    prefix = layout.extended_eval(ctx.service, report.month)
    keys = store_review(ctx, prefix, report, extended_markdown(report), {})
    where = ctx.store.location(keys[REPORT_JSON])
    notify_review(ctx, [Notice(
        event="extended_eval", role="product", service=ctx.service, status="info", link=where,
        link_label="Open report", title=f"Extended evaluation {report.month}: stable scored {report.score:.3f}",
        text=report.summary, fields={"flaky cases": str(len(report.flaky_cases)), "repeats": str(report.repeats),
                                     "representative": report.representativeness.status.value})], prefix)
    create_markdown_artifact(key="extended-eval", markdown=extended_markdown(report), description=report.summary[:250])
    log.info("%s (%s)", report.summary, where)
    return {"service": ctx.service, "month": report.month, "score": report.score, "flaky_cases": report.flaky_cases,
            "representativeness": report.representativeness.status.value, "report": where}
