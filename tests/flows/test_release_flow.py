"""The release flow end to end under Prefect's test harness, against the simulator on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.release import release
from launchgate.errors import ArtifactExistsError
from launchgate.release.preflight import prepare_release
from launchgate.store.base import sha256_bytes
from tests.conftest import EXAMPLE
from tests.support.readiness import sign_example
from tests.support.sim import running_sim

CONFIG = str(EXAMPLE / "release.yaml")
VARIANTS = EXAMPLE / "variants.yaml"


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(running_sim(VARIANTS, name))
            for name in ("stable", "good-candidate", "bad-candidate")
        }


def overrides(sims: dict[str, str], candidate: str, model: str) -> dict[str, str | bool]:
    # The load test has its own flow test (test_release_loadtest.py); here it would add ~25 s a release.
    return {"stable.endpoint": sims["stable"], "candidate.endpoint": sims[candidate], "candidate.model": model,
            "load_test.enabled": False}


def bundle_dir(store: Path, release_id: str) -> Path:
    return store / "support-bot" / "releases" / release_id


def test_good_candidate_passes_with_complete_evidence(sims: dict[str, str], tmp_path: Path) -> None:
    sign_example(tmp_path)  # the readiness step (enforce: block) needs the owners' attestations
    result = release(config=CONFIG, artifacts=str(tmp_path), overrides=overrides(sims, "good-candidate",
                                                                                 "support-bot-good"),
                     auto_approve=True)
    assert result["decision"] == "passed", result["reasons"]
    assert result["exit_code"] == 0
    d = bundle_dir(tmp_path, result["release_id"])
    for name in ("manifest.json", "eval/eval_report.json", "eval/eval_report.md", "eval/cases.jsonl",
                 "eval/score_by_tag.png", "decision.json", "decision.md", "notifications.jsonl", "index.json",
                 "readiness/readiness.json", "readiness/readiness.md", "readiness/evidence.json"):
        assert (d / name).is_file(), name
    index = json.loads((d / "index.json").read_text())
    listed = {a["name"]: a["sha256"] for a in index["artifacts"]}
    assert "manifest.json" in listed and "decision.json" in listed
    for name, digest in listed.items():
        assert sha256_bytes((d / name).read_bytes()) == digest, name
    report = json.loads((d / "eval/eval_report.json").read_text())
    cand, base = report["variants"]["candidate"], report["variants"]["stable"]
    assert cand["score"] >= base["score"] + 0.02
    assert cand["cost_per_request"] > 0 and cand["calls"] == base["calls"] >= 200
    assert report["meta"]["dataset_sha256"] == json.loads((d / "manifest.json").read_text())["hashes"]["golden_set"]
    notes = [json.loads(x) for x in (d / "notifications.jsonl").read_text().splitlines()]
    assert {n["event"] for n in notes} >= {"release_started", "eval_gate", "release_finished"}


def test_bad_candidate_is_blocked_with_reason(sims: dict[str, str], tmp_path: Path) -> None:
    result = release(config=CONFIG, artifacts=str(tmp_path), overrides=overrides(sims, "bad-candidate",
                                                                                 "support-bot-bad"))
    assert result["decision"] == "blocked" and result["exit_code"] == 3
    assert any("eval_score" in r and "short by" in r for r in result["reasons"]), result["reasons"]
    d = bundle_dir(tmp_path, result["release_id"])
    decision = json.loads((d / "decision.json").read_text())
    assert decision["decision"] == "blocked"
    failed = [v for v in decision["verdicts"] if v["phase"] == "failed"]
    assert failed and failed[0]["evidence"] == "eval/eval_report.json"


def test_candidate_returning_500s_ends_in_a_verdict(tmp_path: Path, sims: dict[str, str]) -> None:
    with running_sim(VARIANTS, "good-candidate", error_rate=1.0) as broken:
        result = release(config=CONFIG, artifacts=str(tmp_path), overrides={
            "stable.endpoint": sims["stable"], "candidate.endpoint": broken, "candidate.max_retries": 1,
        })
    assert result["decision"] == "blocked"
    phases = {v["check"]: v["phase"] for v in result["verdicts"]}
    assert phases["eval_errors_candidate"] == "error"
    assert "eval_score" not in phases
    report = json.loads((bundle_dir(tmp_path, result["release_id"]) / "eval/eval_report.json").read_text())
    assert report["variants"]["candidate"]["errors_by_kind"].get("http_500", 0) > 0


def test_a_bundle_is_never_overwritten(tmp_path: Path, sims: dict[str, str]) -> None:
    now = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)
    prepare_release(CONFIG, artifacts=str(tmp_path), now=now)
    first = next((tmp_path / "support-bot" / "releases").iterdir()) / "manifest.json"
    before = first.read_bytes()
    with pytest.raises(ArtifactExistsError):
        prepare_release(CONFIG, artifacts=str(tmp_path), now=now)
    assert first.read_bytes() == before


def test_owners_get_slack_messages_and_slack_down_never_fails_a_release(
    sims: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.slack_standin import slack_standin

    token = "xoxb-test-secret-token-123"
    with slack_standin() as (base_url, state):
        monkeypatch.setenv("LAUNCHGATE_NOTIFIER", "slack")
        monkeypatch.setenv("LAUNCHGATE_SLACK_TOKEN", token)
        monkeypatch.setenv("LAUNCHGATE_SLACK_BASE_URL", base_url)
        sign_example(tmp_path / "a")
        sign_example(tmp_path / "b")
        ok = release(config=CONFIG, artifacts=str(tmp_path / "a"), auto_approve=True,
                     overrides=overrides(sims, "good-candidate", "support-bot-good"))
        posts = state.posts()
        channels = {p.body.get("channel") for p in posts}
        assert {"#support-bot-eng", "#support-bot-ops"} <= channels
        assert all(p.headers.get("Authorization") == f"Bearer {token}" for p in posts)
        assert any("blocks" in p.body for p in posts)

        state.reset()
        state.fail_next(1000, "500")  # Slack is down for the whole release
        monkeypatch.setenv("LAUNCHGATE_SLACK_MAX_RETRIES", "1")  # one retry still runs; three only add waiting
        down = release(config=CONFIG, artifacts=str(tmp_path / "b"), auto_approve=True,
                       overrides=overrides(sims, "good-candidate", "support-bot-good"))
    assert ok["decision"] == down["decision"] == "passed"
    d = bundle_dir(tmp_path / "b", down["release_id"])
    notes = [json.loads(x) for x in (d / "notifications.jsonl").read_text().splitlines()]
    assert notes and all(not n["ok"] and n["error"] for n in notes)
    evidence = "".join(p.read_text(errors="ignore") for p in d.rglob("*") if p.is_file() and p.suffix != ".png")
    assert token not in evidence


def _example_copy(tmp_path: Path, golden_lines: list[str] | None = None) -> Path:
    """The example service in tmp_path (release.yaml + prompts + schemas), optionally with another golden set."""
    import shutil

    root = tmp_path / "svc"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("*.py", ".launchgate"))
    if golden_lines is not None:
        (root / "golden.jsonl").write_text("\n".join(golden_lines) + "\n")
    return root / "release.yaml"


def test_malformed_golden_set_is_blocked_by_contracts_naming_the_rows(tmp_path: Path) -> None:
    lines = (EXAMPLE / "golden.jsonl").read_text().splitlines()[:20]
    long = json.loads(lines[5]) | {"id": "case-long"}
    long["input"]["body"] = "x" * 13000
    config = _example_copy(tmp_path, [*lines, lines[3], json.dumps(long)])  # line 21 repeats line 4's id
    result = release(config=str(config), artifacts=str(tmp_path / "store"))
    assert result["decision"] == "blocked" and result["exit_code"] == 3, result["reasons"]
    reasons = "\n".join(result["reasons"])
    dup_id = json.loads(lines[3])["id"]
    assert "golden_set_unique_ids" in reasons and f"line 4 ({dup_id})" in reasons and f"line 21 ({dup_id})" in reasons
    assert "golden_set_input_length" in reasons and "line 22 (case-long)" in reasons
    d = bundle_dir(tmp_path / "store", result["release_id"])
    assert not (d / "eval").exists()  # no model was called
    for name in ("contracts/validation_result.json", "contracts/summary.json", "contracts/data_docs/index.html"):
        assert (d / name).is_file(), name
    assert json.loads((d / "contracts/validation_result.json").read_text())["success"] is False
    listed = {a["name"] for a in json.loads((d / "index.json").read_text())["artifacts"]}
    assert "contracts/data_docs/index.html" in listed


def test_last_promoted_baseline_falls_back_then_reads_the_stored_record(
    sims: dict[str, str], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    ov = overrides(sims, "good-candidate", "support-bot-good") | {
        "evaluation.baseline": "last_promoted", "load_test.enabled": False}
    first = release(config=CONFIG, artifacts=str(store), overrides=ov, auto_approve=True)
    report = json.loads((bundle_dir(store, first["release_id"]) / "eval/eval_report.json").read_text())
    assert report["baseline"]["kind"] == "stable" and "last_known_good.json is missing" in report["baseline"]["note"]
    assert report["comparison"]["mcnemar"]["p_value"] < 0.05 and report["comparison"]["bootstrap_ci"]["low"] > 0

    # What promotion records: the promoted release's eval report.
    state = store / "support-bot" / "state"
    state.mkdir(parents=True, exist_ok=True)
    (state / "last_known_good.json").write_text(json.dumps({
        "release_id": first["release_id"], "promoted_at": "2026-01-01T00:00:00Z",
        "eval_report": f"support-bot/releases/{first['release_id']}/eval/eval_report.json"}))
    # The stable endpoint is down: the stored record must be used, not a fresh run.
    second = release(config=CONFIG, artifacts=str(store), auto_approve=True,
                     overrides=ov | {"stable.endpoint": "http://127.0.0.1:9/v1"})
    report = json.loads((bundle_dir(store, second["release_id"]) / "eval/eval_report.json").read_text())
    assert report["baseline"]["kind"] == "last_promoted" and report["baseline"]["release_id"] == first["release_id"]
    assert report["variants"]["stable"]["model"] == "support-bot-good"
    # Same candidate against its own promoted record: equal quality (only per-call JSON glitches differ).
    assert abs(report["comparison"]["delta"]) < 0.02 and report["comparison"]["mcnemar"]["p_value"] > 0.05
    assert second["decision"] == "blocked" and any("eval_score" in r for r in second["reasons"])
