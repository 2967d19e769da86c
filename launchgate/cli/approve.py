"""``launchgate approve`` from a shell: find the release's paused flow run and submit the sign-off form.

Prefect has no CLI command to resume a run, so this is a small client of the Prefect API. The run
is found by its tag ``release:<release_id>`` (set right after preflight, tasks/approval.py).
"""

from __future__ import annotations

from typing import Literal

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import FlowPauseTimeout, NotPausedError
from prefect.flow_runs import resume_flow_run

from launchgate.errors import ExternalError, InputError
from launchgate.governance.approvals import release_tag


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
