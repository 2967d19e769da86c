"""Contracts task: the golden set and the schemas are validated before any model call."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.eval.contracts import contracts_markdown, run_contracts
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import Verdict


@task(name="contracts", cache_policy=NO_CACHE, timeout_seconds=600)
def contracts(run: ReleaseRun) -> list[Verdict]:
    log = get_run_logger()
    verdicts, report = run_contracts(run)
    create_markdown_artifact(key="contracts", markdown=contracts_markdown(report, verdicts),
                             description=f"golden set and schema contracts of {run.release_id}")
    failing = [{"expectation": o.expectation, "line": r.get("line"), "case": r.get("id") or ""}
               for o in (report.failed if report else []) for r in o.rows[:50]]
    if failing:
        create_table_artifact(key="contracts-failing-rows", table=failing,
                              description="golden set rows that break a contract")
    blocking = [v for v in verdicts if v.blocks]
    if blocking:
        log.warning("contracts: %d check(s) failed; first: %s", len(blocking), blocking[0].reason)
    else:
        log.info("contracts: golden set (%s rows) and schemas are valid", report.rows if report else "?")
    return verdicts
