"""Gateway replicas that agree: shared routing state, stats summed over replicas, one budget.

On with ``gateway.replicas.shared_state: true``; each replica of a service runs one ``SharedState``.

Desired state. The routing-state document (routingdoc.py, ``<service>/state/routing.json``) is the
truth. An admin call on any replica writes it through (``ArtifactStore.update``: S3 If-Match, a file
lock locally) and then applies it to that replica; every replica reads the document every
``poll_s`` (0.25 s) off the request path and applies a newer version, so all of them route alike
within ``poll_s`` + one read (< 1 s).

Fail-safe. Each replica returns to stable on its own when
- the lease in the document it last read has expired (checked every ``lease_check_s``), and the
  first replica to notice writes the expiry through, so the document says so too;
- it could not read the document for longer than the lease's ttl (``stale_s`` when no lease is
  held): losing the store never leaves a replica on the candidate. When the store answers again,
  the replica applies the document as it then stands.

Stats. Every ``publish_s`` each replica writes ``<service>/state/replicas/<name>.json``: a heartbeat
(last seen, the document version it routes by, its weights) and, for each window a canary judge
asked for (``<service>/state/stats_windows.json``), its totals over that window (window.py
``Tally``). GET /admin/stats on any replica sums them (``merge_windows``); a replica that served in
the window but stopped publishing is named in the answer, and the router holds the canary's look.

Budget. Each replica adds its spend to the shared day ledger every ``budget_sync_s`` and reads the
service's total back (budget.py), so the stop applies to the total on every replica.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from launchgate.config.replicas import Replicas
from launchgate.errors import StoreError
from launchgate.gateway import routingdoc
from launchgate.gateway.routing import Weights
from launchgate.gateway.routingdoc import Operation, RoutingDoc
from launchgate.gateway.state import GatewayState
from launchgate.gateway.window import StatsWindow, Tally, WindowTally
from launchgate.store import layout
from launchgate.store.base import ArtifactStore, StoreUnavailable
from launchgate.store.jsonio import find_object, get_object, parse_json

log = logging.getLogger("launchgate.gateway.replicas")

WINDOW_KEEP_S = 900.0  # a window nobody asked about for this long is no longer published
MAX_WINDOWS = 8
GONE_S = 3600.0  # `launchgate status` lists replicas seen within this long; older heartbeats are only counted
ANSWER_WAIT_S = 1.0  # beyond two publish intervals, how long a first look waits for every replica's answer


def window_key(since: float) -> str:
    return f"{since:.3f}"


class SharedState:
    """One replica's side of the shared state; see the module docstring."""

    def __init__(self, store: ArtifactStore, service: str, cfg: Replicas, replica: str, state: GatewayState,
                 *, guard: Any = None, lease_check_s: float = 0.5) -> None:
        self.store = store
        self.direct = getattr(store, "inner", store)  # heartbeats are never spooled: a stale one must look stale
        self.service = service
        self.cfg = cfg
        self.replica = replica
        self.state = state
        self.guard = guard
        self.lease_check_s = lease_check_s
        self.key = layout.routing_state(service)
        self.seed = routingdoc.initial(service, state, replica, time.time())
        self.doc: RoutingDoc | None = None
        self.applied: int | None = None
        self.last_read: float | None = None  # monotonic time of the last successful read or write
        self.read_at: float | None = None  # the same, as unix time (shown in the heartbeat)
        self.applied_at: float | None = None  # unix time this replica applied ``applied``: its reconcile lag
        self.errors = 0
        self.last_error: str | None = None
        self.started_at = time.time()
        self.tallies: dict[str, WindowTally] = {}
        self.asked: dict[str, float] = {}  # windows asked for: key -> since
        self._last_bytes: tuple[bytes, RoutingDoc] | None = None

    # ------------------------------------------------------------------ desired state (blocking parts)

    def read(self) -> RoutingDoc | None:
        try:
            data = self.store.get(self.key)
            if self._last_bytes is not None and data == self._last_bytes[0]:  # unchanged: no parse
                return self._last_bytes[1]
            doc = routingdoc.parse(data, self.store.location(self.key))
            self._last_bytes = (data, doc)
            return doc
        except StoreUnavailable:
            raise
        except StoreError:
            if self.store.exists(self.key):
                raise
            return None

    def write(self, op: Operation) -> RoutingDoc:
        """Apply ``op`` to the stored document as it is now (conditional write); returns the result."""
        made: dict[bytes, RoutingDoc] = {}

        def change(current: bytes | None) -> bytes:
            doc = routingdoc.parse(current, self.store.location(self.key)) if current is not None else self.seed
            new = routingdoc.edit(doc, op, self.replica)
            if new is doc and current is not None:
                return current
            data = new.encode()
            made[data] = new
            return data

        data = self.store.update(self.key, change)
        return made.get(data) or routingdoc.parse(data, self.store.location(self.key))

    # --------------------------------------------------------------------- on the gateway's loop

    async def write_through(self, op: Operation) -> RoutingDoc:
        """An admin change: the shared document first, then this replica. Raises StoreError when the
        store cannot take it (the caller answers 503 and nothing changed anywhere)."""
        doc = await asyncio.to_thread(self.write, op)
        self._fresh()
        self.apply(doc)
        return doc

    def apply(self, doc: RoutingDoc) -> None:
        recreated = doc.version == 1 and self.applied is not None and self.applied > 1  # someone removed it
        if self.applied is not None and doc.version <= self.applied and not recreated:
            return  # an older read finishing after a newer write: never step back
        routingdoc.apply(self.state, doc)
        if self.guard is not None and doc.degradation is not None \
                and self.guard.level.label != doc.degradation.level:
            from launchgate.guardrails.degradation import Level

            self.guard.set_level(Level.parse(doc.degradation.level), doc.degradation.by, doc.degradation.reason,
                                 source="admin")
        self.applied, self.doc, self.applied_at = doc.version, doc, time.time()
        self.state.check_lease()

    def _fresh(self) -> None:
        self.last_read, self.read_at = time.monotonic(), time.time()

    async def sync(self) -> None:
        """Read the document once and apply it (creating it from this replica's config when absent)."""
        try:
            doc = await asyncio.to_thread(self.read)
            if doc is None:
                doc = await asyncio.to_thread(self.write, lambda s, d: None)
        except StoreError as exc:
            self.errors += 1
            if self.last_error is None:
                log.warning("shared state: cannot read %s: %s", self.key, exc)
            self.last_error = str(exc)[:300]
            return
        if self.last_error is not None:
            log.info("shared state: %s readable again (version %d)", self.key, doc.version)
        self.last_error = None
        self._fresh()
        self.apply(doc)
        if doc.lease_expired(time.time()):  # write the expiry through; the first replica to see it wins
            try:
                self.apply(await asyncio.to_thread(self.write, _expire))
            except StoreError as exc:
                log.warning("shared state: cannot record the lease expiry: %s", exc)

    async def run(self) -> None:
        while True:
            await self.sync()
            await asyncio.sleep(self.cfg.poll_s)

    def check(self) -> bool:
        """The fail-safe, every ``lease_check_s``: stable when the state went unreadable for a ttl."""
        self.state.check_lease()
        lease = self.doc.lease if self.doc is not None else None
        ttl = lease.ttl_s if lease is not None else self.cfg.stale_s
        silent = None if self.last_read is None else time.monotonic() - self.last_read
        if silent is not None and silent <= ttl:
            return False
        self.applied = None  # when the store is back, apply the document as it then stands
        if self.state.weights.candidate <= 0 and self.state.lease is None:
            return False
        before = self.state.weights.candidate
        self.state.weights, self.state.lease = Weights(0.0), None
        for_ = "ever" if silent is None else f"{silent:.1f}s"
        self.state.record("state_unreachable",
                          f"the shared routing state was unreadable for {for_}"
                          f" (over the {'lease ttl' if lease else 'stale_s'} of {ttl:g}s): candidate "
                          f"{before:g}% -> 0%, stable serves all traffic until the store answers "
                          f"({self.last_error or 'no read yet'})")
        return True

    async def watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.lease_check_s)
            self.check()

    # -------------------------------------------------------------------------------- stats

    def ask(self, since: float) -> None:
        """Register a window with every replica (blocking; the judge's first look)."""
        key, now = window_key(since), time.time()

        def change(current: bytes | None) -> bytes:
            raw = parse_json(current, self.store.location(layout.stats_windows(self.service))) if current else {}
            windows = {k: v for k, v in (raw.get("windows") or {}).items()
                       if now - v.get("asked_at", 0) < WINDOW_KEEP_S}
            windows[key] = {"since": since, "asked_at": now}
            keep = sorted(windows.items(), key=lambda kv: kv[1]["asked_at"])[-MAX_WINDOWS:]
            return json.dumps({"windows": dict(keep)}, indent=1).encode()

        self.store.update(layout.stats_windows(self.service), change)
        self.asked[key] = since

    def asked_windows(self) -> dict[str, float]:
        raw = find_object(self.store, layout.stats_windows(self.service)) or {}
        now = time.time()
        return {k: float(v["since"]) for k, v in (raw.get("windows") or {}).items()
                if now - float(v.get("asked_at", 0)) < WINDOW_KEEP_S}

    def heartbeat(self, windows: dict[str, WindowTally], *, stopped: bool = False) -> dict[str, Any]:
        now = time.time()
        return {
            "replica": self.replica, "service": self.service, "host": socket.gethostname(), "pid": os.getpid(),
            "started_at": self.started_at, "seen_at": now, "stopped": stopped, "publish_s": self.cfg.publish_s,
            "version": self.applied, "read_at": self.read_at, "weights": self.state.weights.as_dict(),
            "lease": self.state.lease.as_dict() if self.state.lease else None, "store_error": self.last_error,
            "windows": {k: {"since": t.since, "answered_at": now, "complete": t.complete, "variants": t.as_json()}
                        for k, t in windows.items()},
        }

    def put_heartbeat(self, body: dict[str, Any]) -> None:
        self.direct.put(layout.replica(self.service, self.replica), json.dumps(body).encode(), "application/json")

    async def publish_once(self, window: StatsWindow, drain: Callable[[], object], *, stopped: bool = False) -> None:
        try:
            asked = await asyncio.to_thread(self.asked_windows)
            self.asked = {k: v for k, v in self.asked.items() if k in asked}  # forget windows nobody asks about
        except StoreError as exc:
            asked = dict(self.asked)
            log.debug("shared state: cannot read the asked windows: %s", exc)
        drain()
        for key, since in asked.items():
            self.tallies.setdefault(key, WindowTally(since))
        self.tallies = {k: t for k, t in self.tallies.items() if k in asked or k in self.asked}
        for tally in self.tallies.values():
            tally.advance(window)
        body = self.heartbeat(self.tallies, stopped=stopped)
        try:
            await asyncio.to_thread(self.put_heartbeat, body)
        except StoreError as exc:
            log.debug("shared state: cannot publish the heartbeat: %s", exc)

    async def publisher(self, window: StatsWindow, drain: Callable[[], object]) -> None:
        while True:
            await self.publish_once(window, drain)
            await asyncio.sleep(self.cfg.publish_s)

    def replica_docs(self) -> list[dict[str, Any]]:
        docs = []
        for key in self.store.list(layout.replicas_prefix(self.service)):
            if key.endswith(".json"):
                try:
                    docs.append(get_object(self.store, key))
                except StoreError as exc:  # one unreadable heartbeat: report it, not fail the whole look
                    docs.append({"replica": key.rsplit("/", 1)[-1][:-5], "unreadable": str(exc)[:200]})
        return docs

    async def stats(self, since: float, variants: list[str], window: StatsWindow,
                    drain: Callable[[], object]) -> dict[str, Any]:
        """GET /admin/stats with shared state: every replica's totals over [since, now], summed."""
        key = window_key(since)
        first = key not in self.asked
        if first:
            await asyncio.to_thread(self.ask, since)
        drain()
        mine = self.tallies.setdefault(key, WindowTally(since))
        mine.advance(window)
        # A first look waits for the replicas' answers, but never long enough to starve the caller's
        # lease renewals (the canary renews from the same loop that looks).
        lease = self.doc.lease if self.doc is not None else None
        wait = min(2 * self.cfg.publish_s + ANSWER_WAIT_S, lease.ttl_s / 4 if lease else ANSWER_WAIT_S * 3)
        deadline = time.monotonic() + (wait if first else 0.0)
        while True:
            docs = await asyncio.to_thread(self.replica_docs)
            merged = merge_windows(docs, key, since, time.time(), self.cfg.missing_after, self.replica, mine)
            if not merged["pending"] or time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(0.2, self.cfg.publish_s / 2))
        merged["variants"] = {v: merged["tallies"].get(v, Tally()).summary() for v in variants}
        del merged["tallies"]
        return merged


