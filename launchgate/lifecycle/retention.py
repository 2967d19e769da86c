"""Retention: delete what is past its period under ``data.retention``, and say what was deleted.

Each stored key is dated by its place in the layout, not by reading its content (replicas aside):

- request logs   ``logs/requests/<yyyy-mm-dd>/<hh>-...`` and ``logs/parquet/date=<d>/hour=<h>/...``:
                 the end of that hour (a file without an hour: the end of its day);
- queues         ``handoff/<yyyy-mm-dd>/...``, ``quality/.../<yyyy-mm-dd>/...``: the end of that day;
- evidence       ``releases/<id>/...`` and ``checks/<id>/...``: the time in the id; a whole bundle
                 goes at once, a promoted release's not before ``audit_days`` (whatever else expires);
- shadow pairs   ``releases/<id>/shadow/...``: the time in the id, kept with a promoted release's
                 bundle for the audit period; an erasure record keeps the bundle's index verifiable;
- spool          S3 writes waiting in the local spool, by the time they were spooled;
- replicas       ``state/replicas/<name>.json``, a gateway replica's heartbeat and window counters: the
                 one kind dated by its content, the ``seen_at`` the replica writes on every publish
                 (seconds apart while it runs), so a live replica's object is never old enough.

A key past ``ends + days`` is deleted unless object lock holds it (S3 retain-until or legal hold):
then it stays and the record says until when. Keys the layout cannot date are never deleted,
only counted. The deletion record (``state/retention/<stamp>.json``) holds counts and the first
and last key per kind, no content. On S3 the bucket's lifecycle rules are compared with the
policy (lifecycle/s3rules.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from launchgate.config import ReleaseConfig
from launchgate.config.datapolicy import Retention
from launchgate.errors import StoreError
from launchgate.lifecycle.backend import Backend, open_backend, spool_of
from launchgate.lifecycle.erasure import ErasedArtifact, ErasureRecord, write_erasure
from launchgate.lifecycle.s3rules import lifecycle_verdicts
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSON_TYPE, to_json_bytes
from launchgate.store.jsonio import find_object
from launchgate.verdicts import Phase, StepResult, Verdict

Kind = Literal["request_logs", "queues", "evidence", "shadow_pairs", "replicas", "spool"]
KINDS: tuple[Kind, ...] = ("request_logs", "queues", "evidence", "shadow_pairs", "replicas", "spool")
_DAY = re.compile(r"(?:^|/)(?:date=)?(\d{4}-\d{2}-\d{2})(?:/(?:hour=)?(\d{2})(?:-|/))?")
_STAMP = re.compile(r"(\d{8}T\d{6}Z)")
_SHADOW = re.compile(r"^(?:attempts/\d+/)?shadow/")
BY = "launchgate:retention"


@dataclass(frozen=True)
class Item:
    key: str
    kind: Kind
    ends: datetime  # the newest data the key can hold
    bundle: str | None = None  # the bundle base, for evidence and shadow pairs
    promoted: bool = False


@dataclass
class KindReport:
    deleted: int = 0
    first_key: str | None = None
    last_key: str | None = None
    kept_object_lock: int = 0
    kept_promoted: int = 0
    errors: int = 0

    def add(self, key: str) -> None:
        self.deleted += 1
        self.first_key = key if self.first_key is None or key < self.first_key else self.first_key
        self.last_key = key if self.last_key is None or key > self.last_key else self.last_key


@dataclass
class Plan:
    expired: list[Item] = field(default_factory=list)
    kept_promoted: dict[Kind, int] = field(default_factory=dict)
    undated: list[str] = field(default_factory=list)


def key_end(rest: str) -> datetime | None:
    """The end of the hour (or day) a key's path names, e.g. ``requests/2026-11-05/13-w.jsonl`` -> 14:00."""
    m = _DAY.search(rest)
    if not m:
        return None
    try:
        day = datetime.strptime(m.group(1), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    if m.group(2) is not None and int(m.group(2)) < 24:
        return day + timedelta(hours=int(m.group(2)) + 1)
    return day + timedelta(days=1)


def _bundle_time(bundle_id: str) -> datetime | None:
    m = _STAMP.search(bundle_id)
    return datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if m else None


def classify(service: str, keys: Iterable[str], promoted: set[str]) -> tuple[list[Item], list[str]]:
    """Date every key by its place in the layout (pure). Returns the dated items and the undatable keys."""
    items: list[Item] = []
    undated: list[str] = []
    logs, queues = layout.logs_prefix(service), (layout.handoff_prefix(service), layout.quality_prefix(service))
    bundles = (layout.releases_prefix(service), layout.checks_prefix(service))
    for key in keys:
        if key.startswith(logs) or key.startswith(queues):
            kind: Kind = "request_logs" if key.startswith(logs) else "queues"
            ends = key_end(key[len(logs):] if kind == "request_logs" else key)
            if ends is None:
                undated.append(key)
            else:
                items.append(Item(key, kind, ends))
            continue
        base = next((b for b in bundles if key.startswith(b)), None)
        if base is None:
            continue  # state/, reviews/: not data this policy expires
        bundle_id, _, rest = key[len(base):].partition("/")
        at = _bundle_time(bundle_id)
        if at is None or not rest:
            undated.append(key)
            continue
        kind = "shadow_pairs" if _SHADOW.match(rest) else "evidence"
        is_promoted = base == bundles[0] and bundle_id in promoted
        items.append(Item(key, kind, at, bundle=f"{base}{bundle_id}/", promoted=is_promoted))
    return items, undated


def replica_items(store: ArtifactStore, service: str, keys: Iterable[str]) -> tuple[list[Item], list[str]]:
    """Date each replica's heartbeat by the ``seen_at`` it holds (unix time); one without it is undated."""
    items: list[Item] = []
    undated: list[str] = []
    prefix = layout.replicas_prefix(service)
    for key in (k for k in keys if k.startswith(prefix)):
        try:
            seen = float((find_object(store, key) or {})["seen_at"])
            items.append(Item(key, "replicas", datetime.fromtimestamp(seen, UTC)))
        except (StoreError, KeyError, TypeError, ValueError, OverflowError, OSError):
            undated.append(key)
    return items, undated


def days_for(item: Item, retention: Retention) -> int:
    """How long ``item`` is kept: its kind's days, never less than the audit period for a promoted bundle."""
    days = {"request_logs": retention.request_logs_days, "queues": retention.queues_days,
            "evidence": retention.evidence_days, "shadow_pairs": retention.shadow_pairs_days,
            "spool": retention.spool_days, "replicas": retention.replicas_days}[item.kind]
    if item.promoted:
        days = max(days, retention.audit_days, retention.evidence_days)
    return days


def plan(items: list[Item], retention: Retention, now: datetime) -> Plan:
    """Which items expired by ``now`` (pure). A bundle's evidence expires whole or not at all."""
    out = Plan()
    bundle_expired: dict[str, bool] = {}
    for item in items:
        if item.kind == "evidence" and item.bundle is not None:
            bundle_expired[item.bundle] = item.ends + timedelta(days=days_for(item, retention)) <= now
    for item in items:
        if item.bundle is not None and bundle_expired.get(item.bundle):
            out.expired.append(Item(item.key, "evidence", item.ends, item.bundle, item.promoted))
            continue
        due = item.ends + timedelta(days=days_for(item, retention)) <= now
        if due:
            out.expired.append(item)
        elif item.promoted and item.ends + timedelta(days=_plain_days(item, retention)) <= now:
            out.kept_promoted[item.kind] = out.kept_promoted.get(item.kind, 0) + 1
    return out


def _plain_days(item: Item, retention: Retention) -> int:
    return days_for(Item(item.key, item.kind, item.ends), retention)


def promoted_releases(store: ArtifactStore, service: str) -> set[str]:
    prefix = layout.promotions_prefix(service)
    ids = {k[len(prefix):].removesuffix(".json") for k in store.list(prefix)}
    lkg = find_object(store, layout.last_known_good(service))
    if lkg and isinstance(lkg.get("release_id"), str):
        ids.add(lkg["release_id"])
    return ids


def run_retention(store: ArtifactStore, config: ReleaseConfig, *, now: datetime | None = None,
                  backend: Backend | None = None) -> StepResult:
    """Delete what expired, write the deletion record, compare S3 lifecycle rules. Returns the step's result."""
    now = now or datetime.now(UTC)
    service, retention = config.service, config.data.retention
    backend = backend or open_backend(store)
    keys = store.list(layout.service_prefix(service))
    items, undated = classify(service, keys, promoted_releases(store, service))
    replicas, unseen = replica_items(store, service, keys)
    items, undated = items + replicas, undated + unseen
    todo = plan(items, retention, now)
    reports: dict[str, KindReport] = {k: KindReport() for k in KINDS}
    for kind, n in todo.kept_promoted.items():
        reports[kind].kept_promoted = n
    locked: list[dict[str, str]] = []
    erased: dict[str, list[ErasedArtifact]] = {}
    for item in todo.expired:
        report = reports[item.kind]
        try:
            until = backend.retained_until(item.key)
            if until is not None:
                report.kept_object_lock += 1
                locked.append({"key": item.key, "until": until.isoformat()})
                continue
            before = _indexed_sha(store, item) if item.kind == "shadow_pairs" else None
            backend.delete(item.key)
        except StoreError:
            report.errors += 1
            continue
        report.add(item.key)
        if before is not None and item.bundle is not None:
            name = item.key[len(item.bundle):]
            erased.setdefault(item.bundle, []).append(ErasedArtifact(name=name, sha256_before=before,
                                                                     sha256_after=None))
    for bundle, artifacts in erased.items():
        write_erasure(store, bundle, ErasureRecord(at=now, why="retention", authorised_by=BY, artifacts=artifacts))
    _expire_spool(store, service, retention, now, reports["spool"])
    verdicts = _lifecycle(backend, config)
    record = {
        "service": service, "at": now.isoformat(), "store": store.uri, "retention": retention.model_dump(),
        "kinds": {k: vars(r) for k, r in reports.items()}, "undated_keys": len(undated),
        "object_lock": locked, "object_lock_note": _lock_note(locked),
        "lifecycle": [v.model_dump(mode="json") for v in verdicts],
    }
    key = layout.retention_record(service, now)
    store.put(key, to_json_bytes(record), JSON_TYPE, overwrite=False)
    deleted = sum(r.deleted for r in reports.values())
    errors = sum(r.errors for r in reports.values())
    phase = Phase.ERROR if errors else Phase.SUCCESSFUL
    reason = (f"Retention deleted {deleted} expired object(s) of {service}"
              + (f", kept {len(locked)} under object lock" if locked else "")
              + (f"; {errors} could not be deleted and will be retried on the next run" if errors else "")
              + f". Record: {store.location(key)}.")
    verdicts.insert(0, Verdict(check="retention", phase=phase, value=deleted, threshold=None, reason=reason,
                               evidence=key))
    table = [{"kind": k, **vars(r)} for k, r in reports.items()]
    return StepResult(step="retention", verdicts=verdicts, evidence=[key], summary=reason,
                      markdown=_markdown(service, table, verdicts), tables={"retention": table})


def _indexed_sha(store: ArtifactStore, item: Item) -> str | None:
    """The sha256 the bundle's index holds for ``item`` (None: no index, nothing to keep verifiable)."""
    index = find_object(store, f"{item.bundle}index.json")
    for entry in (index or {}).get("artifacts", []):
        if entry.get("key") == item.key:
            return str(entry.get("sha256"))
    return None


def _expire_spool(store: ArtifactStore, service: str, retention: Retention, now: datetime,
                  report: KindReport) -> None:
    spool = spool_of(store)
    if spool is None:
        return
    prefix, cutoff = layout.service_prefix(service), now - timedelta(days=retention.spool_days)
    for entry in spool.entries():
        if entry.key.startswith(prefix) and entry.spooled_at <= cutoff:
            spool.remove(entry)
            report.add(entry.key)


def lifecycle_check(store: ArtifactStore, config: ReleaseConfig) -> list[Verdict]:
    """The bucket's lifecycle rules against ``data.retention`` (empty on a local store); reads only."""
    return _lifecycle(open_backend(store), config)


def _lifecycle(backend: Backend, config: ReleaseConfig) -> list[Verdict]:
    try:
        rules = backend.lifecycle_rules()
    except StoreError as exc:
        return [Verdict(check="s3_lifecycle", phase=Phase.ERROR,
                        reason=f"{exc}; the bucket's rules were not compared.")]
    if rules is None:
        return []
    service, r = config.service, config.data.retention
    kinds = {"request_logs": (backend.full_key(layout.logs_prefix(service)), r.request_logs_days),
             "handoff_queue": (backend.full_key(layout.handoff_prefix(service)), r.queues_days),
             "quality_queue": (backend.full_key(layout.quality_prefix(service)), r.queues_days)}
    evidence = [backend.full_key(layout.releases_prefix(service))]
    return lifecycle_verdicts(rules, getattr(backend, "bucket", "?"), kinds, evidence, r.audit_days)


def _lock_note(locked: list[dict[str, str]]) -> str | None:
    if not locked:
        return None
    last = max(x["until"] for x in locked)
    return (f"{len(locked)} expired object(s) are under S3 object lock and were not deleted early; retention "
            f"deletes them on the first run after their lock ends (latest {last[:10]}).")


def _markdown(service: str, table: list[dict[str, Any]], verdicts: list[Verdict]) -> str:
    rows = "\n".join(f"| {r['kind']} | {r['deleted']} | {r['kept_object_lock']} | {r['kept_promoted']} | "
                     f"{r['errors']} |" for r in table)
    checks = "\n".join(f"- **{v.check}** {v.phase.value}: {v.reason}" for v in verdicts)
    return (f"# Retention of {service}\n\n| kind | deleted | kept (object lock) | kept (promoted, audit period) "
            f"| errors |\n|---|---|---|---|---|\n{rows}\n\n{checks}\n")
