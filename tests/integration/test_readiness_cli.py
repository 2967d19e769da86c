"""`launchgate readiness` and `launchgate attest` on a local store: the acceptance paths with a clock the
test controls (--at), refusals recorded, expiry, the runbook's sha256 binding, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from launchgate.cli import main
from tests.conftest import EXAMPLE, ROOT

CONFIG = str(EXAMPLE / "release.yaml")
T0 = "2026-01-10T09:00:00Z"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def items_of(out: Result) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in json.loads(out.output.splitlines()[-1])["items"]}


def readiness(store: Path, at: str, config: str = CONFIG) -> Result:
    return run("readiness", "--config", config, "--artifacts", str(store), "--json", "--no-probe", "--at", at)


def records(store: Path) -> list[dict[str, Any]]:
    path = store / "support-bot" / "state" / "attestations.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_an_empty_store_is_not_ready_and_lists_every_item_with_an_owner(tmp_path: Path) -> None:
    # A real process, as a team runs it.
    r = subprocess.run([sys.executable, "-m", "launchgate.cli", "readiness", "--config", CONFIG, "--artifacts",
                        str(tmp_path), "--json", "--no-probe"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 3, r.stderr
    line = json.loads(r.stdout.splitlines()[-1])
    assert line["total"] >= 60 and line["ready"] is False
    assert set(line) >= {"total", "verified", "attested", "not_applicable", "failed", "missing", "expired", "ready"}
    assert all(i["owner"] in {"product", "engineering", "operations", "security", "budget", "compliance"}
               for i in line["items"])
    required_open = {i["id"] for i in line["items"] if i["required"] and i["status"] not in
                     ("verified", "attested", "not_applicable")}
    assert required_open == set(line["blocking"]) and "security-signoff" in required_open
    assert all(i["reason"] for i in line["items"])


def test_the_text_listing_is_grouped_by_domain_and_ends_with_the_counts(tmp_path: Path) -> None:
    out = run("readiness", "--config", CONFIG, "--artifacts", str(tmp_path), "--no-probe")
    assert out.exit_code == 3
    lines = out.output.splitlines()
    assert "Security and access" in lines and "Release and rollback" in lines
    assert any(ln.split()[:3] == ["*", "missing", "security-signoff"] for ln in lines)
    assert json.loads(lines[-1])["total"] == len([ln for ln in lines if ln.startswith("  ")])


def test_an_unlisted_person_is_refused_and_the_refusal_recorded(tmp_path: Path) -> None:
    out = run("attest", "security-signoff", "--config", CONFIG, "--artifacts", str(tmp_path), "--as", "mallory",
              "--at", T0)
    assert out.exit_code == 3, out.output
    assert "only dana may" in out.output
    (rec,) = records(tmp_path)
    assert (rec["action"], rec["by"], rec["item"], rec["role"]) == ("refused", "mallory", "security-signoff",
                                                                   "security")
    assert items_of(readiness(tmp_path, T0))["security-signoff"]["status"] == "missing"


def test_an_attestation_counts_until_it_expires_then_counts_as_missing(tmp_path: Path) -> None:
    evidence = tmp_path / "review.pdf"
    evidence.write_bytes(b"%PDF signed security review")
    out = run("attest", "security-signoff", "--config", CONFIG, "--artifacts", str(tmp_path / "s"), "--as", "dana",
              "--evidence", str(evidence), "--note", "pen test passed", "--expires", "30d", "--at", T0)
    assert out.exit_code == 0, out.output
    (rec,) = records(tmp_path / "s")
    assert rec["expires_at"].startswith("2026-02-09") and rec["evidence_sha256"]
    stored = tmp_path / "s" / rec["evidence"]
    assert stored.read_bytes() == evidence.read_bytes() and rec["evidence_sha256"] in rec["evidence"]

    during = items_of(readiness(tmp_path / "s", "2026-02-01T00:00:00Z"))["security-signoff"]
    assert during["status"] == "attested" and during["by"] == "dana" and "pen test passed" in during["reason"]
    after = readiness(tmp_path / "s", "2026-02-10T00:00:00Z")
    item = items_of(after)["security-signoff"]
    assert item["status"] == "expired" and "expired on 2026-02-09" in item["reason"]
    assert json.loads(after.output.splitlines()[-1])["expired"] >= 1 and after.exit_code == 3


def test_a_revocation_withdraws_an_attestation(tmp_path: Path) -> None:
    base = ["--config", CONFIG, "--artifacts", str(tmp_path), "--as", "carol"]
    assert run("attest", "support-prepared", *base, "--at", T0).exit_code == 0
    assert run("attest", "support-prepared", *base, "--revoke", "--at", "2026-01-11T09:00:00Z").exit_code == 0
    item = items_of(readiness(tmp_path, "2026-01-12T00:00:00Z"))["support-prepared"]
    assert item["status"] == "missing" and "revoked" in item["reason"]


def test_a_runbook_change_voids_its_approval(tmp_path: Path) -> None:
    svc = tmp_path / "svc"
    shutil.copytree(EXAMPLE, svc, ignore=shutil.ignore_patterns("*.py", ".launchgate"))
    config = str(svc / "release.yaml")
    out = run("attest", "runbook-approved", "--config", config, "--artifacts", str(tmp_path / "s"), "--as", "bob",
              "--evidence", str(svc / "runbook.md"), "--at", T0)
    assert out.exit_code == 0, out.output
    assert items_of(readiness(tmp_path / "s", T0, config))["runbook-approved"]["status"] == "attested"
    (svc / "runbook.md").write_text((svc / "runbook.md").read_text() + "\n## New: restart the gateway\n")
    item = items_of(readiness(tmp_path / "s", T0, config))["runbook-approved"]
    assert item["status"] == "missing" and "changed since" in item["reason"]


def test_an_attestation_never_covers_a_failed_check(tmp_path: Path) -> None:
    svc = tmp_path / "svc"
    shutil.copytree(EXAMPLE, svc, ignore=shutil.ignore_patterns("*.py", ".launchgate"))
    text = (svc / "release.yaml").read_text().replace("timeout_s: 10", "timeout_s: 300", 1)
    (svc / "release.yaml").write_text(text)
    config = str(svc / "release.yaml")
    assert run("attest", "llm-timeouts", "--config", config, "--artifacts", str(tmp_path), "--as", "alice",
               "--at", T0).exit_code == 0
    item = items_of(readiness(tmp_path, T0, config))["llm-timeouts"]
    assert item["status"] == "failed" and "300 s" in item["reason"]


@pytest.mark.parametrize(("args", "says"), [
    (["attest", "no-such-item", "--as", "alice"], "unknown readiness item 'no-such-item'"),
    (["attest", "security-signoff", "--as", "dana", "--evidence", "/no/such/file"], "neither a URL"),
    (["attest", "security-signoff", "--as", "dana", "--expires", "soon"], "--expires 'soon'"),
    (["readiness", "--release", "support-bot-nope"], "no such release"),
])
def test_bad_input_exits_2_naming_it(tmp_path: Path, args: list[str], says: str) -> None:
    out = run(*args, "--config", CONFIG, "--artifacts", str(tmp_path))
    assert out.exit_code == 2 and says in out.output, out.output


def test_a_not_applicable_mark_by_someone_outside_the_owner_role_is_bad_input(tmp_path: Path) -> None:
    svc = tmp_path / "svc"
    shutil.copytree(EXAMPLE, svc, ignore=shutil.ignore_patterns("*.py", ".launchgate"))
    text = (svc / "release.yaml").read_text().replace("item: user-consent, by: frank", "item: user-consent, by: alice")
    (svc / "release.yaml").write_text(text)
    out = run("readiness", "--config", str(svc / "release.yaml"), "--artifacts", str(tmp_path / "s"))
    assert out.exit_code == 2 and "'alice' may not mark user-consent not applicable" in out.output, out.output
