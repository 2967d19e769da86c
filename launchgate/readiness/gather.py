"""Gathering the readiness evidence: the release bundle, the store, the config files and a loopback probe.

The only impure part of the review. Every read is bounded (a sample of the request log, small
text artifacts, the last few bundles) so a review inside a release stays well under a second on
a local store. A read that fails is noted in ``Evidence.problems`` and leaves its field empty,
which the checks report as missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from launchgate.access.registry import read_registry
from launchgate.config import ReleaseConfig
from launchgate.errors import InputError, StoreError
from launchgate.eval.golden import GoldenCase, load_golden_set
from launchgate.readiness.bucket import bucket_facts
from launchgate.readiness.evidence import DrillFact, Evidence, QualityFacts
from launchgate.readiness.probe import probe_gateway, probe_prometheus
from launchgate.requestlog.reader import LogRead, log_keys, parse_lines, parse_ts
from launchgate.settings import Settings
from launchgate.store import layout
from launchgate.store.base import ArtifactStore, StoreUnavailable, sha256_bytes
from launchgate.store.bundle import attempt_prefix
from launchgate.store.jsonio import find_object, read_jsonl
from launchgate.verdicts import Verdict

LOG_WINDOW = timedelta(weeks=4)
LOG_SAMPLE = 2000  # newest requests read from the log: enough for rates and PSI, cheap enough for a release
TEXT_TYPES = (".json", ".jsonl", ".md", ".txt", ".log")
MAX_TEXT_BYTES = 1_000_000
MAX_TEXTS = 80


def release_ids(store: ArtifactStore, service: str) -> tuple[list[str], set[str]]:
    """Every release id (oldest first, ids sort by time) and every key under the releases prefix."""
    prefix = layout.releases_prefix(service)
    keys = store.list(prefix)
    ids = sorted({k[len(prefix):].split("/", 1)[0] for k in keys if "/" in k[len(prefix):]})
    return ids, set(keys)


def default_release(store: ArtifactStore, service: str, ids: Sequence[str]) -> str | None:
    """The last promoted release (what serves users), else the newest bundle."""
    lkg = find_object(store, layout.last_known_good(service))
    if lkg and lkg.get("release_id") in ids:
        return str(lkg["release_id"])
    return ids[-1] if ids else None


def _safe(ev: Evidence, what: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except (StoreError, InputError, OSError, ValueError) as exc:
        ev.problems.append(f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
        return None


def _requests(store: ArtifactStore, service: str, now: datetime) -> tuple[list[dict[str, Any]], str]:
    start = now - LOG_WINDOW
    out = LogRead()
    keys = log_keys(store, service, start, now)
    for key in reversed(keys):  # newest files first, until the sample is full
        if len(out.records) >= LOG_SAMPLE:
            break
        parse_lines(store.get(key), key, start, now, out)
    note = (f"{layout.requests_prefix(service)} ({out.files or len(keys)} files, {len(out.records)} requests "
            f"sampled, {start:%Y-%m-%d}..{now:%Y-%m-%d})") if keys else ""
    return out.records[-LOG_SAMPLE:], note


def _drills(store: ArtifactStore, service: str, ids: Sequence[str], keys: set[str], current: tuple[str, str] | None,
            ) -> list[DrillFact]:
    found: list[DrillFact] = []

    def add(key: str) -> None:
        rec = find_object(store, key)
        at = parse_ts(str((rec or {}).get("started_at") or (rec or {}).get("at") or ""))
        if rec and at:
            found.append(DrillFact(at=at, phase=str(rec.get("phase")), rollback_s=rec.get("rollback_s"), key=key))

    if current is not None:  # this release's own drill (an earlier step of the same run)
        base, prefix = current
        if f"{base}{prefix}drill/drill_record.json" in keys or store.exists(f"{base}{prefix}drill/drill_record.json"):
            add(f"{base}{prefix}drill/drill_record.json")
    for rid in list(ids)[-5:]:
        key = layout.release_key(service, rid, "drill/drill_record.json")
        if key in keys and (current is None or not key.startswith(current[0])):
            add(key)
    drills_prefix = f"{layout.service_prefix(service)}reviews/drills/"
    for key in store.list(drills_prefix)[-3:]:
        add(key)
    return found


def _retained(store: ArtifactStore, service: str, ids: Sequence[str], keys: set[str], n: int,
              ) -> list[tuple[str, list[str]]]:
    out = []
    for rid in [i for i in ids if layout.release_key(service, i, "index.json") in keys][-n:]:
        index = find_object(store, layout.release_key(service, rid, "index.json")) or {}
        base = layout.release_prefix(service, rid)
        gone = [a["name"] for a in index.get("artifacts", []) if f"{base}{a['name']}" not in keys]
        out.append((rid, gone))
    return out


def _reviews(store: ArtifactStore, service: str) -> dict[str, datetime | None]:
    base = f"{layout.service_prefix(service)}reviews/"
    out: dict[str, datetime | None] = {}
    for kind in ("drift", "cost", "extended-eval"):
        labels = sorted({k[len(base) + len(kind) + 1:].split("/", 1)[0] for k in store.list(f"{base}{kind}/")})
        out[kind] = _label_end(labels[-1]) if labels else None
    return out


def _newest_retention(store: ArtifactStore, service: str) -> datetime | None:
    keys = store.list(layout.state_prefix(service) + "retention/")
    if not keys:
        return None
    stamp = keys[-1].rsplit("/", 1)[-1].removesuffix(".json")  # <yyyymmddThhmmssffffffZ>, as layout writes it
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _newest_scan(store: ArtifactStore, service: str, now: datetime) -> tuple[str, dict[str, Any]] | None:
    """The newest report of the daily unsafe-logging scan (the retention deployment runs it)."""
    prefix = layout.unsafe_logging_scan(service, now).rsplit("/", 1)[0] + "/"
    keys = store.list(prefix)
    report = find_object(store, keys[-1]) if keys else None
    return (keys[-1], report) if report is not None else None


def _newest_replay(store: ArtifactStore, service: str) -> tuple[str, datetime] | None:
    """The newest `launchgate replay` report and when it ran (its prefix's stamp, as replay/report.py writes it)."""
    prefix = layout.replay_report(service, "x").rsplit("/", 2)[0] + "/"
    keys = [k for k in store.list(prefix) if k.endswith("/replay_report.json")]
    for key in reversed(keys):
        try:
            return key, datetime.strptime(key[len(prefix):].split("/", 1)[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


QUALITY_ITEMS_CHECKED = 200  # newest sampled items whose labels are looked up: a bounded read


def _quality_facts(store: ArtifactStore, service: str, now: datetime) -> QualityFacts:
    """Feedback and review-queue batches of the evidence window (listings), and how many of the newest
    sampled items carry a label (at most ``QUALITY_ITEMS_CHECKED`` ids from the newest batches)."""
    days = [(now - timedelta(days=back)).strftime("%Y-%m-%d") for back in range(LOG_WINDOW.days)]
    facts = QualityFacts(window_days=LOG_WINDOW.days)
    queue: list[str] = []
    for day in days:
        fb = store.list(layout.feedback_day(service, day))
        qu = store.list(layout.review_queue_day(service, day))
        facts.feedback_batches += len(fb)
        facts.feedback_days += bool(fb)
        facts.queue_batches += len(qu)
        facts.queue_days += bool(qu)
        facts.newest_feedback = facts.newest_feedback or (sorted(fb)[-1] if fb else "")
        queue += sorted(qu, reverse=True)
    facts.newest_queue = queue[0] if queue else ""
    ids: list[str] = []
    for key in queue:  # newest day first
        if len(ids) >= QUALITY_ITEMS_CHECKED:
            break
        for item in reversed(read_jsonl(store, key)):
            item_id = item.get("id")
            if isinstance(item_id, str) and len(ids) < QUALITY_ITEMS_CHECKED:
                ids.append(item_id)
    if ids:
        labelled = set(store.list(layout.review_label(service, "x").rsplit("/", 1)[0] + "/"))
        facts.items_checked = len(ids)
        facts.items_labelled = sum(layout.review_label(service, i) in labelled for i in ids)
    return facts


def _label_end(label: str) -> datetime | None:
    from launchgate.reviews.drift import week_bounds  # here: the reviews import scipy (seconds)

    try:
        if "-W" in label:
            return week_bounds(label)[1]
        return datetime.strptime(label, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        return None


def _texts(store: ArtifactStore, names_keys: Sequence[tuple[str, str, int]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, key, size in names_keys:
        if len(out) >= MAX_TEXTS:
            break
        if name.endswith(TEXT_TYPES) and size <= MAX_TEXT_BYTES and "data_docs/" not in name:
            out[name] = store.get(key).decode("utf-8", errors="replace")
    return out


def secret_values(config: ReleaseConfig, settings: Settings) -> list[str]:
    """The values of the secrets the config names (env vars), to search artifacts for; never printed."""
    names = {config.candidate.api_key_env, config.stable.api_key_env, config.canary.gateway_token_env,
             config.gateway.admin_token_env}
    values = [os.environ.get(n or "", "") for n in names if n]
    if settings.slack_token is not None:
        values.append(settings.slack_token.get_secret_value())
    return [v for v in values if len(v) >= 8]


def gather(store: ArtifactStore, config: ReleaseConfig, *, now: datetime, settings: Settings,
           config_path: Path | None = None, release_id: str | None = None, attempt: int | None = None,
           verdicts: Sequence[Verdict] | None = None, in_release: bool = False,
           written: Sequence[tuple[str, str, int]] | None = None, cases: Sequence[GoldenCase] | None = None,
           probe: bool = True) -> Evidence:
    """``written``: (bundle name, key, size) of the artifacts this run wrote so far (inside a release)."""
    service = config.service
    ev = Evidence(config=config, now=now, in_release=in_release, store_uri=store.uri)
    if verdicts is not None:
        ev.verdicts = list(verdicts)
    try:
        ids, keys = release_ids(store, service)
    except StoreUnavailable as exc:  # one clear note, not a timeout per read: judge from the config alone
        ev.problems.append(f"the store is unreachable ({str(exc).splitlines()[0][:160]}): store evidence not read")
        return _local_only(ev, config, settings, config_path, cases)
    except StoreError as exc:
        ev.problems.append(f"release bundles: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
        ids, keys = [], set()
    rid = release_id or default_release(store, service, ids)
    ev.release_id = rid
    decision = None
    if rid is not None:
        base = layout.release_prefix(service, rid)
        ev.bundle_key = base
        decision = _safe(ev, "decision.json", find_object, store, base + "decision.json")
        n = attempt if attempt is not None else int((decision or {}).get("attempt") or 1)
        step = base + attempt_prefix(n)
        ev.attempt_prefix = attempt_prefix(n)
        ev.manifest = _safe(ev, "manifest", find_object, store, base + "manifest.json")
        ev.eval_report = _safe(ev, "eval report", find_object, store, step + "eval/eval_report.json")
        ev.load_report = _safe(ev, "load report", find_object, store, step + "load/loadtest_report.json")
        ev.canary_summary = _safe(ev, "canary summary", find_object, store, step + "canary/canary_summary.json")
        ev.shadow_summary = _safe(ev, "shadow summary", find_object, store, step + "shadow/shadow_summary.json")
        ev.review = _safe(ev, "review.json", find_object, store, base + "review.json")
        ev.drills = _safe(ev, "drill records", _drills, store, service, ids, keys, (base, attempt_prefix(n))) or []
        if written is None:
            index = _safe(ev, "index.json", find_object, store, base + "index.json") or {}
            written = [(a["name"], a["key"], int(a.get("size", 0))) for a in index.get("artifacts", [])]
        ev.artifact_texts = _safe(ev, "release artifacts", _texts, store, written) or {}
        earlier = [i for i in ids if i < rid]
        ev.bundles = _safe(ev, "previous bundles", _retained, store, service, earlier, keys,
                           config.readiness.retained_releases)
    else:
        ev.drills = _safe(ev, "drill records", _drills, store, service, ids, keys, None) or []
    if verdicts is None and decision is not None:
        ev.verdicts = [Verdict.model_validate(v) for v in decision.get("verdicts", [])]
    sample = _safe(ev, "request log", _requests, store, service, now)
    if sample is not None:
        ev.requests, ev.request_log_note = sample
    ev.last_known_good = _safe(ev, "last_known_good", find_object, store, layout.last_known_good(service))
    ev.quality = _safe(ev, "review queue and feedback", _quality_facts, store, service, now)
    ev.api_keys = _safe(ev, "API key registry", lambda: read_registry(store, service).keys)
    ev.reviews = _safe(ev, "reviews", _reviews, store, service) or {}
    ev.retention_run_at = _safe(ev, "retention records", _newest_retention, store, service)
    replay = _safe(ev, "replay reports", _newest_replay, store, service)
    if replay is not None:
        ev.replay_key, ev.replay_at = replay
    scan = _safe(ev, "unsafe-logging scans", _newest_scan, store, service, now)
    if scan is not None:
        ev.unsafe_scan_key, ev.unsafe_scan = scan
    if ev.last_known_good and ev.last_known_good.get("release_id"):
        from launchgate.reviews.postlaunch import REVIEW_JSON  # here: the reviews import scipy (seconds)

        key = layout.release_key(service, str(ev.last_known_good["release_id"]), REVIEW_JSON)
        done = _safe(ev, "post-launch review", find_object, store, key)
        ev.reviews["post-launch"] = parse_ts(str((done or {}).get("reviewed_at") or ""))
    inner = getattr(store, "inner", store)  # a spooling store wraps the S3 store
    if hasattr(inner, "bucket") and hasattr(inner, "_client"):
        ev.bucket = bucket_facts(inner._client, inner.bucket, getattr(inner, "prefix", ""))
    if probe and config.canary.router == "gateway":
        guarded = config.guardrails is not None and config.guardrails.input.contract
        ev.probe = probe_gateway(config.canary.gateway_url,
                                 config.contracts.max_context_chars + 1 if guarded else None)
        prom = config.observability.prometheus_url
        if prom:
            ev.alert_names, note = probe_prometheus(prom)
            ev.prometheus_note = note or ""
    return _local_only(ev, config, settings, config_path, cases)


def _local_only(ev: Evidence, config: ReleaseConfig, settings: Settings, config_path: Path | None,
                cases: Sequence[GoldenCase] | None) -> Evidence:
    """What needs no store: the golden set, the config's files and the secrets to look for."""
    if cases is None:
        cases = _safe(ev, "golden set", load_golden_set, Path(config.evaluation.golden_set))
    if cases is not None:
        ev.golden_cases = len(cases)
        tags: dict[str, int] = {}
        for case in cases:
            for tag in case.tags:
                tags[tag] = tags.get(tag, 0) + 1
        ev.golden_tags = tags
        ev.golden_lengths = [len(json.dumps(c.input, sort_keys=True, ensure_ascii=False)) for c in cases]
    ev.secret_values = secret_values(config, settings)
    base_dir = config_path.resolve().parent if config_path is not None else Path.cwd()
    if config_path is not None:
        ev.config_text = _safe(ev, "release.yaml", config_path.read_text, "utf-8")
    if config.readiness.runbook:
        path = base_dir / config.readiness.runbook
        ev.runbook_path = str(path)
        data = _safe(ev, "runbook", path.read_bytes)
        ev.runbook_sha256 = sha256_bytes(data) if data is not None else None
    if config.readiness.alert_rules:
        ev.alert_rules_text = _safe(ev, "alert rules", (base_dir / config.readiness.alert_rules).read_text, "utf-8")
    return ev
