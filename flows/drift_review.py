"""The weekly drift review deployment (``weekly-drift``, Mondays 09:00).

Queries the reviewed ISO week's request log and the ``drift_review.reference_weeks`` before it
through DuckDB (launchgate/reviews/drift_sql.py: aggregates, never the lines in memory), compares
them (launchgate/reviews/drift.py), runs the Great Expectations suite on a stratified sample of the week, writes
``<service>/reviews/drift/<yyyy-Www>/`` (report.json, report.md, drift.png, notifications.jsonl),
tells the owners on Slack and, on significant drift, freezes releases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from launchgate.config.context import ServiceContext
from launchgate.errors import InputError
from launchgate.notify.base import Notice
from launchgate.reviews.charts import drift_png, quality_png
from launchgate.reviews.common import REPORT_JSON
from launchgate.reviews.drift import compare_stats, drift_markdown, previous_week, report_from, week_bounds
from launchgate.reviews.quality import QualityData, period, quality_features, quality_markdown, quality_summary
from launchgate.store import layout
from tasks.logqueries import drift_numbers
from tasks.reviews import freeze_releases, notify_review, store_review

CHART = "drift.png"
QUALITY_CHART = "quality.png"


@flow(name="drift-review", log_prints=True)
def drift_review(config: str, week: str | None = None, artifacts: str | None = None) -> dict[str, Any]:
    """Review one ISO week (``2026-W45``; default: the last complete week) of ``config``'s traffic."""
    log = get_run_logger()
    ctx = ServiceContext.open(config, artifacts=artifacts, check_files=False)
    cfg = ctx.config.drift_review
    week = week or previous_week(datetime.now(UTC))
    try:
        start, end = week_bounds(week)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    ref_start = start - timedelta(weeks=cfg.reference_weeks)
    data, quality, gx = drift_numbers(ctx, ref_start, start, end)
    features, notes = compare_stats(data.dists, data.ref_rates, data.cur_rates, data.n_reference, cfg)
    qdata = data.quality or QualityData(origin=ref_start)
    q_features, q_notes = quality_features(qdata, period(start, ref_start), cfg)
    features, notes = features + q_features, notes + q_notes
    report = report_from(ctx.service, week, features, notes, cfg, reference_window=(ref_start, start),
                         current_window=(start, end), n_reference=data.n_reference, n_current=data.n_current)
    report.log_quality = quality
    report.quality = quality_summary(qdata)
    if gx is not None:
        report.expectations = gx
    else:
        report.notes.append("No requests in the reviewed week: the log expectations were not run.")
    chart = drift_png(data.chart_ref, data.chart_cur, data.ref_rates, data.cur_rates,
                      f"{ctx.service} {week} vs the {cfg.reference_weeks} weeks before")
    charts = {CHART: chart}
    if report.quality["rows"]:
        charts[QUALITY_CHART] = quality_png(report.quality, f"{ctx.service}: quality week over week")
    prefix = layout.drift_review(ctx.service, week)
    keys = store_review(ctx, prefix, report, drift_markdown(report, list(charts), quality_markdown(report.quality)),
                        charts)
    where = ctx.store.location(keys[REPORT_JSON])

    frozen = False
    if report.significant and cfg.freeze_on_drift:
        freeze_releases(ctx, by="launchgate:drift-review", source="drift_review", evidence=keys[REPORT_JSON],
                        reason=f"significant drift in {week}: " + " ".join(report.reasons))
        frozen = True

    if report.significant:
        title = f"Drift review {week}: significant drift" + (", releases frozen" if frozen else "")
        text = report.reasons[0] + (f" (+{len(report.reasons) - 1} more)" if len(report.reasons) > 1 else "")
        roles = ["engineering", "operations"]
    else:
        title = f"Drift review {week}: no significant drift"
        text = (f"{report.current.requests} requests compared with {report.reference.requests} in the "
                f"{cfg.reference_weeks} weeks before; every feature within its thresholds or inconclusive.")
        roles = ["engineering"]
    gx = report.expectations
    fields = {"requests": str(report.current.requests),
              "features drifted": str(sum(f.significant for f in report.features))}
    if gx is not None:
        fields["log expectations"] = f"{gx.get('evaluated', 0) - gx.get('failed', 0)}/{gx.get('evaluated', 0)} met"
    notices = [Notice(event="drift_review", role=role, service=ctx.service, status="alarm" if frozen else "info",
                      title=title, text=text, link=where, link_label="Open report", fields=fields) for role in roles]
    notify_review(ctx, notices, prefix)
    create_markdown_artifact(key="drift-review", markdown=drift_markdown(report, (), quality_markdown(report.quality)),
                             description=title[:250])
    log.info("%s (%s)", title, where)
    return {"service": ctx.service, "week": week, "significant": report.significant, "frozen": frozen,
            "reasons": report.reasons, "report": where, "requests": report.current.requests}
