"""Booking the release pipeline's own model spend on the service's daily pipeline ledger.

The eval and the load test each cap their own spend; this records what they report, so the
next release's ``pipeline_budget`` check (tasks/freeze.py) sees today's total. Idempotent per
(release, step), and never fails the release: a ledger that cannot be written is logged.
"""

from __future__ import annotations

import json
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from launchgate.budget.ledger import record_pipeline_spend
from launchgate.errors import LaunchgateError
from launchgate.release.preflight import ReleaseRun

EVAL_REPORT = "eval/eval_report.json"
LOAD_REPORT = "load/loadtest_report.json"


def _read(run: ReleaseRun, name: str) -> dict[str, Any] | None:
    key = run.bundle.key(name)
    try:
        if not run.store.exists(key):
            return None
        data = json.loads(run.store.get(key))
    except (LaunchgateError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def release_spend(run: ReleaseRun) -> dict[str, tuple[float, bool]]:
    """step -> (usd, estimated), from the steps' own evidence in the bundle."""
    out: dict[str, tuple[float, bool]] = {}
    report = _read(run, EVAL_REPORT)
    if report is not None:
        variants = report.get("variants") or {}
        out["eval_gate"] = (sum(float(v.get("total_cost_usd") or 0.0) for v in variants.values()), False)
    load = _read(run, LOAD_REPORT)
    if load is not None and load.get("report") is not None:
        # The load report has no metered total; its pre-run estimate is an upper bound, so book that.
        out["load_test"] = (float((load.get("cost_estimate") or {}).get("usd") or 0.0), True)
    return out


@task(name="pipeline-spend", cache_policy=NO_CACHE, timeout_seconds=60)
def record_release_spend(run: ReleaseRun) -> float:
    total = 0.0
    for step, (usd, estimated) in release_spend(run).items():
        # Booking is idempotent per (release, step): a resumed attempt's spend is its own entry, so it
        # adds to the first attempt's money instead of replacing it.
        booked = step if run.attempt <= 1 else f"{step} (attempt {run.attempt})"
        try:
            record_pipeline_spend(run.store, run.config.service, run.config, usd=usd, release_id=run.release_id,
                                  step=booked, estimated=estimated)
            total += usd
        except (LaunchgateError, OSError) as exc:
            get_run_logger().warning("could not book %s's spend of $%.4f on the pipeline ledger: %s", step, usd, exc)
    return total