def _expire(state: GatewayState, doc: RoutingDoc) -> None:
    state.check_lease()


def merge_windows(docs: list[dict[str, Any]], key: str, since: float, now: float, missing_after: int, me: str,
                  mine: WindowTally) -> dict[str, Any]:
    """Pure: sum the replicas' totals for window ``key``; name the replicas whose totals are missing.

    A replica counts when it answered for the window. It is *pending* when it is alive but has not
    answered yet, and *missing* when it stopped publishing after the window began (it may have
    served requests the sum lacks). Replicas last seen before the window began served none of it.
    """
    tallies: dict[str, Tally] = {}
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    pending: list[str] = []
    complete = mine.complete
    for name, t in mine.variants.items():
        tallies.setdefault(name, Tally()).merge(t)
    rows.append({"replica": me, "status": "counted", "seen_at": now, "answered_at": now,
                 "counts": {n: t.count for n, t in mine.variants.items()}})
    for doc in docs:
        name = str(doc.get("replica"))
        if name == me:
            continue
        if "unreadable" in doc:
            missing.append(name)
            rows.append({"replica": name, "status": "unreadable", "error": doc["unreadable"]})
            continue
        seen = float(doc.get("seen_at") or 0)
        limit = missing_after * float(doc.get("publish_s") or 1.0)
        row = {"replica": name, "seen_at": seen, "age_s": round(now - seen, 2), "version": doc.get("version")}
        answer = (doc.get("windows") or {}).get(key)
        stale = now - seen > limit and not doc.get("stopped")
        if seen < since - limit:
            row["status"] = "idle"  # gone before the window began
        elif answer is not None and not stale:
            row.update(status="counted", answered_at=answer.get("answered_at"),
                       counts={n: int(v.get("count", 0)) for n, v in answer["variants"].items()})
            complete = complete and bool(answer.get("complete", True))
            for n, raw in answer["variants"].items():
                tallies.setdefault(n, Tally()).merge(Tally.from_json(raw))
        elif stale or doc.get("stopped"):
            row["status"] = "missing"
            missing.append(name)
        else:
            row["status"] = "pending"
            pending.append(name)
        rows.append(row)
    return {"tallies": tallies, "replicas": rows, "missing": missing, "pending": pending,
            "window_complete": complete}


