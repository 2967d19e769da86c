"""Deleting inside an evidence bundle without breaking its sha256 index.

A bundle is write-once and ``index.json`` lists every artifact's sha256 as it was approved. When
retention expires a part of a bundle (shadow pairs) or a subject's rows are erased from one of its
JSONL artifacts, ``index.json`` is left exactly as written and an erasure record is added beside it,
``erasures/<stamp>-<why>.json``: for each touched artifact its name, the sha256 the index holds, the
sha256 now stored (null when deleted) and the rows removed, plus the receipt that authorised it.
No content, no subject id.

``verify_index`` is how a reader checks a bundle: an artifact is intact when its bytes match the
index, or when a chain of erasure records leads from the indexed sha256 to the stored one (or to
its deletion). Anything else is tampering and is reported as such.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from launchgate.store.base import ArtifactStore, sha256_bytes
from launchgate.store.bundle import INDEX_NAME, JSON_TYPE, to_json_bytes
from launchgate.store.jsonio import find_object

ERASURES = "erasures/"


class ErasedArtifact(BaseModel):
    name: str
    sha256_before: str
    sha256_after: str | None = Field(description="null: the artifact was deleted")
    rows_removed: int | None = None


class ErasureRecord(BaseModel):
    at: datetime
    why: str = Field(description="retention or subject_deletion")
    authorised_by: str
    receipt: str | None = None
    object_lock: str | None = Field(default=None, description="what object lock kept, if anything")
    artifacts: list[ErasedArtifact]


def write_erasure(store: ArtifactStore, bundle_base: str, record: ErasureRecord) -> str:
    key = f"{bundle_base}{ERASURES}{record.at:%Y%m%dT%H%M%S%fZ}-{record.why}.json"
    store.put(key, to_json_bytes(record), JSON_TYPE, overwrite=False)
    return key


def erasure_records(store: ArtifactStore, bundle_base: str) -> list[ErasureRecord]:
    out = []
    for key in store.list(bundle_base + ERASURES):
        obj = find_object(store, key)
        if obj is not None:
            out.append(ErasureRecord.model_validate(obj))
    return sorted(out, key=lambda r: r.at)


def verify_index(store: ArtifactStore, bundle_base: str) -> dict[str, Any]:
    """``{"ok": bool, "intact": n, "erased": n, "tampered": [names], "missing": [names]}`` for one bundle."""
    index = find_object(store, bundle_base + INDEX_NAME)
    if index is None:
        return {"ok": False, "intact": 0, "erased": 0, "tampered": [], "missing": [INDEX_NAME]}
    chain: dict[tuple[str, str], str | None] = {}
    for record in erasure_records(store, bundle_base):
        for art in record.artifacts:
            chain[(art.name, art.sha256_before)] = art.sha256_after
    present = set(store.list(bundle_base))
    intact = erased = 0
    tampered: list[str] = []
    missing: list[str] = []
    for entry in index.get("artifacts", []):
        name, want, key = entry["name"], entry["sha256"], entry["key"]
        have = sha256_bytes(store.get(key)) if key in present else None
        if have == want:
            intact += 1
            continue
        seen: set[str | None] = {want}
        while want is not None and (name, want) in chain and chain[(name, want)] not in seen:
            want = chain[(name, want)]
            seen.add(want)
        if want == have:
            erased += 1
        elif have is None:
            missing.append(name)
        else:
            tampered.append(name)
    return {"ok": not tampered and not missing, "intact": intact, "erased": erased, "tampered": tampered,
            "missing": missing}
