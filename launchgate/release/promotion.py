"""Service state written by the canary and the CLI under ``<service>/state/`` (outside any bundle).

``last_known_good.json`` names the release that last finished a canary and serves all traffic; it
is overwritten on each promotion (the bundles keep the history). ``promotions/<release_id>.json`` is
written once per promoted release and never again: it is how a resumed release knows it was
already promoted (last_known_good.json may name a later release by then), and a second promotion
of the same id fails on it instead of happening. Manual rollbacks are appended as
one file each under ``state/rollbacks/``, so two operators rolling back at once never collide.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from launchgate.errors import StoreError
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSON_TYPE, to_json_bytes


def lkg_key(service: str) -> str:
    return f"{service}/state/last_known_good.json"


def promotion_key(service: str, release_id: str) -> str:
    return f"{service}/state/promotions/{release_id}.json"


def record_promotion(store: ArtifactStore, service: str, release_id: str, attempt: int,
                     candidate: dict[str, Any], *, promoted_at: datetime | None = None) -> dict[str, Any]:
    """Write-once proof that ``release_id`` was promoted; ArtifactExistsError if it already was."""
    record = {"release_id": release_id, "attempt": attempt,
              "promoted_at": (promoted_at or datetime.now(UTC)).isoformat(), "candidate": candidate}
    store.put(promotion_key(service, release_id), to_json_bytes(record), JSON_TYPE, overwrite=False)
    return record


def find_promotion(store: ArtifactStore, service: str, release_id: str) -> dict[str, Any] | None:
    """The promotion record of ``release_id``, if it was promoted (last_known_good.json as a fallback)."""
    record = read_json(store, promotion_key(service, release_id))
    if record is not None:
        return record
    lkg = read_json(store, lkg_key(service))
    return lkg if lkg is not None and lkg.get("release_id") == release_id else None


def read_json(store: ArtifactStore, key: str) -> dict[str, Any] | None:
    if not store.exists(key):
        return None
    try:
        data = json.loads(store.get(key))
    except ValueError as exc:
        raise StoreError(f"{store.location(key)} is not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else None


def write_last_known_good(store: ArtifactStore, service: str, release_id: str, candidate: dict[str, Any],
                          *, promoted_at: datetime | None = None, eval_report: str | None = None) -> dict[str, Any]:
    previous = read_json(store, lkg_key(service))
    record = {
        "release_id": release_id,
        "promoted_at": (promoted_at or datetime.now(UTC)).isoformat(),
        # A resumed release's eval report lives under attempts/<n>/: the caller passes its key.
        "eval_report": eval_report or f"{service}/releases/{release_id}/eval/eval_report.json",
        "candidate": candidate,
        "previous_release_id": (previous or {}).get("release_id"),
    }
    store.put(lkg_key(service), to_json_bytes(record), JSON_TYPE, overwrite=True)
    return record


def record_rollback(store: ArtifactStore, service: str, record: dict[str, Any]) -> str:
    """Write one manual-rollback record; returns its key."""
    now = datetime.now(UTC)
    key = f"{service}/state/rollbacks/{now:%Y%m%dT%H%M%S%fZ}.json"
    store.put(key, to_json_bytes({"at": now.isoformat(), **record}), JSON_TYPE, overwrite=False)
    return key
