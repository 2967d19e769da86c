"""Every key launchgate writes or reads in the artifact store, built in one place.

The shared layout (DESIGN.md), under the configured prefix::

    <service>/releases/<release_id>/             a release's evidence bundle (store/bundle.py)
    <service>/checks/<check_id>/                 a `launchgate check`'s bundle, same layout
    <service>/state/                             last_known_good.json, freeze.json, budget/<day>.json, ...
    <service>/logs/requests/<yyyy-mm-dd>/        the gateway's request log, <hh>-<writer>[-<n>].jsonl
    <service>/logs/requests-parquet/date=<yyyy-mm-dd>/hour=<hh>/part-0.parquet
                                                 closed hours compacted (Hive-partitioned: Athena/Glue table)
    <service>/logs/compaction/<yyyy-mm-dd>/<hh>.json
                                                 what compaction wrote for that hour (the commit record)
    <service>/reviews/drift/<yyyy-Www>/          the weekly drift review
    <service>/reviews/cost/<yyyy-mm>/            the monthly cost review
    <service>/reviews/drills/<stamp>.json        the scheduled rollback drill

Renaming a key here moves data that other versions still read: add keys freely, rename none.
"""

from __future__ import annotations

from datetime import date, datetime

from launchgate.store.keys import check_key


def service_prefix(service: str) -> str:
    return f"{check_key(service)}/"


# ---------------------------------------------------------------------------------------- releases


def releases_prefix(service: str) -> str:
    return f"{service_prefix(service)}releases/"


def release_prefix(service: str, release_id: str) -> str:
    """The bundle's base: every artifact of one release sits under it."""
    return f"{releases_prefix(service)}{check_key(release_id)}/"


def release_key(service: str, release_id: str, name: str) -> str:
    """One top-level artifact of a bundle, e.g. ``manifest.json`` or ``eval/eval_report.json``."""
    return release_prefix(service, release_id) + check_key(name)


def check_prefix(service: str, check_id: str) -> str:
    """A ``launchgate check``'s bundle: laid out like a release's, beside (never among) the releases."""
    return f"{service_prefix(service)}checks/{check_key(check_id)}/"


# ------------------------------------------------------------------------------------------- state


def state_prefix(service: str) -> str:
    return f"{service_prefix(service)}state/"


def last_known_good(service: str) -> str:
    return state_prefix(service) + "last_known_good.json"


def promotions_prefix(service: str) -> str:
    return state_prefix(service) + "promotions/"


def promotion(service: str, release_id: str) -> str:
    return promotions_prefix(service) + f"{check_key(release_id)}.json"


def rollbacks_prefix(service: str) -> str:
    return state_prefix(service) + "rollbacks/"


def rollback(service: str, at: datetime) -> str:
    return rollbacks_prefix(service) + f"{at:%Y%m%dT%H%M%S%fZ}.json"


def freeze(service: str) -> str:
    return state_prefix(service) + "freeze.json"


def freeze_log(service: str) -> str:
    return state_prefix(service) + "freeze_log.jsonl"


def budget_day(service: str, day: date) -> str:
    return state_prefix(service) + f"budget/{day:%Y-%m-%d}.json"


# -------------------------------------------------------------------------------------------- logs


def requests_prefix(service: str, day: date | str | None = None) -> str:
    """The request log, or one UTC day of it (``day`` as a date or ``yyyy-mm-dd``)."""
    base = f"{service_prefix(service)}logs/requests/"
    if day is None:
        return base
    return base + (f"{day:%Y-%m-%d}/" if isinstance(day, date) else f"{check_key(day)}/")


def request_log(service: str, day: str, hour: str, writer: str, suffix: str = "") -> str:
    """One writer's file for one hour: ``<hh>-<writer>[-<n>].jsonl``."""
    return requests_prefix(service, day) + f"{hour}-{check_key(writer)}{suffix}.jsonl"


def requests_parquet_prefix(service: str) -> str:
    """The compacted log: a Hive-partitioned table (``date=``/``hour=``) that Athena, Trino or Spark read as is."""
    return f"{service_prefix(service)}logs/requests-parquet/"


