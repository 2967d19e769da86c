"""`release(resume=...)` under Prefect's test harness: a decided release is left as it is, and a
release promoted before its process died is finalized without touching traffic again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.release import release
from launchgate.errors import ReleaseStateError
from launchgate.release.preflight import prepare_release
from launchgate.release.promotion import record_promotion
from launchgate.release.records import decide
from launchgate.verdicts import Phase, Verdict
from tests.conftest import EXAMPLE
from tests.support.sim import running_sim

CONFIG = str(EXAMPLE / "release.yaml")
VARIANTS = EXAMPLE / "variants.yaml"


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, str]]:
    with running_sim(VARIANTS, "stable") as stable, running_sim(VARIANTS, "good-candidate") as good:
        yield {"stable": stable, "good-candidate": good}


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_resuming_a_decided_release_keeps_its_decision_and_only_completes_missing_records(
        sims: dict[str, str], tmp_path: Path) -> None:
    # Attempt 1 wrote decision.json and died inside finalize, before the review and the index.
    overrides = {"stable.endpoint": sims["stable"], "candidate.endpoint": sims["good-candidate"],
                 "load_test.enabled": False}
    crashed = prepare_release(CONFIG, artifacts=str(tmp_path), overrides=overrides)
    crashed.bundle.put_json("eval/eval_report.json", {"meta": {}})
    blocked = Verdict(check="eval_gate", phase=Phase.FAILED, reason="candidate short by 0.174")
    stored = decide(crashed.release_id, "support-bot", [blocked], crashed.evidence_uri)
    crashed.bundle.put_json("decision.json", stored.model_dump(mode="json"))
    bundle = tmp_path / "support-bot" / "releases" / crashed.release_id
    before = _digests(bundle)

    again = release(config=CONFIG, artifacts=str(tmp_path), overrides=overrides, resume=crashed.release_id)
    assert (again["decision"], again["exit_code"], again["summary"]) == ("blocked", 3, stored.summary)
    after = _digests(bundle)
    assert all(after[name] == digest for name, digest in before.items())  # nothing stored was rewritten
    # report.html is the page drawn from the index: written after it and, like index.json, not listed in it.
    assert set(after) - set(before) == {"decision.md", "review.json", "review.md", "notifications.jsonl",
                                        "index.json", "report.html"}
    assert not (bundle / "attempts").exists()  # no step ran again
    index = json.loads((bundle / "index.json").read_text())
    assert {a["name"] for a in index["artifacts"]} == set(after) - {"index.json", "report.html"}

    # A second resume finds everything written: it changes nothing at all.
    third = release(config=CONFIG, artifacts=str(tmp_path), overrides=overrides, resume=crashed.release_id)
    assert third["decided_at"] == again["decided_at"]
    assert _digests(bundle) == after


def test_resuming_a_release_promoted_before_the_crash_finalizes_it_without_touching_traffic(
        sims: dict[str, str], tmp_path: Path) -> None:
    # The gateway URL points at a closed port: any traffic call would fail the run.
    overrides = {"stable.endpoint": sims["stable"], "candidate.endpoint": sims["good-candidate"],
                 "load_test.enabled": False, "canary.enabled": True, "canary.gateway_url": "http://127.0.0.1:9"}
    crashed = prepare_release(CONFIG, artifacts=str(tmp_path), overrides=overrides)  # attempt 1's manifest
    crashed.bundle.put_json("gonogo.json", {"decision": "go", "items": []})
    record_promotion(crashed.store, "support-bot", crashed.release_id, 1, {"model": "support-bot-good"})
    bundle = tmp_path / "support-bot" / "releases" / crashed.release_id
    before = _digests(bundle)

    result = release(config=CONFIG, artifacts=str(tmp_path), overrides=overrides, resume=crashed.release_id)
    assert (result["decision"], result["exit_code"], result["attempt"]) == ("promoted", 0, 1), result["reasons"]
    assert "nothing to do" in result["summary"]
    after = _digests(bundle)
    assert all(after[name] == digest for name, digest in before.items())
    assert {"decision.json", "decision.md", "review.json", "review.md", "notifications.jsonl",
            "index.json"} <= set(after)
    assert not (bundle / "attempts").exists() and "eval/eval_report.json" not in after  # no step ran again
    review = json.loads((bundle / "review.json").read_text())
    assert review["decision"] == "promoted"


def test_a_resume_of_another_candidate_is_refused_before_anything_runs(sims: dict[str, str], tmp_path: Path) -> None:
    overrides = {"stable.endpoint": sims["stable"], "candidate.endpoint": sims["good-candidate"],
                 "load_test.enabled": False}
    crashed = prepare_release(CONFIG, artifacts=str(tmp_path), overrides=overrides)
    before = _digests(tmp_path)
    with pytest.raises(ReleaseStateError, match="another candidate"):
        release(config=CONFIG, artifacts=str(tmp_path), overrides={**overrides, "candidate.model": "x"},
                resume=crashed.release_id)
    assert _digests(tmp_path) == before
