"""Sign the example service's readiness attestations in a test's store, as the people release.yaml lists.

Release tests about something else than readiness use this, so the readiness step (enforce: block)
has the same evidence a team would have signed. Every required item is signed; an attestation only
counts where the item's automated check cannot decide (missing), so a failed check still blocks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from launchgate.config import load_config
from launchgate.readiness.attestations import attest_many, people, runbook_sha256
from launchgate.readiness.catalogue import service_items
from launchgate.store import open_store
from tests.conftest import EXAMPLE

CONFIG = EXAMPLE / "release.yaml"


def sign_example(store_uri: str | Path, *, config: Path = CONFIG, now: datetime | None = None) -> int:
    """Attest every required readiness item in the store at ``store_uri``; returns how many were signed."""
    cfg = load_config(config, check_files=False)
    store = open_store(str(store_uri))
    who = people(cfg)
    marked = {m.item for m in cfg.readiness.not_applicable}
    now = now or datetime.now(UTC)
    todo = [i for i in service_items(cfg.readiness) if i.required and i.id not in marked]
    subjects = {i.id: runbook_sha256(cfg, config) for i in todo if i.check == "runbook"}
    signed = 0
    for role in dict.fromkeys(i.owner for i in todo):
        done, _ = attest_many(store, cfg, [i for i in todo if i.owner == role], who[role][0], now=now,
                              note="test fixture", subjects=subjects)
        signed += len(done)
    return signed
