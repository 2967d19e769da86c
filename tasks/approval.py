"""Approval step: pause the release flow run until engineering and operations sign off.

Runs in the flow body (not a task): ``pause_flow_run`` blocks the run and the Prefect UI shows the
``Approval`` form; ``launchgate approve`` submits the same form through the Prefect API, finding the
run by the ``release:<release_id>`` tag that ``tasks/flowrun.py`` puts on it after preflight.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput, create_flow_run_input
from prefect.runtime import flow_run as current_run
from pydantic import Field

from launchgate.governance import signoff
from launchgate.governance.approvals import ApprovalLedger, answer_input_key, check_auto_approve, signoff_input_key
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import Verdict
from tasks.flowrun import reclaim_after_timeout, run_url


class Approval(RunInput):
    """The sign-off form. ``decision`` has no default on purpose: a bare resume must not approve."""

    decision: Literal["approve", "reject"] = Field(description="approve or reject this release")
    role: Literal["engineering", "operations", "product"] = Field(description="the role you sign for")
    approver: str = Field(min_length=1, max_length=200, description="your name as listed in release.yaml")
    comment: str = Field(default="", max_length=2000, description="why; required reading for a rejection")


def _publish(key: str, value: dict[str, Any]) -> None:
    """Tell `launchgate approve` who may sign and each submission's fate; a failure here never fails the approval."""
    try:
        create_flow_run_input(key=key, value=value)
    except Exception as exc:  # noqa: BLE001 - any API failure: the ledger still decides and is recorded
        get_run_logger().warning("could not publish %s for launchgate approve: %s", key, exc)


def _finish(run: ReleaseRun, ledger: ApprovalLedger) -> list[Verdict]:
    done = signoff.finish_signoff(run, ledger)
    create_markdown_artifact(key="approvals", markdown=done.markdown, description=done.summary[:250])
    return done.verdicts


def approval_step(run: ReleaseRun, verdicts: list[Verdict], *, auto_approve: bool = False) -> list[Verdict]:
    """Pause until every required role signed, one rejected, or the approval times out."""
    log = get_run_logger()
    cfg = run.config.approvals
    ledger = ApprovalLedger.open(run.release_id, run.config.service, cfg)
    if auto_approve:
        check_auto_approve(cfg, auto_approve)
        ledger.auto_approve()
        return _finish(run, ledger)

    flow_run_id = str(current_run.id) if current_run.id else None
    ledger.flow_run_id, ledger.run_url = flow_run_id, run_url(flow_run_id)
    if ledger.close_if_unstaffed():
        return _finish(run, ledger)

    items = signoff.read_rubric_items(run)
    signoff.request_signoff(run, ledger, verdicts, items)
    started, pauses = time.monotonic(), 0
    while ledger.outcome == "pending":
        remaining = cfg.timeout_s - (time.monotonic() - started)
        if remaining <= 0:
            ledger.time_out(time.monotonic() - started)
            break
        pauses += 1
        key = f"approval-{pauses}"
        _publish(signoff_input_key(key), {"ledger": ledger.model_dump(mode="json"),
                                          "poll_interval_s": cfg.poll_interval_s})
        try:
            # A new pause per submission (Prefect keys each pause): a refused one leaves the same form
            # waiting. Evidence and signers go in the description only: initial values would become
            # defaults, and a bare resume would submit them.
            form = Approval.with_initial_data(
                description=signoff.signoff_markdown(run.release_id, items, verdicts, ledger, run.evidence_uri))
            answer = pause_flow_run(wait_for_input=form, timeout=max(1, math.ceil(remaining)),
                                    poll_interval=cfg.poll_interval_s, key=key)  # type: ignore[arg-type]
        except FlowPauseTimeout:
            ledger.time_out(time.monotonic() - started)
            if flow_run_id:
                reclaim_after_timeout(flow_run_id)
            break
        entry = ledger.submit(answer.role, answer.approver, answer.decision, answer.comment)
        _publish(answer_input_key(key), {"entry": entry.model_dump(mode="json"), "outcome": ledger.outcome,
                                         "outstanding": ledger.outstanding()})
        log.info("approval submission: %s %s for %s -> %s (%s)", entry.approver, entry.decision, entry.role,
                 entry.status, entry.note)
        if entry.status == "refused":
            signoff.tell_refused(run, ledger, entry)
    return _finish(run, ledger)
