"""Release freeze: state file, authorisation, audit log, the release_freeze verdict and the CLI."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from launchgate.cli import main
from launchgate.config import ReleaseConfig, load_config
from launchgate.governance.freeze import FreezeRefused, freeze_verdict, lift_freeze, read_freeze, set_freeze
from launchgate.governance.rubric import freeze_state
from launchgate.store import LocalStore, layout
from launchgate.verdicts import Phase
from tests.conftest import EXAMPLE

CONFIG = EXAMPLE / "release.yaml"
SERVICE = "support-bot"


@pytest.fixture
def cfg() -> ReleaseConfig:
    return load_config(CONFIG, check_files=False)


def log_lines(store: LocalStore) -> list[dict[str, Any]]:
    return [json.loads(x) for x in store.get(layout.freeze_log(SERVICE)).decode().splitlines()]


def test_absent_freeze_passes(tmp_path: Path) -> None:
    v = freeze_verdict(LocalStore(tmp_path), SERVICE)
    assert v.phase is Phase.SUCCESSFUL and "absent" in v.reason


def test_review_sets_freeze_and_verdict_blocks_with_lift_hint(tmp_path: Path, cfg: ReleaseConfig) -> None:
    store = LocalStore(tmp_path)
    set_freeze(store, cfg, by="launchgate:drift-review", reason="output tokens shifted", source="drift_review",
               evidence="support-bot/reviews/drift/2026-W45/report.json")
    v = freeze_verdict(store, SERVICE)
    assert v.phase is Phase.FAILED and v.check == "release_freeze"
    assert "output tokens shifted" in v.reason and "launchgate freeze lift --service support-bot" in v.reason
    assert v.evidence == "support-bot/reviews/drift/2026-W45/report.json"
    # The approvals engineer's rubric reads the same file and agrees.
    state = freeze_state(store, SERVICE)
    assert state.active and state.reason == "output tokens shifted" and state.error is None


def test_unauthorised_lift_is_refused_and_audited(tmp_path: Path, cfg: ReleaseConfig) -> None:
    store = LocalStore(tmp_path)
    set_freeze(store, cfg, by="launchgate:cost-review", reason="spike", source="cost_review", evidence=None)
    with pytest.raises(FreezeRefused, match="mallory"):
        lift_freeze(store, cfg, by="mallory", reason="I want to ship")
    assert read_freeze(store, SERVICE).active  # type: ignore[union-attr]
    assert [e["action"] for e in log_lines(store)] == ["set", "refused"]
    assert log_lines(store)[-1]["by"] == "mallory"


@pytest.mark.parametrize("who", ["alice", "bob", "support-oncall", "#support-bot-finops"])
def test_approvers_and_owners_may_lift(tmp_path: Path, cfg: ReleaseConfig, who: str) -> None:
    store = LocalStore(tmp_path)
    set_freeze(store, cfg, by="launchgate:drift-review", reason="drift", source="drift_review")
    record = lift_freeze(store, cfg, by=who, reason="prompt rolled back, traffic checked")
    assert not record.active and record.lifted_by == who
    assert [e.action for e in record.history] == ["set", "lift"]
    assert freeze_verdict(store, SERVICE).phase is Phase.SUCCESSFUL
    assert [e["action"] for e in log_lines(store)] == ["set", "lift"]


def test_manual_set_needs_authorisation_and_a_reason(tmp_path: Path, cfg: ReleaseConfig) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(FreezeRefused):
        set_freeze(store, cfg, by="eve", reason="because", source="manual")
    with pytest.raises(FreezeRefused, match="reason"):
        set_freeze(store, cfg, by="alice", reason="  ", source="manual")
    assert not store.exists(layout.freeze(SERVICE))


def test_malformed_state_is_an_error_never_a_pass(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put(layout.freeze(SERVICE), b"{not json", "application/json")
    v = freeze_verdict(store, SERVICE)
    assert v.phase is Phase.ERROR and v.blocks


def test_simultaneous_changes_all_reach_the_history_and_the_log(tmp_path: Path, cfg: ReleaseConfig) -> None:
    # Reviews setting the freeze while people lift it, all at once: none of the changes may be lost.
    store = LocalStore(tmp_path)
    barrier = threading.Barrier(6)

    def change(i: int) -> None:
        barrier.wait()
        for n in range(5):
            if i % 2:
                lift_freeze(store, cfg, by="alice", reason=f"lift {i}.{n}")
            else:
                set_freeze(store, cfg, by="launchgate:drift-review", reason=f"set {i}.{n}", source="drift_review")

    threads = [threading.Thread(target=change, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    record = read_freeze(store, SERVICE)
    assert record is not None
    expected = {f"{verb} {i}.{n}" for i in range(6) for n in range(5) for verb in (("lift",) if i % 2 else ("set",))}
    assert {e.reason for e in record.history} == expected
    assert {line["reason"] for line in log_lines(store)} == expected and len(log_lines(store)) == 30
    last = record.history[-1]
    assert record.active is (last.action == "set")  # the file agrees with the last change it records


def test_cli_lift_status_and_refusal(tmp_path: Path, cfg: ReleaseConfig) -> None:
    store = LocalStore(tmp_path)
    set_freeze(store, cfg, by="launchgate:drift-review", reason="drift", source="drift_review")
    runner = CliRunner()
    base = ["--service", SERVICE, "--config", str(CONFIG), "--artifacts", str(tmp_path)]
    status = runner.invoke(main, ["freeze", "status", *base])
    assert status.exit_code == 0 and "frozen" in status.output
    refused = runner.invoke(main, ["freeze", "lift", *base, "--as", "mallory", "--reason", "x"])
    assert refused.exit_code == 3, refused.output
    lifted = runner.invoke(main, ["freeze", "lift", *base, "--as", "alice", "--reason", "mitigated"])
    assert lifted.exit_code == 0, lifted.output
    assert not read_freeze(store, SERVICE).active  # type: ignore[union-attr]
    wrong = runner.invoke(main, ["freeze", "status", "--service", "other-svc", "--config", str(CONFIG)])
    assert wrong.exit_code == 2
    again = runner.invoke(main, ["freeze", "set", *base, "--as", "bob", "--reason", "incident 42"])
    assert again.exit_code == 0 and read_freeze(store, SERVICE).source == "manual"  # type: ignore[union-attr]
