"""Booking a release's own model spend on the service's daily pipeline ledger.

The eval and the load test each cap their own spend; this records what they report, so the
next release's ``pipeline_budget`` check sees today's total. Idempotent per (release, step), and
never fails the release: a ledger that cannot be written is logged.
"""

from __future__ import annotations

import logging

from launchgate.budget.ledger import record_pipeline_spend
from launchgate.errors import LaunchgateError
from launchgate.eval.spend import eval_spend_usd
from launchgate.release.preflight import ReleaseRun
from launchgate.store.jsonio import find_object

log = logging.getLogger(__name__)
EVAL_REPORT = "eval/eval_report.json"
LOAD_REPORT = "load/loadtest_report.json"


def _read(run: ReleaseRun, name: str) -> dict[str, object] | None:
    try:
        return find_object(run.store, run.bundle.key(name))
    except LaunchgateError as exc:  # an unreadable report books nothing, and says so
        log.warning("%s unreadable, its spend is not booked: %s", name, exc)
        return None


def release_spend(run: ReleaseRun) -> dict[str, tuple[float, bool]]:
    """step -> (usd, estimated), from the steps' own evidence in the bundle."""
    out: dict[str, tuple[float, bool]] = {}
    report = _read(run, EVAL_REPORT)
    if report is not None:
        out["eval_gate"] = (eval_spend_usd(report), False)
    load = _read(run, LOAD_REPORT)
    if load is not None and load.get("report") is not None:
        # The load report has no metered total; its pre-run estimate is an upper bound, so book that.
        estimate = load.get("cost_estimate")
        out["load_test"] = (float((estimate or {}).get("usd") or 0.0) if isinstance(estimate, dict) else 0.0, True)
    return out


def book_release_spend(run: ReleaseRun) -> float:
    """Book each step's spend; a resumed attempt's spend is its own entry, added to the first attempt's."""
    total = 0.0
    for step, (usd, estimated) in release_spend(run).items():
        booked = step if run.attempt <= 1 else f"{step} (attempt {run.attempt})"
        try:
            record_pipeline_spend(run.store, run.config.service, run.config, usd=usd, release_id=run.release_id,
                                  step=booked, estimated=estimated)
            total += usd
        except (LaunchgateError, OSError) as exc:
            log.warning("could not book %s's spend of $%.4f on the pipeline ledger: %s", step, usd, exc)
    return total
