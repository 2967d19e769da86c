"""Service state written by the canary and the CLI under ``<service>/state/`` (outside any bundle).

``last_known_good.json`` names the release that last finished a canary and serves all traffic; it
is replaced on each promotion (the bundles keep the history) by a conditional update, so the
``previous_release_id`` it records is the release it really replaced, even when two promotions
write at once. ``promotions/<release_id>.json`` is written once per promoted release and never
again (an atomic create): it is how a resumed release knows it was already promoted
(last_known_good.json may name a later release by then), and a second promotion of the same id
fails on it instead of happening. Manual rollbacks are appended as one file each under
``state/rollbacks/``, so two operators rolling back at once never collide.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from launchgate.store import layout
from launchgate.store.base import ArtifactStore, StoreUnavailable
from launchgate.store.bundle import JSON_TYPE, to_json_bytes
from launchgate.store.jsonio import find_object, parse_json

log = logging.getLogger(__name__)




def record_promotion(store: ArtifactStore, service: str, release_id: str, attempt: int,
                     candidate: dict[str, Any], *, promoted_at: datetime | None = None) -> dict[str, Any]:
    """Write-once proof that ``release_id`` was promoted; ArtifactExistsError if it already was."""
    record = {"release_id": release_id, "attempt": attempt,
              "promoted_at": (promoted_at or datetime.now(UTC)).isoformat(), "candidate": candidate}
    store.put(layout.promotion(service, release_id), to_json_bytes(record), JSON_TYPE, overwrite=False)
    return record


def find_promotion(store: ArtifactStore, service: str, release_id: str) -> dict[str, Any] | None:
    """The promotion record of ``release_id``, if it was promoted (last_known_good.json as a fallback)."""
    record = find_object(store, layout.promotion(service, release_id))
    if record is not None:
        return record
    lkg = find_object(store, layout.last_known_good(service))
    return lkg if lkg is not None and lkg.get("release_id") == release_id else None


def _parse(store: ArtifactStore, key: str, data: bytes) -> dict[str, Any] | None:
    parsed = parse_json(data, store.location(key))
    return parsed if isinstance(parsed, dict) else None


def write_last_known_good(store: ArtifactStore, service: str, release_id: str, candidate: dict[str, Any],
                          *, promoted_at: datetime | None = None, eval_report: str | None = None) -> dict[str, Any]:
    """Point last_known_good.json at ``release_id``, recording the release it replaces.

    While S3 is down (StoreUnavailable) the traffic has still moved, and the release must go on to
    its evidence and notices: the pointer is then written with ``put``, which a spooling store
    keeps until S3 is back. That write is unconditional and its ``previous_release_id`` is
    unknown (null), the one case where a concurrent promotion could be overwritten; it is logged.
    """
    key = layout.last_known_good(service)
    record: dict[str, Any] = {
        "release_id": release_id,
        "promoted_at": (promoted_at or datetime.now(UTC)).isoformat(),
        # A resumed release's eval report lives under attempts/<n>/: the caller passes its key.
        "eval_report": eval_report or layout.release_key(service, release_id, "eval/eval_report.json"),
        "candidate": candidate,
        "previous_release_id": None,
    }

    def replace(current: bytes | None) -> bytes:
        previous = _parse(store, key, current) if current is not None else None
        return to_json_bytes(record | {"previous_release_id": (previous or {}).get("release_id")})

    try:
        written = store.update(key, replace, JSON_TYPE)
    except StoreUnavailable as exc:
        stored = store.put(key, to_json_bytes(record), JSON_TYPE, overwrite=True)
        log.warning("%s now names %s, written unconditionally (%s; previous release unknown) because the "
                    "store could not take a conditional update: %s", key, release_id, stored.state, exc)
        return record
    return _parse(store, key, written) or record


def record_rollback(store: ArtifactStore, service: str, record: dict[str, Any]) -> str:
    """Write one manual-rollback record; returns its key."""
    now = datetime.now(UTC)
    key = layout.rollback(service, now)
    store.put(key, to_json_bytes({"at": now.isoformat(), **record}), JSON_TYPE, overwrite=False)
    return key
