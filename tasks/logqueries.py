"""Tasks that query the request log for the reviews (DuckDB over Parquet + the open hour's JSONL).

Thin: the queries live in launchgate/reviews/drift_sql.py and cost_sql.py; a task adds the timeout,
the run log and the progress the CLI's bar shows. No retries: a review is rerun per period.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from launchgate.config.context import ServiceContext
from launchgate.notify.progress import emit as report
from launchgate.requestlog.view import LogView
from launchgate.reviews.athena import AthenaEngine, table_name
from launchgate.reviews.athena import cost_inputs as athena_cost_inputs
from launchgate.reviews.cost import CostInputs
from launchgate.reviews.cost_sql import cost_inputs
from launchgate.reviews.drift_sql import DriftData, drift_data, run_sampled_expectations
from launchgate.reviews.quality_sql import quality_numbers


@task(name="drift-numbers", cache_policy=NO_CACHE, timeout_seconds=1800)
def drift_numbers(ctx: ServiceContext, ref_start: datetime, start: datetime,
                  end: datetime) -> tuple[DriftData, dict[str, Any], dict[str, Any] | None]:
    """The drift statistics, log quality and GX suite of both windows as DuckDB queries (bounded memory)."""
    cfg, log = ctx.config, get_run_logger()
    with LogView.open(ctx.store, ctx.service, ref_start, end, on_progress=report) as view:
        report("queries", 0, 2)
        data = drift_data(view.con, start, cfg.drift_review)
        data.quality = quality_numbers(view, ref_start, end)
        report("queries", 1, 2)
        quality = {"current": view.quality(start, end, data.n_current),
                   "reference": view.quality(ref_start, start, data.n_reference)}
        gx: dict[str, Any] | None = None
        if data.n_current:
            try:
                gx = run_sampled_expectations(view.con, start, max_output_tokens=cfg.contracts.max_output_tokens,
                                              min_schema_valid=cfg.evaluation.min_schema_valid_rate / 100)
            except Exception as exc:  # noqa: BLE001 - the statistics stand without the suite
                log.exception("Great Expectations suite crashed")
                gx = {"suite": "request_log", "success": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                      "evaluated": 0, "failed": 0, "results": []}
        report("queries", 2, 2)
    log.info("request log %s .. %s: %d reference and %d current requests from %d files", f"{ref_start:%Y-%m-%d}",
             f"{end:%Y-%m-%d}", data.n_reference, data.n_current, quality["current"]["files"]
             + quality["reference"]["files"])
    return data, quality, gx


@task(name="cost-numbers", cache_policy=NO_CACHE, timeout_seconds=1800)
def cost_numbers(ctx: ServiceContext, start: datetime, end: datetime) -> tuple[CostInputs, dict[str, Any]]:
    """The month's cost aggregates and log quality as DuckDB queries (bounded memory), or in Athena."""
    review = ctx.config.review
    if review.engine == "athena":
        engine = AthenaEngine(review.athena)
        inputs = athena_cost_inputs(engine, table_name(review.athena, ctx.service), start, end)
        get_run_logger().info("Athena queries %s: %d requests", ", ".join(engine.query_ids), inputs.requests)
        return inputs, {"engine": "athena", "workgroup": review.athena.workgroup, "queries": engine.query_ids,
                        "records": inputs.requests}
    with LogView.open(ctx.store, ctx.service, start, end, on_progress=report) as view:
        report("queries", 0, 1)
        inputs, quality = cost_inputs(view.con, start, end), view.quality()
        report("queries", 1, 1)
    get_run_logger().info("request log %s .. %s: %d requests from %d files", f"{start:%Y-%m-%d}",
                          f"{end:%Y-%m-%d}", inputs.requests, quality["files"])
    return inputs, quality
