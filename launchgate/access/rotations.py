"""When each gateway secret last changed (``layout.secret_rotations``): secret names, never values.

The gateway compares what it reads on SIGHUP with what it held (in memory only) and records each
name that changed, appeared or went away; ``launchgate status`` shows the record beside each API
key's age. Several gateway replicas record the same rotation within moments of each other: the
record keeps the latest time per name and a short history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from launchgate.errors import MalformedObjectError
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSON_TYPE, to_json_bytes
from launchgate.store.jsonio import parse_json

HISTORY_KEEP = 50
Kind = Literal["admin_token", "upstream_key"]
Change = Literal["first_seen", "rotated", "appeared", "cleared"]


class SecretState(BaseModel):
    kind: Kind
    first_seen_at: datetime
    last_rotated_at: datetime | None = None
    present: bool = True


class RotationEvent(BaseModel):
    name: str
    kind: Kind
    change: Change
    at: datetime
    by: str = Field(description="which gateway process saw it")


class SecretRotations(BaseModel):
    secrets: dict[str, SecretState] = Field(default_factory=dict)
    history: list[RotationEvent] = Field(default_factory=list)


def _parse(data: bytes | None, key: str) -> SecretRotations:
    if data is None:
        return SecretRotations()
    try:
        return SecretRotations.model_validate(parse_json(data, key))
    except ValidationError as exc:
        raise MalformedObjectError(f"{key} is not a valid rotation record ({str(exc).splitlines()[0][:200]})") from exc


def read_rotations(store: ArtifactStore, service: str) -> SecretRotations:
    key = layout.secret_rotations(service)
    return _parse(store.get(key) if store.exists(key) else None, key)


def record_changes(store: ArtifactStore, service: str, events: list[RotationEvent]) -> None:
    """Fold ``events`` into the stored record (conditional write: replicas never lose each other's)."""
    if not events:
        return
    key = layout.secret_rotations(service)

    def change(current: bytes | None) -> bytes:
        rec = _parse(current, key)
        secrets = dict(rec.secrets)
        for e in events:
            old = secrets.get(e.name)
            if e.change == "first_seen":
                if old is None:
                    secrets[e.name] = SecretState(kind=e.kind, first_seen_at=e.at)
                continue
            base = old or SecretState(kind=e.kind, first_seen_at=e.at)
            last = base.last_rotated_at
            secrets[e.name] = base.model_copy(update={
                "last_rotated_at": e.at if last is None or e.at > last else last, "present": e.change != "cleared"})
        history = [*rec.history, *(e for e in events if e.change != "first_seen")][-HISTORY_KEEP:]
        return to_json_bytes(SecretRotations(secrets=secrets, history=history))

    store.update(key, change, JSON_TYPE)


def rotation_summary(store: ArtifactStore, service: str, now: datetime | None = None) -> dict[str, object]:
    """For ``launchgate status``: each API key's age and each gateway secret's last rotation; no secret."""
    from launchgate.access.registry import read_registry

    now = now or datetime.now(UTC)
    keys = read_registry(store, service).keys
    rot = read_rotations(store, service)
    return {
        "api_keys": [{"id": k.id, "tenant": k.tenant, "state": k.state(now), "created_at": k.created_at,
                      "last_rotated_at": k.created_at if k.rotates else None, "replaced_by": k.replaced_by,
                      "expires_at": k.expires_at, "age_days": round((now - k.created_at).total_seconds() / 86400, 1)}
                     for k in keys],
        "secrets": {name: s.model_dump(mode="json") for name, s in rot.secrets.items()},
    }