def requests_parquet_partition(service: str, day: date | str, hour: int | str) -> str:
    """One hour's partition folder: ``date=<yyyy-mm-dd>/hour=<hh>/`` (one part file in it at rest)."""
    d = f"{day:%Y-%m-%d}" if isinstance(day, date) else check_key(day)
    h = f"{int(hour):02d}"
    return f"{requests_parquet_prefix(service)}date={d}/hour={h}/"


def requests_parquet_part(service: str, day: date | str, hour: int | str) -> str:
    """The hour's one Parquet file: a fixed name, so a rerun or a rewrite replaces it in one atomic put
    and a table reader (Athena) never sees two copies of an hour."""
    return requests_parquet_partition(service, day, hour) + "part-0.parquet"


def compaction_prefix(service: str, day: date | str | None = None) -> str:
    base = f"{service_prefix(service)}logs/compaction/"
    if day is None:
        return base
    return base + (f"{day:%Y-%m-%d}/" if isinstance(day, date) else f"{check_key(day)}/")


def compaction_record(service: str, day: date | str, hour: int | str) -> str:
    """The commit record of one compacted hour: sources, counts, checksum and the part file readers use."""
    return compaction_prefix(service, day) + f"{int(hour):02d}.json"


# ----------------------------------------------------------------------------------------- reviews


def drift_review(service: str, week: str) -> str:
    return f"{service_prefix(service)}reviews/drift/{check_key(week)}/"


def cost_review(service: str, month: str) -> str:
    return f"{service_prefix(service)}reviews/cost/{check_key(month)}/"


def drill_record(service: str, at: datetime) -> str:
    return f"{service_prefix(service)}reviews/drills/{at:%Y%m%dT%H%M%SZ}.json"


# ------------------------------------------------------------------------- data lifecycle and access


def checks_prefix(service: str) -> str:
    return f"{service_prefix(service)}checks/"


def logs_prefix(service: str) -> str:
    """Every request log of the service: ``requests/`` (JSONL) and the compacted columnar partitions."""
    return f"{service_prefix(service)}logs/"


def handoff_prefix(service: str) -> str:
    return f"{service_prefix(service)}handoff/"


def quality_prefix(service: str) -> str:
    return f"{service_prefix(service)}quality/"


def data_access_log(service: str) -> str:
    """Every export, delete and raw-prompt override, granted or refused (append-only)."""
    return state_prefix(service) + "data_access_log.jsonl"


def data_overrides(service: str) -> str:
    return state_prefix(service) + "data_overrides.jsonl"


def data_receipt(service: str, at: datetime, action: str) -> str:
    return state_prefix(service) + f"data_requests/{at:%Y%m%dT%H%M%S%fZ}-{check_key(action)}.json"


def retention_record(service: str, at: datetime) -> str:
    return state_prefix(service) + f"retention/{at:%Y%m%dT%H%M%S%fZ}.json"


def config_audit(service: str) -> str:
    """The sha256 of the config at every release and gateway start (append-only)."""
    return state_prefix(service) + "config_audit.jsonl"


def unsafe_logging_scan(service: str, at: datetime) -> str:
    return f"{service_prefix(service)}reviews/unsafe_logging/{at:%Y%m%dT%H%M%SZ}.json"


# ------------------------------------------------------------------------------------------ access


def api_keys(service: str) -> str:
    """The client API key registry: ids, tenants, scopes, limits and sha256 hashes (never a key)."""
    return state_prefix(service) + "api_keys.json"


def api_keys_log(service: str) -> str:
    """Every `launchgate keys` command, granted or refused: who, when, what, key id (append-only)."""
    return state_prefix(service) + "api_keys_log.jsonl"


def secret_rotations(service: str) -> str:
    """When the gateway last saw each of its secrets (admin tokens, upstream keys) change: names only."""
    return state_prefix(service) + "secret_rotations.json"


# ---------------------------------------------------------------------------------- guardrails


def routing_state(service: str) -> str:
    """The shared routing-state document every gateway replica reconciles to (gateway.replicas)."""
    return state_prefix(service) + "routing.json"


def replicas_prefix(service: str) -> str:
    return state_prefix(service) + "replicas/"


def replica(service: str, name: str) -> str:
    """One gateway replica's heartbeat and published window counters."""
    return replicas_prefix(service) + f"{check_key(name)}.json"


def stats_windows(service: str) -> str:
    """The stats windows a canary judge asked for; every replica publishes its counters for each."""
    return state_prefix(service) + "stats_windows.json"


