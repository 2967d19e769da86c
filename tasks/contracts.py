"""Contracts task: the golden set and the schemas are validated before any model call."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.eval.contracts_step import FAILING_ROWS_TABLE, contracts_step
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import Verdict


@task(name="contracts", cache_policy=NO_CACHE, timeout_seconds=600)
def contracts(run: ReleaseRun) -> list[Verdict]:
    log = get_run_logger()
    result = contracts_step(run)
    create_markdown_artifact(key="contracts", markdown=result.markdown,
                             description=f"golden set and schema contracts of {run.release_id}")
    if result.tables.get(FAILING_ROWS_TABLE):
        create_table_artifact(key=FAILING_ROWS_TABLE, table=result.tables[FAILING_ROWS_TABLE],
                              description="golden set rows that break a contract")
    (log.warning if result.blocks else log.info)("contracts: %s", result.summary)
    return result.verdicts
