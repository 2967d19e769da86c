"""What a release's eval spent, read from its eval report (``eval/eval_report.json``).

One definition for everyone who books or caps spend (the pipeline ledger, the load test's
budget): the metered cost of the variants' calls, as the runner summed them.
"""

from __future__ import annotations

from typing import Any

# The label the baseline carries in the report, whether it ran now or was read from the store.
BASELINE = "stable"


def eval_spend_usd(report: dict[str, Any]) -> float:
    """Sum of the variants' ``total_cost_usd``; 0.0 for a report without variants (e.g. a budget stop).

    A stored ``last_promoted`` baseline was not called by this release: its rows keep the cost of
    the release that measured them, so that variant is left out (the report's own
    ``cost.eval_total_usd`` still shows both, as evidence of what the comparison rests on).
    """
    variants = report.get("variants") or {}
    stored = (report.get("baseline") or {}).get("kind") == "last_promoted"
    return sum(float((v or {}).get("total_cost_usd") or 0.0) for label, v in variants.items()
               if not (stored and label == BASELINE))