def degradation(service: str) -> str:
    """The gateway's operator-set degradation level and its audited changes (who, when, why)."""
    return state_prefix(service) + "degradation.json"


def handoff_day(service: str, day: date) -> str:
    """Requests handed to a person (redacted) on one UTC day, under ``handoff_prefix``."""
    return handoff_prefix(service) + f"{day:%Y-%m-%d}/"


def handoff_batch(service: str, day: date, name: str) -> str:
    """One flush of one gateway's handoff items: ``<hhmmss>-<writer>-<n>.jsonl``."""
    return handoff_day(service, day) + f"{check_key(name)}.jsonl"


def handoff_acks(service: str) -> str:
    return handoff_prefix(service) + "acks/"


def handoff_ack(service: str, item_id: str) -> str:
    """Who took a handoff item, and when (one small object per item, written once)."""
    return handoff_acks(service) + f"{check_key(item_id)}.json"


# ----------------------------------------------------------------------------------- readiness
# Inside a release bundle the readiness step writes readiness/readiness.json, readiness.md and
# evidence.json (bundle names, launchgate/readiness/review.py).


def attestations(service: str) -> str:
    """Readiness attestations, append-only: one JSON line per sign, revoke or refusal."""
    return state_prefix(service) + "attestations.jsonl"


def attestation_file(service: str, sha256: str, name: str) -> str:
    """A file attached to an attestation, stored once per content (its sha256 leads the name)."""
    return state_prefix(service) + f"attestations/files/{check_key(sha256)}/{check_key(name)}"


def readiness_review(service: str, week: str) -> str:
    """The weekly readiness review (expiring attestations, items that turned failed)."""
    return f"{service_prefix(service)}reviews/readiness/{check_key(week)}/"


def extended_eval(service: str, month: str) -> str:
    """The monthly extended evaluation (golden set vs stable with repeats, flaky cases, representativeness)."""
    return f"{service_prefix(service)}reviews/extended-eval/{check_key(month)}/"


def gameday_record(service: str, at: datetime) -> str:
    """One ``launchgate gameday`` run: its steps, time to detect and time to recover."""
    return f"{service_prefix(service)}reviews/gameday/{at:%Y%m%dT%H%M%SZ}.json"


# ------------------------------------------------------------------------------------- shadow
# Inside a release bundle the shadow step writes shadow/pairs.jsonl, shadow_summary.json/.md and
# shadow.png (bundle names, launchgate/shadow/step.py).


def shadow_prefix(service: str, day: str | None = None) -> str:
    """Paired (stable, candidate) answers recorded by the gateway's shadow mode, per UTC day."""
    return f"{service_prefix(service)}shadow/" + (f"{check_key(day)}/" if day else "")


def shadow_pairs(service: str, day: str, writer: str, first_seq: int) -> str:
    """One flush of one gateway's shadow pairs: ``<writer>-<first seq>.jsonl``."""
    return shadow_prefix(service, day) + f"{check_key(writer)}-{first_seq:012d}.jsonl"


# ------------------------------------------------------------------------------ review queue
# Under quality_prefix, so retention, the unsafe-logging scan and erasure already cover it.


def review_queue_day(service: str, day: str) -> str:
    """Served answers sampled for human review on one UTC day."""
    return quality_prefix(service) + f"queue/{check_key(day)}/"


def review_queue_batch(service: str, day: str, writer: str, first_seq: int) -> str:
    return review_queue_day(service, day) + f"{check_key(writer)}-{first_seq:012d}.jsonl"


def review_label(service: str, item_id: str) -> str:
    """A person's label for one review item (the latest label wins; who and when are kept)."""
    return quality_prefix(service) + f"labels/{check_key(item_id)}.json"


def feedback_day(service: str, day: str) -> str:
    """End users' feedback on answers (POST /v1/feedback) on one UTC day, joined to request and release."""
    return quality_prefix(service) + f"feedback/{check_key(day)}/"


def feedback_batch(service: str, day: str, writer: str, first_seq: int) -> str:
    return feedback_day(service, day) + f"{check_key(writer)}-{first_seq:012d}.jsonl"


def replay_report(service: str, stamp: str) -> str:
    """One ``launchgate replay`` run: replay_report.json, replay.md and replay.png under this prefix."""
    return f"{service_prefix(service)}reviews/replay/{check_key(stamp)}/"
