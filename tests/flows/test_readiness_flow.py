"""The readiness step inside a real release: a required item without evidence blocks it (exit 3), and the
reason names the item and its owner; the bundle carries readiness/ and review.md its summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.release import release
from launchgate.config import load_config
from launchgate.readiness.attestations import attest
from launchgate.readiness.catalogue import load_catalogue
from launchgate.store import open_store
from tests.conftest import EXAMPLE
from tests.support.readiness import sign_example
from tests.support.sim import running_sim

CONFIG = str(EXAMPLE / "release.yaml")


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {n: stack.enter_context(running_sim(EXAMPLE / "variants.yaml", n)) for n in ("stable", "good-candidate")}


def test_a_missing_required_item_blocks_the_release_naming_item_and_owner(sims: dict[str, str],
                                                                          tmp_path: Path) -> None:
    sign_example(tmp_path)
    item = load_catalogue().get("security-signoff")
    assert item is not None
    attest(open_store(str(tmp_path)), load_config(CONFIG, check_files=False), item, "dana",
           now=datetime.now(UTC), revoke=True, note="review reopened")
    result = release(config=CONFIG, artifacts=str(tmp_path), auto_approve=True, overrides={
        "stable.endpoint": sims["stable"], "candidate.endpoint": sims["good-candidate"],
        "candidate.model": "support-bot-good", "load_test.enabled": False})
    assert (result["decision"], result["exit_code"]) == ("blocked", 3), result["reasons"]
    reason = next(r for r in result["reasons"] if r.startswith("readiness"))
    assert "security-signoff (security: missing)" in reason and "1 required items" in reason
    d = tmp_path / "support-bot" / "releases" / result["release_id"]
    gonogo = json.loads((d / "gonogo.json").read_text())
    assert gonogo["failed_items"] == ["readiness"]
    report = json.loads((d / "readiness/readiness.json").read_text())
    assert report["blocking"] == ["security-signoff"] and report["counts"]["total"] >= 60
    evidence = json.loads((d / "readiness/evidence.json").read_text())
    assert evidence["security_signoff"]["status"] == "missing" and evidence["eval_report"]["present"]
    assert evidence["budget_alarm"]["alert_usd"] == 45.0
    assert "- Readiness: not ready (block): 1 required items lack evidence (security-signoff)" in \
        (d / "review.md").read_text()
    assert not (d / "approvals").exists()  # a no-go never pauses for sign-off
