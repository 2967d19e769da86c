"""Read what a release bundle holds into one plain dict for report.html. Missing parts are None.

Step evidence sits under the deciding attempt's prefix (``attempts/<n>/`` after a resume); the
release records (decision, manifest, index) at the bundle's base. A part that cannot be read
(absent step, malformed file) is left out with a note, never fatal: a report of a failed release
matters most.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from launchgate.errors import StoreError
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import INDEX_NAME, ReleaseBundle
from launchgate.store.jsonio import find_json

log = logging.getLogger(__name__)
IMAGES = {"eval/score_by_tag.png": "Eval score by tag", "load/latency_throughput.png": "Load test",
          "canary/timeline.png": "Canary error rate and p95 over time"}


def _find(store: ArtifactStore, key: str, notes: list[str]) -> Any:
    try:
        return find_json(store, key)
    except (StoreError, ValueError) as exc:
        notes.append(f"{key.rsplit('/', 2)[-2:]}: unreadable ({exc})")
        return None


def _jsonl(store: ArtifactStore, key: str) -> list[dict[str, Any]]:
    try:
        if not store.exists(key):
            return []
        return [json.loads(line) for line in store.get(key).decode("utf-8").splitlines() if line.strip()]
    except (StoreError, ValueError) as exc:
        log.warning("report: %s unreadable: %s", key, exc)
        return []


def gather(base: ReleaseBundle) -> dict[str, Any]:
    """Everything report.html shows, from the bundle at ``base.base`` (a release's, or a check's)."""
    notes: list[str] = []
    store, service, release_id = base.store, base.service, base.release_id
    decision = _find(store, base.key("decision.json"), notes)
    attempt = int((decision or {}).get("attempt") or 1)
    b = ReleaseBundle(store, service, release_id, attempt=attempt)
    b.base = base.base  # a check's bundle lives under checks/, not releases/

    def step(name: str) -> Any:
        return _find(store, b.key(name), notes)

    images = []
    for name, caption in IMAGES.items():
        try:
            if store.exists(b.key(name)):
                data = base64.b64encode(store.get(b.key(name))).decode("ascii")
                images.append({"name": b.path(name), "caption": caption, "src": f"data:image/png;base64,{data}"})
        except StoreError as exc:
            notes.append(f"{name}: unreadable ({exc})")
    return {
        "release_id": release_id, "service": service, "attempt": attempt,
        "decision": decision,
        "manifest": _find(store, base.key("manifest.json"), notes),
        "index": _find(store, base.key(INDEX_NAME), notes),
        "gonogo": step("gonogo.json"),
        "readiness": step("readiness/readiness.json"),
        "eval": step("eval/eval_report.json"),
        "load": step("load/loadtest_report.json"),
        "drill": step("drill/drill_record.json"),
        "approvals": step("approvals/approvals.json"),
        "canary": step("canary/canary_summary.json"),
        "ticks": _jsonl(store, b.key("canary/timeseries.jsonl")),
        "images": images,
        "location": (decision or {}).get("evidence") or store.location(base.key("decision.json")).rsplit("/", 1)[0],
        "notes": notes,
    }
