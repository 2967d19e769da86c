"""The release's own Prefect flow run: named and tagged after the release, linked, reclaimed after a pause."""

from __future__ import annotations

from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run as current_run
from prefect.states import Running

from launchgate.governance.approvals import release_tag
from launchgate.release.preflight import ReleaseRun
from launchgate.settings import Settings


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


def reclaim_after_timeout(flow_run_id: str) -> None:
    """After a pause timeout the run is still Paused on the server, where no task may start.

    Force it back to Running so the release can record the timeout, notify and finalize.
    """
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(flow_run_id), Running(message="approval timed out; finalizing"),
                                  force=True)
