"""What the scheduled reviews share: where a review lives, and writing a review folder.

Reviews live outside release bundles (``<service>/reviews/drift/<yyyy-Www>/``,
``<service>/reviews/cost/<yyyy-mm>/``) and a rerun of the same period replaces its files: the
review is about the period, not about one run (a versioned bucket keeps the earlier copies).
"""

from __future__ import annotations

from launchgate.notify import Dispatcher
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSON_TYPE, JSONL_TYPE, to_json_bytes

REPORT_JSON = "report.json"
REPORT_MD = "report.md"




def write_review(store: ArtifactStore, prefix: str, report: object, markdown: str,
                 charts: dict[str, bytes]) -> dict[str, str]:
    """Write report.json, report.md and the PNGs under ``prefix``; returns name -> store key."""
    keys = {REPORT_JSON: prefix + REPORT_JSON, REPORT_MD: prefix + REPORT_MD}
    store.put(keys[REPORT_JSON], to_json_bytes(report), JSON_TYPE, overwrite=True)
    store.put(keys[REPORT_MD], markdown.encode("utf-8"), "text/markdown", overwrite=True)
    for name, data in charts.items():
        keys[name] = prefix + name
        store.put(keys[name], data, "image/png", overwrite=True)
    return keys


def write_notifications(store: ArtifactStore, prefix: str, dispatcher: Dispatcher) -> str:
    key = prefix + "notifications.jsonl"
    store.put(key, dispatcher.jsonl().encode("utf-8"), JSONL_TYPE, overwrite=True)
    return key
