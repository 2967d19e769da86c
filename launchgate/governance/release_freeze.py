"""The release flow's first gate: no release while frozen, and none the pipeline budget cannot pay for.

Runs right after preflight, before any model is called. ``release_freeze`` fails while
``<service>/state/freeze.json`` is active (set by a drift or cost review, or by a person);
``pipeline_budget`` fails when today's pipeline spend plus this release's caps (the eval's
``budget_usd`` and, when enabled, the load test's ``cost_cap_usd``) would pass
``budget.pipeline_daily_usd``. Either one blocks the release: exit 3, nothing shifted.
Change management runs here too (lifecycle/changes.py): an output schema that breaks the last
promoted release's consumers blocks unless data.output_schema_change accepts it.
"""

from __future__ import annotations

from launchgate.budget.ledger import pipeline_budget_verdict
from launchgate.config import ReleaseConfig
from launchgate.errors import LaunchgateError
from launchgate.governance.freeze import freeze_summary, freeze_verdict, read_freeze
from launchgate.lifecycle.changes import change_verdicts
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import StepResult

EVIDENCE = "preflight/release_freeze.json"


def release_cost_cap(cfg: ReleaseConfig) -> float:
    """The most this release's own steps may spend: their configured caps."""
    return cfg.evaluation.budget_usd + (cfg.load_test.cost_cap_usd if cfg.load_test.enabled else 0.0)


def freeze_step(run: ReleaseRun) -> StepResult:
    service = run.config.service
    freeze = freeze_verdict(run.store, service)
    budget = pipeline_budget_verdict(run.store, service, run.config, release_cost_cap(run.config),
                                     what="this release's eval and load test")
    changes = change_verdicts(run)  # config sha recorded; output schema vs the last promoted release's
    try:
        snapshot = freeze_summary(read_freeze(run.store, service))
    except (LaunchgateError, ValueError) as exc:  # the verdict already says the file is unreadable
        snapshot = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    # The state file changes after this release: keep what it said when the release was judged.
    run.bundle.put_json(EVIDENCE, {"freeze": snapshot, "verdicts": [freeze, budget]})
    blocking = [v.reason for v in (freeze, budget, *changes) if v.blocks]
    return StepResult(step="release_freeze", verdicts=[freeze, budget, *changes], evidence=[EVIDENCE],
                      summary=" ".join(blocking) or "Not frozen; the pipeline budget has room for this release.")
