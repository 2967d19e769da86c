"""The release review: the seed's template filled in from a real bundle on a LocalStore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launchgate.errors import ArtifactExistsError
from launchgate.governance.approvals import ApprovalLedger
from launchgate.governance.release_review import build_review, review_markdown, write_review
from launchgate.governance.rubric import FreezeState, apply_rubric
from launchgate.release.preflight import ReleaseRun, prepare_release
from launchgate.release.records import decide
from launchgate.verdicts import Phase, Verdict
from tests.conftest import EXAMPLE

EV = "eval/eval_report.json"
TEMPLATE = ["Release ID", "Prompt version", "Dataset hash", "Eval score", "Canary results", "Rollback tested"]


def eval_verdicts(score_phase: Phase = Phase.SUCCESSFUL) -> list[Verdict]:
    return [
        Verdict(check="eval_score", phase=score_phase, value={"candidate": 0.91, "baseline": 0.85, "delta": 0.06},
                threshold=0.02, reason="score ok", evidence=EV),
        Verdict(check="schema_validity", phase=Phase.SUCCESSFUL, value=0.998, reason="schema ok", evidence=EV),
        Verdict(check="cost_per_request", phase=Phase.SUCCESSFUL, reason="cost ok", evidence=EV),
    ]


@pytest.fixture()
def run(tmp_path: Path) -> ReleaseRun:
    return prepare_release(EXAMPLE / "release.yaml", artifacts=str(tmp_path),
                           overrides={"load_test.enabled": False, "canary.enabled": False})


def test_approved_release_review(run: ReleaseRun) -> None:
    verdicts = [*eval_verdicts(), Verdict(check="readiness", phase=Phase.SUCCESSFUL, reason="ready",
                                          evidence="readiness/readiness.json")]
    record = apply_rubric(run.release_id, run.config, verdicts, FreezeState())
    run.bundle.put_json("gonogo.json", record)
    verdicts.append(record.verdict())
    ledger = ApprovalLedger.open(run.release_id, "support-bot", run.config.approvals)
    ledger.submit("engineering", "mallory", "approve")
    ledger.submit("engineering", "alice", "approve", "eval looks right")
    ledger.submit("operations", "bob", "approve")
    run.bundle.put_json("approvals/approvals.json", ledger)
    verdicts.append(ledger.verdict())
    decision = decide(run.release_id, "support-bot", verdicts, run.evidence_uri)

    review = write_review(run.bundle, decision)
    assert review.prompt_version == "v2" and review.prompt_sha256 == run.hashes["prompt_candidate"]
    assert review.dataset_sha256 == run.hashes["golden_set"]
    assert review.eval_score == {"candidate": 0.91, "baseline": 0.85, "delta": 0.06}
    assert review.approvals_outcome == "approved" and len(review.approvals) == 3
    lines = {line.label: line for line in review.lines}
    assert [line.label for line in review.lines][:6] == TEMPLATE
    assert lines["Rollback tested"].value.startswith("Not applicable: no traffic step")  # canary disabled here
    assert "not run" in lines["Canary results"].value
    assert "alice (engineering" in lines["Approvals"].value and "1 submission(s) refused" in lines["Approvals"].value
    assert lines["Decision"].value.startswith("passed (exit 0)")

    d = Path(run.store.location(run.bundle.base.rstrip("/")))
    md = (d / "review.md").read_text()
    for label in TEMPLATE:
        assert f"- {label}: " in md
    assert run.hashes["golden_set"] in md
    assert json.loads((d / "review.json").read_text())["release_id"] == run.release_id
    # The index written after the review carries its sha256, and the review is write-once.
    index = json.loads(run.store.get(run.bundle.write_index().key))
    assert {"review.md", "review.json"} <= {a["name"] for a in index["artifacts"]}
    with pytest.raises(ArtifactExistsError):
        write_review(run.bundle, decision)


def test_blocked_release_review_says_what_did_not_happen(run: ReleaseRun) -> None:
    verdicts = eval_verdicts(Phase.FAILED)
    decision = decide(run.release_id, "support-bot", verdicts, run.evidence_uri)
    review = build_review(run.bundle, decision)
    lines = {line.label: line.value for line in review.lines}
    assert lines["Eval score"].endswith(": failed")
    assert lines["Approvals"].startswith("none recorded")
    assert lines["Rollback tested"].startswith("not tested")
    assert lines["Decision"].startswith("blocked (exit 3)")
    assert "Canary results" in review_markdown(review)


def test_canary_results_come_from_canary_verdicts(run: ReleaseRun) -> None:
    verdicts = [*eval_verdicts(), Verdict(check="canary_error_rate", phase=Phase.FAILED,
                                          reason="error rate 3.1% > 1.5% over 412 canary requests",
                                          evidence="canary/canary_summary.json")]
    decision = decide(run.release_id, "support-bot", verdicts, run.evidence_uri)
    review = build_review(run.bundle, decision)
    assert [c.check for c in review.canary] == ["canary_error_rate"]
    canary = next(line for line in review.lines if line.label == "Canary results")
    assert "3.1% > 1.5%" in canary.value and canary.evidence == "canary/canary_summary.json"
