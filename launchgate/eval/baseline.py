"""The eval baseline when ``evaluation.baseline: last_promoted``: the last promoted release's record.

Promotion writes ``<service>/state/last_known_good.json``:
``{"release_id", "promoted_at", "eval_report": "<store key of that release's eval_report.json>"}``.
Its per-case results (``cases.jsonl`` beside the report, the ``candidate`` rows) become the
baseline, so the candidate is compared with what actually serves users, without calling the
stable endpoint again.

A stored record is only used when it was measured on the same golden set (same sha256):
scores on different cases are not comparable. Otherwise (or when nothing was promoted yet,
or the record is unreadable) the caller falls back to a fresh run of the stable endpoint and
the report says why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from launchgate.config import ReleaseConfig
from launchgate.errors import StoreError
from launchgate.eval.runner import CaseResult
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.jsonio import get_json

BASELINE_LABEL = "stable"  # the baseline keeps the label the gate and the reports use for it


def last_known_good_key(service: str) -> str:
    return layout.last_known_good(service)


@dataclass
class StoredBaseline:
    release_id: str
    promoted_at: str | None
    eval_report: str  # store key
    model: str
    prompt_version: str
    results: list[CaseResult] = field(default_factory=list)

    def source(self) -> dict[str, Any]:
        return {"kind": "last_promoted", "release_id": self.release_id, "promoted_at": self.promoted_at,
                "eval_report": self.eval_report, "model": self.model, "prompt_version": self.prompt_version}


def _json(store: ArtifactStore, key: str) -> Any:
    return get_json(store, key)


def load_last_promoted(store: ArtifactStore, service: str, dataset_sha256: str) -> tuple[StoredBaseline | None, str]:
    """The stored baseline, or None and a sentence saying why a fresh stable run is needed."""
    key = last_known_good_key(service)
    try:
        if not store.exists(key):
            return None, f"no promoted release of {service} yet ({key} is missing)"
        lkg = _json(store, key)
        report_key = lkg["eval_report"]
        report = _json(store, report_key)
    except (StoreError, KeyError, TypeError, json.JSONDecodeError) as exc:
        return None, f"the last promoted release's eval record is unreadable ({type(exc).__name__}: {str(exc)[:120]})"
    release_id = str(lkg.get("release_id", "?"))
    stored_sha = (report.get("meta") or {}).get("dataset_sha256")
    if stored_sha != dataset_sha256:
        return None, (f"the last promoted release {release_id} was evaluated on another golden set "
                      f"(sha256 {str(stored_sha)[:12]} vs {dataset_sha256[:12]})")
    cases_key = report_key.rsplit("/", 1)[0] + "/cases.jsonl"
    try:
        rows = [json.loads(line) for line in store.get(cases_key).decode("utf-8").splitlines() if line.strip()]
        results = [CaseResult.model_validate({**r, "variant": BASELINE_LABEL})
                   for r in rows if r.get("variant") == "candidate"]
    except (StoreError, ValueError, ValidationError) as exc:
        return None, f"the per-case results of {release_id} are unreadable ({type(exc).__name__})"
    if not results:
        return None, f"the eval record of {release_id} holds no candidate results"
    variant = (report.get("variants") or {}).get("candidate") or {}
    return StoredBaseline(
        release_id=release_id, promoted_at=lkg.get("promoted_at"), eval_report=report_key,
        model=str(variant.get("model", "?")), prompt_version=str(variant.get("prompt_version", "?")),
        results=results,
    ), ""


def choose_baseline(store: ArtifactStore, config: ReleaseConfig, dataset_sha256: str
                    ) -> tuple[StoredBaseline | None, dict[str, Any]]:
    """The baseline policy: the stored last-promoted record when asked for and usable, else a fresh
    run of the stable endpoint. Returns the record (None: run stable) and the report's ``baseline``
    entry, which says which one it is and, after a fallback, why (``fallback_reason``).
    """
    fresh = {"kind": "stable", "endpoint": config.stable.endpoint, "model": config.stable.model,
             "prompt_version": config.stable.prompt.version}
    if config.evaluation.baseline != "last_promoted":
        return None, {**fresh, "note": "fresh run of the stable endpoint on the same cases"}
    stored, why = load_last_promoted(store, config.service, dataset_sha256)
    if stored is None:
        return None, {**fresh, "fallback_from": "last_promoted", "fallback_reason": why,
                      "note": f"fresh run of the stable endpoint: last_promoted was asked for, but {why}"}
    return stored, {**stored.source(),
                    "note": f"last promoted release {stored.release_id} (stored eval record, not re-run)"}
