"""The post-launch review deployment (``post-launch-review``, daily): promotions a week old get their review.

A daily schedule rather than a timer per promotion: nothing has to be scheduled at promotion
time, a missed day catches up, and each release is reviewed once (the review is a write-once
file in its bundle, ``post_launch/review.json``). Give ``release_id`` to review one release now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.config.context import ServiceContext
from launchgate.errors import ArtifactExistsError, InputError
from launchgate.notify.base import Notice
from launchgate.reviews.charts import quality_png
from launchgate.reviews.postlaunch import REVIEW_JSON, REVIEW_MD, Promotion, due, promotions, review, review_markdown
from launchgate.store.bundle import ReleaseBundle

QUALITY_PNG = "post_launch/quality.png"


@task(name="post-launch-review", cache_policy=NO_CACHE, timeout_seconds=900)
def review_one(ctx: ServiceContext, promotion: Promotion, days: int) -> dict[str, Any]:
    r = review(ctx.store, ctx.service, promotion, ctx.config.drift_review, days)
    bundle = ReleaseBundle(ctx.store, ctx.service, promotion.release_id)
    try:
        bundle.put_json(REVIEW_JSON, r)
    except ArtifactExistsError:
        get_run_logger().info("%s already has a post-launch review; kept it", promotion.release_id)
        return {"release_id": promotion.release_id, "status": "already_reviewed"}
    md = review_markdown(r)
    if r.quality and r.quality["rows"]:
        bundle.put_bytes(QUALITY_PNG, quality_png(r.quality, f"{promotion.release_id}: quality, week before and "
                                                              f"week after promotion"), "image/png")
        md += f"\n![quality week over week]({QUALITY_PNG.rsplit('/', 1)[-1]})\n"
    bundle.put_text(REVIEW_MD, md, "text/markdown")
    where = bundle.location(REVIEW_JSON)
    bad = bool(r.incidents) or r.drift_significant or r.quality_significant
    for role in ("engineering", "operations"):
        ctx.dispatcher.send(Notice(event="post_launch_review", role=role, service=ctx.service,
                                   release_id=promotion.release_id, status="alarm" if bad else "info",
                                   title=f"Post-launch review: {promotion.release_id}", text=r.summary, link=where,
                                   link_label="Open review"))
    create_markdown_artifact(key="post-launch-review", markdown=md, description=r.summary[:250])
    return {"release_id": promotion.release_id, "status": "reviewed", "incidents": len(r.incidents),
            "drift_significant": r.drift_significant, "quality_significant": r.quality_significant,
            "cost_per_request_change_pct": r.cost_per_request_change_pct,
            "review": where}


@flow(name="post-launch-review", log_prints=True)
def post_launch_review(config: str, release_id: str | None = None, artifacts: str | None = None,
                       days: int = 7) -> list[dict[str, Any]]:
    """Review every promotion at least ``days`` old that has no review yet (or just ``release_id``)."""
    ctx = ServiceContext.open(config, artifacts=artifacts, check_files=False)
    now = datetime.now(UTC)
    if release_id is None:
        todo = due(ctx.store, ctx.service, now, days)
    else:
        todo = [p for p in promotions(ctx.store, ctx.service) if p.release_id == release_id]
        if not todo:
            raise InputError(f"{release_id} is not a promoted release of {ctx.service} (no decision.json saying "
                             f"'promoted' in its bundle)")
        if todo[0].promoted_at + timedelta(days=days) > now:
            get_run_logger().warning("%s was promoted less than %d days ago: reviewing the days so far",
                                     release_id, days)
    results = [review_one(ctx, p, days) for p in todo]
    get_run_logger().info("post-launch reviews: %d due, %s", len(todo), [r["status"] for r in results])
    return results
