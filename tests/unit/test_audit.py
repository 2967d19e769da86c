"""`launchgate audit`: request log line -> release -> the decision that let it serve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from launchgate.cli import main
from launchgate.errors import InputError
from launchgate.governance.audit import audit_request, find_request, latest_request_id, render
from launchgate.release.preflight import ReleaseRun
from launchgate.store.local import LocalStore
from tests.conftest import EXAMPLE
from tests.support.bundles import finalized_release

LOG = "support-bot/logs/requests/2026-11-22/03-gw-1.jsonl"


def line(run: ReleaseRun, request_id: str, variant: str = "candidate", **extra: Any) -> str:
    side = run.manifest.candidate if variant == "candidate" else run.manifest.stable
    rec = {"ts": "2026-11-22T03:14:15Z", "request_id": request_id, "service": "support-bot",
           "release_id": run.release_id, "variant": variant, "model": side.model,
           "prompt_version": side.prompt_version, "prompt_sha256": side.prompt_sha256, "status": 200,
           "latency_ms": 120.0, **extra}
    return json.dumps(rec)


def write_log(store: LocalStore, key: str, lines: list[str]) -> None:
    store.put(key, ("\n".join(lines) + "\n").encode())


def test_candidate_request_reproduces_its_decision(tmp_path: Path) -> None:
    run = finalized_release(tmp_path)
    store = LocalStore(tmp_path)
    write_log(store, LOG, [line(run, "req-1"), line(run, "req-2"), '{"torn'])
    report = audit_request(store, "support-bot", "req-2")
    assert report.log_key == LOG and report.log_line == 2
    assert report.release_id == run.release_id and report.role == "candidate"
    assert report.gonogo and report.gonogo["decision"] == "go"
    assert {e["approver"] for e in report.approvals["entries"]} == {"alice", "bob"}
    assert report.reproduced, [c for c in report.checks if not c.ok]
    text = render(report)
    assert "alice (engineering) approve" in text and run.hashes["golden_set"] in text
    assert "decision reproduced" in text


def test_tampered_evidence_or_prompt_is_flagged(tmp_path: Path) -> None:
    run = finalized_release(tmp_path)
    store = LocalStore(tmp_path)
    write_log(store, LOG, [line(run, "req-1", prompt_sha256="0" * 64)])
    report = audit_request(store, "support-bot", "req-1")
    assert not report.reproduced
    assert not next(c for c in report.checks if c.name == "prompt_sha256").ok
    path = Path(store.location(run.bundle.key("gonogo.json")))
    path.write_text(path.read_text().replace('"go"', '"no_go"'))
    index_check = next(c for c in audit_request(store, "support-bot", "req-1").checks if c.name == "evidence_index")
    assert not index_check.ok and "gonogo.json" in index_check.detail


def test_stable_request_resolves_to_the_release_that_promoted_it(tmp_path: Path) -> None:
    promoted = finalized_release(tmp_path)
    store = LocalStore(tmp_path)
    store.put("support-bot/state/last_known_good.json", json.dumps({"release_id": promoted.release_id}).encode())
    # The stable variant now serves the promoted candidate's prompt; the log line names a newer release.
    rec = json.loads(line(promoted, "req-s", variant="candidate"))
    rec.update(variant="stable", release_id="support-bot-20991231T000000Z-deadbeef")
    write_log(store, LOG, [json.dumps(rec)])
    report = audit_request(store, "support-bot", "req-s")
    assert report.role == "stable" and report.release_id == promoted.release_id
    assert "last_known_good" in report.resolved_by
    assert report.reproduced


def test_stable_baseline_not_released_through_launchgate_is_said_plainly(tmp_path: Path) -> None:
    run = finalized_release(tmp_path)
    store = LocalStore(tmp_path)
    write_log(store, LOG, [line(run, "req-b", variant="stable")])
    report = audit_request(store, "support-bot", "req-b")
    assert report.release_id == run.release_id and "baseline" in report.resolved_by
    assert any("not released through launchgate" in n for n in report.notes)
    assert next(c for c in report.checks if c.name == "prompt_sha256").ok


def test_newest_log_first_and_not_found(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_log(store, "support-bot/logs/requests/2026-11-21/23-gw-1.jsonl", ['{"request_id": "dup", "v": "old"}'])
    write_log(store, "support-bot/logs/requests/2026-11-22/00-gw-1.jsonl", ['{"request_id": "dup", "v": "new"}'])
    found = find_request(store, "support-bot", "dup")
    assert found is not None and found[2]["v"] == "new"
    assert find_request(store, "support-bot", "dup", day="2026-11-21")[2]["v"] == "old"  # type: ignore[index]
    with pytest.raises(InputError, match="not found in the request log"):
        audit_request(store, "support-bot", "nope")


def test_cli_audit(tmp_path: Path) -> None:
    run = finalized_release(tmp_path)
    write_log(LocalStore(tmp_path), LOG, [line(run, "req-cli")])
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "--request-id", "req-cli", "--service", "support-bot",
                              "--artifacts", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert run.release_id in ok.output and "Go/no-go" in ok.output
    as_json = runner.invoke(main, ["audit", "--request-id", "req-cli", "--config", str(EXAMPLE / "release.yaml"),
                                   "--artifacts", str(tmp_path), "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output)["reproduced"] is True
    missing = runner.invoke(main, ["audit", "--request-id", "zzz", "--service", "support-bot",
                                   "--artifacts", str(tmp_path)])
    assert missing.exit_code == 2 and "not found" in missing.output
    no_service = runner.invoke(main, ["audit", "--request-id", "zzz", "--artifacts", str(tmp_path)])
    assert no_service.exit_code == 2 and "--service" in no_service.output


def test_latest_request_id_picks_the_newest_line_of_a_variant(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    assert latest_request_id(store, "support-bot") is None
    write_log(store, "support-bot/logs/requests/2026-11-22/00-gw-1.jsonl", [
        '{"request_id": "c-old", "variant": "candidate"}', '{"request_id": "c-new", "variant": "candidate"}',
        '{"request_id": "s-1", "variant": "stable"}', '{"torn'])
    assert latest_request_id(store, "support-bot") == "s-1"
    assert latest_request_id(store, "support-bot", variant="candidate") == "c-new"
