"""Notifications are journaled into the bundle as they are sent: finalize's notifications.jsonl holds
every attempt's notices, also those sent by a process that died (another ReleaseRun object here)."""

from __future__ import annotations

import json
from pathlib import Path

from launchgate.notify.base import Notice
from launchgate.release.finalize import write_records
from launchgate.release.preflight import prepare_release
from launchgate.release.records import decide
from launchgate.verdicts import Phase, Verdict
from tests.conftest import EXAMPLE

CONFIG = EXAMPLE / "release.yaml"


def _notice(run: object, event: str) -> Notice:
    return Notice(event=event, role="engineering", service="support-bot", release_id=run.release_id,  # type: ignore[attr-defined]
                  status="info", title=event, text=event)


def test_finalize_lists_notices_of_a_crashed_attempt_and_of_the_resume(tmp_path: Path) -> None:
    first = prepare_release(CONFIG, artifacts=str(tmp_path))
    first.dispatcher.send(_notice(first, "release_started"))  # then the process dies: no finalize
    resumed = prepare_release(CONFIG, artifacts=str(tmp_path), resume=first.release_id)
    assert resumed.dispatcher.outcomes == []  # a new process remembers nothing
    resumed.dispatcher.send(_notice(resumed, "release_finished"))
    decision = decide(resumed.release_id, "support-bot",
                      [Verdict(check="x", phase=Phase.SUCCESSFUL, reason="ok")], resumed.evidence_uri)
    write_records(resumed, decision)
    bundle = tmp_path / "support-bot" / "releases" / first.release_id
    rows = [json.loads(line) for line in (bundle / "notifications.jsonl").read_text().splitlines()]
    assert [r["event"] for r in rows] == ["release_started", "release_finished"]
    assert len(list((bundle / "attempts" / "2" / "notifications").glob("*.json"))) == 1
    index = json.loads((bundle / "index.json").read_text())
    assert sum(a["name"].endswith(".json") and "notifications/" in a["name"] for a in index["artifacts"]) == 2
