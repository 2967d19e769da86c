"""Resume planning over a real local store: which path a rerun of a release id takes, and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from launchgate.errors import InputError, ReleaseStateError
from launchgate.release.preflight import prepare_release
from launchgate.release.promotion import record_promotion, write_last_known_good
from launchgate.release.records import Decision
from launchgate.release.resume import latest_attempt, promoted_decision, wait_for_lapsed_lease
from launchgate.store.bundle import ReleaseBundle
from tests.conftest import EXAMPLE

CONFIG = EXAMPLE / "release.yaml"


def _first(tmp_path: Path) -> tuple[str, Path]:
    run = prepare_release(CONFIG, artifacts=str(tmp_path))
    run.bundle.put_json("eval/eval_report.json", {"score": 1})
    return run.release_id, tmp_path / "support-bot" / "releases" / run.release_id


def test_a_crashed_release_reruns_as_attempt_2_under_its_own_prefix(tmp_path: Path) -> None:
    rid, bundle = _first(tmp_path)
    before = (bundle / "eval/eval_report.json").read_bytes()
    run = prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid)
    assert run.release_id == rid and run.attempt == 2 and run.resume is not None
    assert run.resume.path == "rerun"
    assert run.resume.found == ["eval/eval_report.json", "manifest.json"]
    run.bundle.put_json("eval/eval_report.json", {"score": 2})  # no clash with attempt 1's file
    run.bundle.put_json("decision.json", {"decision": "passed"})  # release records stay at the top
    assert (bundle / "eval/eval_report.json").read_bytes() == before
    assert json.loads((bundle / "attempts/2/eval/eval_report.json").read_text()) == {"score": 2}
    assert (bundle / "decision.json").exists() and (bundle / "attempts/2/resume.json").exists()
    assert run.manifest.release_id == rid  # the stored manifest, not a new one


def test_each_resume_of_an_undecided_release_claims_the_next_attempt(tmp_path: Path) -> None:
    rid, _ = _first(tmp_path)
    assert prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid).attempt == 2
    assert prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid).attempt == 3
    assert latest_attempt(["manifest.json", "attempts/3/resume.json", "attempts/12/x", "attempts/x/y"]) == 12


def test_a_decided_release_is_finished_and_nothing_is_claimed(tmp_path: Path) -> None:
    rid, bundle = _first(tmp_path)
    ReleaseBundle(prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid).store, "support-bot", rid,
                  attempt=2).put_json("decision.json", {"decision": "blocked", "exit_code": 3, "attempt": 2})
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    run = prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid)
    assert run.resume is not None and run.resume.path == "finished"
    assert run.attempt == 2 and "blocked" in run.resume.reason
    assert sorted(p for p in bundle.rglob("*") if p.is_file()) == files


def test_a_promoted_release_is_found_by_its_promotion_record_even_after_a_later_promotion(tmp_path: Path) -> None:
    rid, _ = _first(tmp_path)
    run = prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid)  # attempt 2, then it promoted
    record_promotion(run.store, "support-bot", rid, 2, {"model": "m"})
    write_last_known_good(run.store, "support-bot", "support-bot-later-release", {})
    again = prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid)
    assert again.resume is not None and again.resume.path == "promoted" and again.attempt == 2
    decision = promoted_decision(again.resume, "support-bot", again.evidence_uri, [])
    assert (decision.decision, decision.exit_code, decision.attempt) == ("promoted", 0, 2)
    assert "nothing to do" in decision.summary
    Decision.model_validate(decision.model_dump(mode="json"))


def test_last_known_good_alone_also_marks_a_release_promoted(tmp_path: Path) -> None:
    rid, _ = _first(tmp_path)
    store = prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid).store
    write_last_known_good(store, "support-bot", rid, {})
    assert prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid).resume.path == "promoted"  # type: ignore[union-attr]


def test_resume_refuses_an_unknown_id_naming_the_store(tmp_path: Path) -> None:
    with pytest.raises(ReleaseStateError, match="no release with that id .*manifest.json is missing"):
        prepare_release(CONFIG, artifacts=str(tmp_path), resume="support-bot-20260101T000000Z-deadbeef")
    with pytest.raises(ReleaseStateError, match="not a release id of service 'support-bot'"):
        prepare_release(CONFIG, artifacts=str(tmp_path), resume="other-20260101T000000Z-deadbeef")
    with pytest.raises(InputError, match="not a valid release id"):
        prepare_release(CONFIG, artifacts=str(tmp_path), resume="support-bot-../../x")
    assert not (tmp_path / "support-bot").exists()  # nothing was written


def test_resume_refuses_another_candidate_or_golden_set(tmp_path: Path) -> None:
    rid, bundle = _first(tmp_path)
    with pytest.raises(ReleaseStateError, match="another candidate"):
        prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid, overrides={"candidate.model": "other-model"})
    golden = tmp_path / "golden.jsonl"
    golden.write_text("\n".join((EXAMPLE / "golden.jsonl").read_text().splitlines()[:50]) + "\n")
    with pytest.raises(ReleaseStateError, match="golden set changed"):
        prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid, overrides={"evaluation.golden_set": str(golden)})
    assert not (bundle / "attempts").exists()
    # Other settings may change (e.g. a shorter canary); the resume records which inputs differ.
    run = prepare_release(CONFIG, artifacts=str(tmp_path), resume=rid, overrides={"canary.duration_s": 5})
    assert run.resume is not None and run.resume.changed_inputs == []


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_waits_for_a_dead_attempts_lease_to_lapse() -> None:
    clock = _Clock()
    lease = {"holder": "canary-r1", "ttl_s": 3.0}
    reads = iter([lease] * 5 + [None])
    said = wait_for_lapsed_lease(lambda: next(reads), "r1", "canary-r1-attempt-2", sleep=clock.sleep, clock=clock)
    assert said == "waited 2.5s for the lease of canary-r1 to lapse"


def test_a_lease_still_renewed_by_an_earlier_attempt_stops_the_resume() -> None:
    clock = _Clock()
    with pytest.raises(ReleaseStateError, match="'canary-r1' still renews the gateway's lease"):
        wait_for_lapsed_lease(lambda: {"holder": "canary-r1", "ttl_s": 3.0}, "r1", "canary-r1-attempt-2",
                              sleep=clock.sleep, clock=clock)
    assert 6.0 < clock.t < 8.0


def test_other_holders_and_no_lease_need_no_wait() -> None:
    assert wait_for_lapsed_lease(lambda: None, "r1", "canary-r1-attempt-2") is None
    assert wait_for_lapsed_lease(lambda: {"holder": "canary-other"}, "r1", "canary-r1-attempt-2") is None
    assert wait_for_lapsed_lease(lambda: {"holder": "canary-r10"}, "r1", "canary-r1-attempt-2") is None
    assert wait_for_lapsed_lease(lambda: {"holder": "someone-r1"}, "r1", "canary-r1-attempt-3") is None


def test_a_dead_attempts_drill_or_earlier_resume_also_holds_the_release() -> None:
    for holder in ("drill-r1", "canary-r1-attempt-2", "drill-r1-attempt-2"):
        clock = _Clock()
        reads = iter([{"holder": holder, "ttl_s": 1.0}, None])
        said = wait_for_lapsed_lease(lambda r=reads: next(r), "r1", "drill-r1-attempt-3", sleep=clock.sleep,
                                     clock=clock)
        assert said == f"waited 0.5s for the lease of {holder} to lapse"
    assert wait_for_lapsed_lease(lambda: {"holder": "canary-r1-attempt-2"}, "r1", "canary-r1-attempt-2") is None


def test_status_lists_undecided_releases_newest_first(tmp_path: Path) -> None:
    from launchgate.release.resume import unfinished_releases

    old = prepare_release(CONFIG, artifacts=str(tmp_path), now=datetime(2026, 11, 1, tzinfo=UTC))
    decided = prepare_release(CONFIG, artifacts=str(tmp_path), now=datetime(2026, 11, 2, tzinfo=UTC))
    decided.bundle.put_json("decision.json", {"decision": "passed"})
    new = prepare_release(CONFIG, artifacts=str(tmp_path), now=datetime(2026, 11, 3, tzinfo=UTC))
    prepare_release(CONFIG, artifacts=str(tmp_path), resume=new.release_id)  # attempt 2 started
    found = unfinished_releases(old.store, "support-bot")
    assert found == [{"release_id": new.release_id, "attempts": 2, "artifacts": 2},
                     {"release_id": old.release_id, "attempts": 1, "artifacts": 1}]
