"""What the scheduled reviews share: opening a service's config/store/notifier, and writing a review folder.

Reviews live outside release bundles (``<service>/reviews/drift/<yyyy-Www>/``,
``<service>/reviews/cost/<yyyy-mm>/``) and a rerun of the same period replaces its files: the
review is about the period, not about one run (a versioned bucket keeps the earlier copies).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from launchgate.config import ReleaseConfig, load_config
from launchgate.notify import Dispatcher, make_notifier
from launchgate.settings import Settings
from launchgate.store import layout, open_store
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSON_TYPE, JSONL_TYPE, to_json_bytes

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


@dataclass
class ReviewContext:
    config: ReleaseConfig
    config_path: Path
    store: ArtifactStore
    dispatcher: Dispatcher

    @property
    def service(self) -> str:
        return self.config.service


def open_review(config_path: str | Path, artifacts: str | None = None,
                settings: Settings | None = None) -> ReviewContext:
    """Load release.yaml without checking its files (a review needs no prompt or golden set)."""
    settings = settings or Settings()
    config = load_config(config_path, check_files=False)
    store = open_store(artifacts or settings.artifacts_uri or config.artifacts.uri, settings)
    notifier = make_notifier(settings.notifier or config.notifications.notifier, settings)
    dispatcher = Dispatcher(notifier, config.owners, config.notifications.mute)
    return ReviewContext(config=config, config_path=Path(config_path), store=store, dispatcher=dispatcher)


def drift_prefix(service: str, week: str) -> str:
    return layout.drift_review(service, week)


def cost_prefix(service: str, month: str) -> str:
    return layout.cost_review(service, month)


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
