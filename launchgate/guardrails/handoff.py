"""The handoff queue in the store: requests a person should look at, and who took each.

The gateway appends items (``<service>/handoff/<yyyy-mm-dd>/<batch>.jsonl``, already redacted);
``launchgate handoff list`` reads the last days' items and drops the acknowledged ones;
``launchgate handoff ack ID --as NAME`` writes ``handoff/acks/<id>.json`` once (a second ack of
the same item by someone else is refused, naming who took it).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, Field

from launchgate.errors import InputError
from launchgate.store import ArtifactStore, layout
from launchgate.store.jsonio import find_json


class HandoffItem(BaseModel):
    id: str
    ts: str
    service: str
    request_id: str
    reason: str = Field(description="fallback:<reason> or flagged:<control>")
    variant: str | None = None
    tenant: str | None = None
    release_id: str | None = None
    prompt_redacted: str = ""


class HandoffAck(BaseModel):
    id: str
    by: str = Field(min_length=1, max_length=200)
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    note: str = ""


def read_items(store: ArtifactStore, service: str, days: int = 7, today: date | None = None) -> list[HandoffItem]:
    """Every item of the last ``days`` UTC days, oldest first."""
    today = today or datetime.now(UTC).date()
    items: list[HandoffItem] = []
    for back in range(days - 1, -1, -1):
        prefix = layout.handoff_day(service, today - timedelta(days=back))
        for key in sorted(store.list(prefix)):
            if not key.endswith(".jsonl"):
                continue
            for line in store.get(key).decode("utf-8", errors="replace").splitlines():
                if line.strip():
                    try:
                        items.append(HandoffItem.model_validate(json.loads(line)))
                    except ValueError:
                        continue  # a torn line from a crashed writer: the rest of the batch still counts
    return items


def find_ack(store: ArtifactStore, service: str, item_id: str) -> HandoffAck | None:
    raw = find_json(store, layout.handoff_ack(service, item_id))
    return None if raw is None else HandoffAck.model_validate(raw)


def open_items(store: ArtifactStore, service: str, days: int = 7) -> list[tuple[HandoffItem, HandoffAck | None]]:
    items = read_items(store, service, days)
    acked = {key.rsplit("/", 1)[-1].removesuffix(".json")
             for key in store.list(layout.handoff_acks(service))}
    return [(item, find_ack(store, service, item.id) if item.id in acked else None) for item in items]


def ack(store: ArtifactStore, service: str, item_id: str, by: str, note: str = "",
        days: int = 30) -> HandoffAck:
    """Take ``item_id``; InputError when no such item exists or someone else already took it."""
    if not any(item.id == item_id for item in read_items(store, service, days)):
        raise InputError(f"no handoff item {item_id!r} in the last {days} days: see `launchgate handoff list`")
    record = HandoffAck(id=item_id, by=by, note=note)
    taken: list[HandoffAck] = []

    def change(current: bytes | None) -> bytes:
        if current is not None:
            taken.append(HandoffAck.model_validate_json(current))
            return current
        return record.model_dump_json().encode()

    store.update(layout.handoff_ack(service, item_id), change)
    if taken and taken[0].by != by:
        raise InputError(f"handoff item {item_id} was already taken by {taken[0].by} at {taken[0].at:%Y-%m-%d %H:%M}Z")
    return taken[0] if taken else record
