"""The last-promoted baseline: read from the store, or a reason to fall back to a fresh stable run."""

from __future__ import annotations

import json
from pathlib import Path

from launchgate.eval.baseline import last_known_good_key, load_last_promoted
from launchgate.store import LocalStore

REPORT = "svc/releases/r1/eval/eval_report.json"


def seed_store(tmp_path: Path, *, dataset: str = "abc", cases: list[dict] | None = None) -> LocalStore:
    store = LocalStore(tmp_path)
    store.put(last_known_good_key("svc"), json.dumps(
        {"release_id": "r1", "promoted_at": "2026-01-01T00:00:00Z", "eval_report": REPORT}).encode())
    store.put(REPORT, json.dumps({"meta": {"dataset_sha256": dataset},
                                  "variants": {"candidate": {"model": "m-good", "prompt_version": "v2"}}}).encode())
    rows = cases if cases is not None else [
        {"case_id": "a", "variant": "candidate", "status": "ok", "passed": True, "score": 1.0},
        {"case_id": "a", "variant": "stable", "status": "ok", "passed": False, "score": 0.0},
    ]
    store.put("svc/releases/r1/eval/cases.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    return store


def test_stored_candidate_results_become_the_baseline(tmp_path: Path) -> None:
    stored, why = load_last_promoted(seed_store(tmp_path), "svc", "abc")
    assert stored is not None and why == ""
    assert [(r.case_id, r.variant, r.passed) for r in stored.results] == [("a", "stable", True)]
    assert (stored.model, stored.prompt_version, stored.release_id) == ("m-good", "v2", "r1")
    assert stored.source()["kind"] == "last_promoted"


def test_fallback_reasons(tmp_path: Path) -> None:
    stored, why = load_last_promoted(LocalStore(tmp_path / "empty"), "svc", "abc")
    assert stored is None and "last_known_good.json is missing" in why
    stored, why = load_last_promoted(seed_store(tmp_path / "other"), "svc", "def")
    assert stored is None and "another golden set" in why
    stored, why = load_last_promoted(seed_store(tmp_path / "nocand", cases=[]), "svc", "abc")
    assert stored is None and "no candidate results" in why
    broken = seed_store(tmp_path / "broken")
    broken.put(REPORT, b"{not json")
    stored, why = load_last_promoted(broken, "svc", "abc")
    assert stored is None and "unreadable" in why
