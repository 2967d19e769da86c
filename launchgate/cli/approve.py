"""``launchgate approve`` from a shell: find the release's paused flow run, check the approver, submit
the sign-off form, and wait briefly for what the run made of it.

Prefect has no CLI command to resume a run, so this is a small client of the Prefect API. The run
is found by its tag ``release:<release_id>`` (set right after preflight). With each pause the run
publishes, as a flow-run input, the ledger it will check the submission against, so the approver
list comes from the run itself (its config with every ``--set``) and needs no file or store access;
after a submission it publishes the entry it recorded (tasks/approval.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import FlowPauseTimeout, NotPausedError
from prefect.flow_runs import resume_flow_run
from prefect.input import read_flow_run_input

from launchgate.errors import ExternalError, InputError
from launchgate.governance.approvals import ApprovalLedger, answer_input_key, release_tag, signoff_input_key

EXIT_REFUSED = 3
WAIT_MARGIN_S = 5.0  # beyond the run's poll interval: it sees the resume, records, answers
MAX_DEFAULT_WAIT_S = 60.0
POLL_S = 0.25


@dataclass(frozen=True)
class SignResult:
    exit_code: int
    message: str
    warning: str | None = None


def _api_error(exc: Exception) -> ExternalError:
    from prefect.settings import PREFECT_API_URL

    return ExternalError(f"cannot query the Prefect API at {PREFECT_API_URL.value() or '(ephemeral)'}: "
                         f"{type(exc).__name__}: {str(exc)[:200]}")


def find_release_runs(release_id: str) -> list[FlowRun]:
    """Flow runs tagged with the release id, newest first."""
    flt = FlowRunFilter(tags=FlowRunFilterTags(all_=[release_tag(release_id)]))
    # The sync client sends limit/sort as null unless given, which the API rejects (422).
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=flt, limit=20, sort=FlowRunSort.START_TIME_DESC)


def paused_run(release_id: str) -> FlowRun:
    """The release's flow run waiting for sign-off; InputError when there is none."""
    try:
        runs = find_release_runs(release_id)
    except Exception as exc:  # noqa: BLE001 - connection errors come in many types
        raise _api_error(exc) from exc
    paused = [r for r in runs if r.state is not None and r.state.is_paused()]
    if paused:
        return paused[0]
    if runs:
        state = runs[0].state.name if runs[0].state else "unknown"
        raise InputError(f"release {release_id} is not waiting for approval: its flow run {runs[0].id} is "
                         f"{state}. Nothing was submitted.")
    raise InputError(f"no paused flow run found for release {release_id} (looked for tag "
                     f"{release_tag(release_id)!r}): check the release id and that PREFECT_API_URL points at "
                     f"the Prefect server running the release.")


def _pause_key(run: FlowRun) -> str | None:
    return run.state.state_details.pause_key if run.state is not None else None


def _read_input(run: FlowRun, key: str) -> Any:
    try:
        return read_flow_run_input(key, run.id)
    except Exception as exc:  # noqa: BLE001
        raise _api_error(exc) from exc


def published_ledger(run: FlowRun) -> tuple[ApprovalLedger | None, float | None]:
    """The ledger the paused run will check against, and how often it polls; (None, None) if unpublished."""
    key = _pause_key(run)
    data = _read_input(run, signoff_input_key(key)) if key else None
    if not isinstance(data, dict) or "ledger" not in data:
        return None, None
    return ApprovalLedger.model_validate(data["ledger"]), data.get("poll_interval_s")


def _ledger_from_config(release_id: str, config_path: Path) -> ApprovalLedger:
    from launchgate.config import load_config

    config = load_config(config_path, check_files=False)
    if not release_id.startswith(f"{config.service}-"):
        raise InputError(f"{release_id} is not a release of {config.service}, the service in {config_path}")
    return ApprovalLedger.open(release_id, config.service, config.approvals)


def submit(run: FlowRun, release_id: str, form: dict[str, str]) -> None:
    try:
        resume_flow_run(run.id, run_input=form)
    except FlowPauseTimeout as exc:
        raise InputError(f"release {release_id}: the approval window closed (timed out) before this "
                         f"submission; rerun the release.") from exc
    except NotPausedError as exc:
        raise InputError(f"release {release_id} stopped waiting while submitting (another approval or a "
                         f"timeout came first); check its approvals/approvals.json.") from exc
    except RuntimeError as exc:  # the server validates the form and says why it refused
        raise InputError(f"release {release_id}: the Prefect API refused the submission: {exc}") from exc


def wait_for_answer(run: FlowRun, pause_key: str, wait_s: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + wait_s
    while True:
        answer = _read_input(run, answer_input_key(pause_key))
        if isinstance(answer, dict) or time.monotonic() >= deadline:
            return answer if isinstance(answer, dict) else None
        time.sleep(POLL_S)


def sign(release_id: str, role: str, approver: str, decision: Literal["approve", "reject"], comment: str = "",
         *, config_path: Path | None = None, wait_s: float | None = None) -> SignResult:
    """Check the approver against the run's list, submit, and report the run's answer.

    Exit codes in the result: 0 accepted (or submitted and not yet answered), 3 refused, either
    here before anything was submitted or by the run. Input problems raise InputError.
    """
    run = paused_run(release_id)
    ledger, poll_s = published_ledger(run)
    warning = None
    if ledger is None and config_path is not None:
        ledger = _ledger_from_config(release_id, config_path)
    elif ledger is None:
        warning = ("this run did not publish who may sign (started by an earlier launchgate?), so the name "
                   "was not checked before submitting; give --config to check it against release.yaml")
    if ledger is not None:
        preview = ledger.preview(role, approver, decision)
        if preview.status == "refused":
            return SignResult(EXIT_REFUSED, f"refused: {preview.note}. Nothing was submitted.")
    key = _pause_key(run)
    submit(run, release_id, {"decision": decision, "role": role, "approver": approver, "comment": comment})
    sent = f"{approver} {'approves' if decision == 'approve' else 'rejects'} {release_id} for {role}"
    if wait_s is None:
        wait_s = min(MAX_DEFAULT_WAIT_S, (poll_s or 10.0) + WAIT_MARGIN_S)
    answer = wait_for_answer(run, key, wait_s) if key and wait_s > 0 else None
    if answer is None:
        waited = f"has not answered within {wait_s:g} s" if wait_s > 0 else "was not waited for (--wait 0)"
        return SignResult(0, f"submitted: {sent} (flow run {run.id}). The run {waited}; it records the outcome "
                             f"in approvals/approvals.json and the Prefect UI.", warning)
    entry = answer.get("entry") or {}
    note = entry.get("note", "")
    if entry.get("status") == "refused":
        return SignResult(EXIT_REFUSED, f"refused by the run: {note}. The release keeps waiting.", warning)
    outcome = answer.get("outcome", "pending")
    then = {"approved": " The release continues.", "rejected": " The release is blocked."}.get(outcome, "")
    return SignResult(0, f"accepted: {sent}: {note}.{then}", warning)
