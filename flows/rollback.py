"""The ``rollback`` deployment: candidate weight 0 now, through the service's router, then the record.

The same core as ``launchgate rollback`` (launchgate/release/ops.py). It exists as a deployment so
that something other than the release process can send traffic back to stable: prefect.yaml
gives it a trigger that runs it when a run of the ``release`` deployment crashes or fails. That
trigger is what protects users on routers without a lease (HAProxy, SageMaker), where the
weights stay wherever a dead controller left them (docs/scaleout.md). Rolling back when nothing
is on the candidate is harmless: the weight is set to 0 again and the record says so.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from launchgate.config.context import ServiceContext
from launchgate.notify.base import Notice
from launchgate.release.ops import manual_rollback


@flow(name="rollback", log_prints=True)
def rollback(config: str, reason: str | None = None, artifacts: str | None = None) -> dict[str, Any]:
    log = get_run_logger()
    ctx = ServiceContext.open(config, artifacts=artifacts, check_files=False)
    record = manual_rollback(ctx, reason=reason or "rollback deployment")  # RouterError fails the run
    log.info("rolled back %s through %s in %.0f ms: weights now %s", ctx.service, record["router"],
             record["took_s"] * 1000, record["weights_after"])
    ctx.dispatcher.send(Notice(
        event="rollback", role="oncall", service=ctx.service, status="rolled_back",
        title=f"Rolled back: {ctx.service}", text=f"{record['reason']}. Stable serves all traffic; check why, then "
                                                  f"resume or rerun the release.",
        link=ctx.store.location(record["key"]), link_label="Open record"))
    return record
