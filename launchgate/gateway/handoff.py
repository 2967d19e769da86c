"""The gateway's side of the handoff queue: buffer items, store them in batches, tell the owners.

Items are made by the recorder (off the request path) with the prompt already redacted, and
written by the gateway's flusher every ``handoff.flush_s`` from a worker thread: one new object
per flush (``<service>/handoff/<day>/<hhmmss>-<writer>-<n>.jsonl``), so no writer ever rewrites
another's items. Each flush that stored new items posts one notice to the owners' handoff route
(``handoff.notify_role``) with the count and the first reasons. Nothing is dropped silently: a
failed store write keeps the items for the next flush.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from launchgate.errors import LaunchgateError
from launchgate.gateway import jsoncodec
from launchgate.guardrails.handoff import HandoffItem
from launchgate.notify.base import Notice
from launchgate.store import ArtifactStore, layout

log = logging.getLogger("launchgate.gateway.handoff")

MAX_BUFFERED = 100_000


class HandoffQueue:
    def __init__(self, store: ArtifactStore, service: str, writer: str, *, role: str = "operations",
                 dispatcher: Any | None = None) -> None:
        self.store = store
        self.service = service
        self.writer = writer
        self.role = role
        self.dispatcher = dispatcher
        self._pending: list[HandoffItem] = []
        self._lock = threading.Lock()
        self._seq = 0
        self.stored = 0
        self.failures = 0

    def add(self, item: HandoffItem) -> None:
        with self._lock:
            self._pending.append(item)
            if len(self._pending) > MAX_BUFFERED:
                del self._pending[0]

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Store every buffered item; returns how many. Never raises."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        now = datetime.now(UTC)
        self._seq += 1
        key = layout.handoff_batch(self.service, now.date(), f"{now:%H%M%S}-{self.writer}-{self._seq}")
        body = b"".join(jsoncodec.dumps(item.model_dump(mode="json")) + b"\n" for item in batch)
        try:
            self.store.put(key, body, content_type="application/x-ndjson")
        except (LaunchgateError, OSError) as exc:
            self.failures += 1
            log.warning("handoff queue: %d items kept for the next flush: %s", len(batch), exc)
            with self._lock:
                self._pending[:0] = batch
            return 0
        self.stored += len(batch)
        self._notify(batch, key)
        return len(batch)

    def _notify(self, batch: list[HandoffItem], key: str) -> None:
        if self.dispatcher is None:
            return
        reasons: dict[str, int] = {}
        for item in batch:
            reasons[item.reason] = reasons.get(item.reason, 0) + 1
        shown = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:5])
        notice = Notice(event="handoff", role=self.role, service=self.service, status="alarm",
                        title=f"{len(batch)} request(s) need a person ({self.service})",
                        text=f"{shown}. Work the queue with `launchgate handoff list` and "
                             f"`launchgate handoff ack ID --as NAME`.",
                        link=self.store.location(key), fields={"first": batch[0].id})
        try:
            self.dispatcher.send(notice)
        except Exception:  # noqa: BLE001 - a notifier failure must not lose the stored items
            log.exception("handoff notice failed")
