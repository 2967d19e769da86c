"""The weekly readiness review deployment (``readiness-review``, Mondays 08:00).

Judges every readiness item as `launchgate readiness` does, compares with last week's stored review,
writes ``<service>/reviews/readiness/<yyyy-Www>/`` (report.json, report.md, notifications.jsonl) and
tells each owner role which of its attestations expire within 14 days and which items turned failed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from launchgate.config.context import ServiceContext
from launchgate.readiness.cadence import WeeklyReadiness, owner_notices, weekly, weekly_markdown
from launchgate.readiness.step import review_service
from launchgate.reviews.common import REPORT_JSON
from launchgate.reviews.drift import week_label
from launchgate.store import layout
from launchgate.store.jsonio import find_object
from tasks.reviews import notify_review, store_review


@flow(name="readiness-review", log_prints=True)
def readiness_review(config: str, artifacts: str | None = None, at: str | None = None) -> dict[str, Any]:
    """Review ``config``'s readiness now (``at``: an ISO time instead of now, for reruns and tests)."""
    log = get_run_logger()
    now = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else datetime.now(UTC)
    ctx = ServiceContext.open(config, artifacts=artifacts, check_files=False)
    week, previous_week = week_label(now.date()), week_label((now - timedelta(weeks=1)).date())
    report, _ = review_service(ctx.store, ctx.config, settings=ctx.settings, now=now, config_path=ctx.config_path)
    stored = find_object(ctx.store, layout.readiness_review(ctx.service, previous_week) + REPORT_JSON)
    review = weekly(report, week, now, WeeklyReadiness.model_validate(stored) if stored else None)
    prefix = layout.readiness_review(ctx.service, week)
    keys = store_review(ctx, prefix, review, weekly_markdown(review), {})
    where = ctx.store.location(keys[REPORT_JSON])
    notify_review(ctx, owner_notices(review, where), prefix)
    create_markdown_artifact(key="readiness-review", markdown=weekly_markdown(review), description=review.summary[:250])
    log.info("%s (%s)", review.summary, where)
    return {"service": ctx.service, "week": week, "ready": review.ready, "report": where,
            "expiring": [f.id for f in review.expiring], "turned_failed": [f.id for f in review.turned_failed]}
