"""Approval step: pause the release flow run until engineering and operations sign off.

Runs in the flow body (not a task): ``pause_flow_run`` blocks the flow run itself, and the
Prefect UI shows the ``Approval`` form on the paused run. ``launchgate approve`` submits the same
form from a shell through the Prefect API (Prefect has no CLI command to resume a run).

How a run is found from outside: ``label_flow_run`` tags the flow run ``release:<release_id>``
and names it after the release right after preflight.
"""

from __future__ import annotations

import math
import time
from typing import Literal
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import FlowPauseTimeout, NotPausedError
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run as current_run
from prefect.states import Running
from pydantic import Field

from launchgate.errors import ExternalError, InputError
from launchgate.governance.approvals import ApprovalLedger, check_auto_approve
from launchgate.governance.signoff import finish_signoff, request_signoff, tell_refused
from launchgate.release.preflight import ReleaseRun
from launchgate.settings import Settings
from launchgate.verdicts import Verdict

RELEASE_TAG = "release:"


class Approval(RunInput):
    """The sign-off form. ``decision`` has no default on purpose: a bare resume must not approve."""

    decision: Literal["approve", "reject"] = Field(description="approve or reject this release")
    role: Literal["engineering", "operations", "product"] = Field(description="the role you sign for")
    approver: str = Field(min_length=1, max_length=200, description="your name as listed in release.yaml")
    comment: str = Field(default="", max_length=2000, description="why; required reading for a rejection")


def release_tag(release_id: str) -> str:
    return RELEASE_TAG + release_id


# ----------------------------------------------------------------------------- inside the flow


def label_flow_run(run: ReleaseRun) -> None:
    """Tag and name the current flow run after the release, so `launchgate approve` can find it."""
    run_id = current_run.id
    if run_id is None:
        return
    try:
        with get_client(sync_client=True) as client:
            existing = client.read_flow_run(UUID(str(run_id)))
            tags = sorted({*existing.tags, release_tag(run.release_id), f"service:{run.config.service}"})
            client.update_flow_run(UUID(str(run_id)), tags=tags, name=run.release_id)
    except Exception as exc:  # noqa: BLE001 - a missing tag costs the CLI lookup, not the release
        get_run_logger().warning("could not tag flow run %s with the release id: %s", run_id, exc)


def run_url(flow_run_id: str | None, settings: Settings | None = None) -> str | None:
    """The Prefect UI page of the paused run (LAUNCHGATE_PREFECT_UI_URL, else Prefect's own UI URL)."""
    if not flow_run_id:
        return None
    base = (settings or Settings()).prefect_ui_url
    if not base:
        from prefect.settings import PREFECT_UI_URL

        base = PREFECT_UI_URL.value()
    return f"{base.rstrip('/')}/runs/flow-run/{flow_run_id}" if base else None


def _reclaim_after_timeout(flow_run_id: str) -> None:
    """After a pause timeout the run is still Paused on the server, where no task may start.

    Force it back to Running so the release can record the timeout, notify and finalize.
    """
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(flow_run_id), Running(message="approval timed out; finalizing"),
                                  force=True)


def _finish(run: ReleaseRun, ledger: ApprovalLedger) -> list[Verdict]:
    done = finish_signoff(run, ledger)
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

    request_signoff(run, ledger, verdicts)
    started = time.monotonic()
    while ledger.outcome == "pending":
        remaining = cfg.timeout_s - (time.monotonic() - started)
        if remaining <= 0:
            ledger.time_out(time.monotonic() - started)
            break
        try:
            # A new pause per submission: Prefect keys each pause by a counter, so a refused
            # submission leaves the run waiting again with the same form.
            answer = pause_flow_run(wait_for_input=Approval, timeout=max(1, math.ceil(remaining)),
                                    poll_interval=cfg.poll_interval_s)  # type: ignore[arg-type]
        except FlowPauseTimeout:
            ledger.time_out(time.monotonic() - started)
            if flow_run_id:
                _reclaim_after_timeout(flow_run_id)
            break
        entry = ledger.submit(answer.role, answer.approver, answer.decision, answer.comment)
        log.info("approval submission: %s %s for %s -> %s (%s)", entry.approver, entry.decision, entry.role,
                 entry.status, entry.note)
        if entry.status == "refused":
            tell_refused(run, ledger, entry)
    return _finish(run, ledger)


# ----------------------------------------------------------------------------- from a shell


def find_release_runs(release_id: str) -> list[FlowRun]:
    """Flow runs tagged with the release id, newest first."""
    flt = FlowRunFilter(tags=FlowRunFilterTags(all_=[release_tag(release_id)]))
    # The sync client sends limit/sort as null unless given, which the API rejects (422).
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=flt, limit=20, sort=FlowRunSort.START_TIME_DESC)


def submit_approval(release_id: str, role: str, approver: str, decision: Literal["approve", "reject"],
                    comment: str = "") -> FlowRun:
    """Resume the paused release run with one submission; raises InputError when there is none."""
    try:
        runs = find_release_runs(release_id)
    except Exception as exc:  # noqa: BLE001 - connection errors come in many types
        from prefect.settings import PREFECT_API_URL

        raise ExternalError(f"cannot query the Prefect API at {PREFECT_API_URL.value() or '(ephemeral)'}: "
                            f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    paused = [r for r in runs if r.state is not None and r.state.is_paused()]
    if not paused:
        if runs:
            state = runs[0].state.name if runs[0].state else "unknown"
            raise InputError(f"release {release_id} is not waiting for approval: its flow run {runs[0].id} is "
                             f"{state}. Nothing was submitted.")
        raise InputError(f"no paused flow run found for release {release_id} (looked for tag "
                         f"{release_tag(release_id)!r}): check the release id and that PREFECT_API_URL points at "
                         f"the Prefect server running the release.")
    target = paused[0]
    form = {"decision": decision, "role": role, "approver": approver, "comment": comment}
    try:
        resume_flow_run(target.id, run_input=form)
    except FlowPauseTimeout as exc:
        raise InputError(f"release {release_id}: the approval window closed (timed out) before this "
                         f"submission; rerun the release.") from exc
    except NotPausedError as exc:
        raise InputError(f"release {release_id} stopped waiting while submitting (another approval or a "
                         f"timeout came first); check its approvals/approvals.json.") from exc
    except RuntimeError as exc:  # the server validates the form and says why it refused
        raise InputError(f"release {release_id}: the Prefect API refused the submission: {exc}") from exc
    return target