def replicas_status(store: ArtifactStore, service: str, now: float | None = None) -> dict[str, Any] | None:
    """For `launchgate status`: the document's version and every replica's heartbeat; None when unused."""
    doc_raw = find_object(store, layout.routing_state(service))
    keys = [k for k in store.list(layout.replicas_prefix(service)) if k.endswith(".json")]
    if doc_raw is None and not keys:
        return None
    now = time.time() if now is None else now
    out: dict[str, Any] = {"document": None, "replicas": []}
    if doc_raw is not None:
        doc = RoutingDoc.model_validate(doc_raw)
        out["document"] = routingdoc.summary(doc)
    for key in keys:
        try:
            hb = get_object(store, key)
        except StoreError as exc:
            out["replicas"].append({"key": key, "error": str(exc)[:200]})
            continue
        seen = float(hb.get("seen_at") or 0)
        limit = 3 * float(hb.get("publish_s") or 1.0)
        if now - seen > GONE_S:  # replaced pods and restarted processes: counted, not listed
            out["gone"] = out.get("gone", 0) + 1
            continue
        out["replicas"].append({
            "replica": hb.get("replica"), "version": hb.get("version"), "last_seen_s_ago": round(now - seen, 1),
            "seen_at": seen, "state": "stopped" if hb.get("stopped") else ("live" if now - seen <= limit
                                                                         else "not publishing"),
            "weights": hb.get("weights"), "store_error": hb.get("store_error"),
        })
    return out


async def start_replica(shared: SharedState, window: StatsWindow, drain: Callable[[], object],
                        budget: Any = None) -> list[asyncio.Task[None]]:
    """Sync once before serving (stable when the document is unreadable), then start the loops."""
    await shared.sync()
    shared.check()
    tasks = [asyncio.create_task(shared.run(), name="shared-state-reconcile"),
             asyncio.create_task(shared.watchdog(), name="shared-state-watchdog"),
             asyncio.create_task(shared.publisher(window, drain), name="replica-publisher")]
    if budget is not None:
        tasks.append(asyncio.create_task(_budget_sync(budget, shared.cfg.budget_sync_s), name="budget-sync"))
    return tasks


async def _budget_sync(budget: Any, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(budget.sync)
