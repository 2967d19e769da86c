"""The monthly cost review deployment (``monthly-cost``, the 1st at 09:00).

Queries the reviewed month's request log through DuckDB (launchgate/reviews/cost_sql.py), reports
daily spend, cost per request by model and
prompt version, week-over-week variance against the 10% SLO, the next month's forecast and a
recommended daily cap (launchgate/reviews/cost.py); optionally puts AWS Cost Explorer's bill next to it.
Writes ``<service>/reviews/cost/<yyyy-mm>/`` (report.json, report.md, daily_spend.png), tells the
budget owner, and freezes releases on a spike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.config.context import ServiceContext
from launchgate.errors import ExternalError, InputError
from launchgate.notify.base import Notice
from launchgate.reviews.charts import cost_png
from launchgate.reviews.common import REPORT_JSON
from launchgate.reviews.config import CostReviewConfig
from launchgate.reviews.cost import compare_cost_explorer, cost_markdown, month_bounds, previous_month, report_from
from launchgate.reviews.costexplorer import daily_costs
from launchgate.store import layout
from tasks.logqueries import cost_numbers
from tasks.reviews import freeze_releases, notify_review, store_review

CHART = "daily_spend.png"


@task(name="cost-explorer", cache_policy=NO_CACHE, timeout_seconds=300, retries=1, retry_delay_seconds=10)
def cost_explorer(cfg: CostReviewConfig, start: datetime, end: datetime) -> dict[str, float]:
    return daily_costs(cfg, start.date(), end.date())


@flow(name="cost-review", log_prints=True)
def cost_review(config: str, month: str | None = None, artifacts: str | None = None) -> dict[str, Any]:
    """Review one calendar month (``2026-10``; default: the last complete month) of ``config``'s spend."""
    log = get_run_logger()
    ctx = ServiceContext.open(config, artifacts=artifacts, check_files=False)
    cfg = ctx.config
    month = month or previous_month(datetime.now(UTC))
    try:
        start, end = month_bounds(month)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    inputs, quality = cost_numbers(ctx, start, end)
    report = report_from(ctx.service, month, inputs, cfg.pricing, cfg.budget, cfg.cost_review)
    report.log_quality = quality
    if cfg.cost_review.cost_explorer:
        try:
            billed = cost_explorer(cfg.cost_review, start, end)
            report.cost_explorer = compare_cost_explorer(billed, report.days, cfg.cost_review.ce_metric)
        except ExternalError as exc:  # the bill is a cross-check; the metered review stands without it
            report.notes.append(f"AWS Cost Explorer not read: {exc}.")
    rec = report.recommendation
    chart = cost_png([f"{d.day}" for d in report.days], [d.usd for d in report.days], cap_usd=cfg.budget.daily_usd,
                     alert_usd=cfg.budget.alert_usd, recommended_cap_usd=rec.daily_cap_usd if rec else None,
                     title=f"{ctx.service} daily spend {month}")
    prefix = layout.cost_review(ctx.service, month)
    keys = store_review(ctx, prefix, report, cost_markdown(report, [CHART]), {CHART: chart})
    where = ctx.store.location(keys[REPORT_JSON])

    frozen = False
    if report.spike and cfg.cost_review.freeze_on_spike:
        freeze_releases(ctx, by="launchgate:cost-review", source="cost_review", evidence=keys[REPORT_JSON],
                        reason=f"cost spike in {month}: " + " ".join(s.reason for s in report.spikes))
        frozen = True

    fc = report.forecast
    if report.spike:
        title = f"Cost review {month}: cost spike" + (", releases frozen" if frozen else "")
        text = report.spikes[0].reason
    else:
        title = f"Cost review {month}: ${report.total_usd:.2f} spent"
        text = (f"Forecast for {fc.month}: ${fc.usd:.2f} (incl. {fc.buffer_pct:g}% buffer). " if fc else "") + \
               (rec.reason if rec else "Not enough data for a forecast.")
    fields = {"spend": f"${report.total_usd:.2f}", "requests": str(report.requests),
              "week-over-week": {True: "within SLO", False: "SLO breached", None: "not judged"}[report.wow_within_slo]}
    roles = ["budget", "engineering"] if report.spike else ["budget"]
    notices = [Notice(event="cost_review", role=role, service=ctx.service, status="alarm" if report.spike else "info",
                      title=title, text=text, link=where, link_label="Open report", fields=fields) for role in roles]
    notify_review(ctx, notices, prefix)
    create_markdown_artifact(key="cost-review", markdown=cost_markdown(report), description=title[:250])
    log.info("%s (%s)", title, where)
    return {"service": ctx.service, "month": month, "spike": report.spike, "frozen": frozen,
            "total_usd": report.total_usd, "forecast_usd": fc.usd if fc else None,
            "wow_within_slo": report.wow_within_slo, "reasons": report.reasons, "report": where}
