"""What the readiness checks look at: one snapshot, gathered once, read by pure functions.

``Evidence`` is plain data; ``gather.py`` fills it from the release bundle, the store, the
config and a loopback probe. A field left None means "not found", which a check reports as
missing (never as verified).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from launchgate.config import ReleaseConfig
from launchgate.store.bundle import RELEASE_NAMES
from launchgate.verdicts import Verdict


@dataclass
class BucketFacts:
    """The evidence bucket's settings as boto3 get_bucket_* report them (None: not configured)."""

    bucket: str
    prefix: str
    encryption: list[dict[str, Any]] | None = None  # ServerSideEncryptionConfiguration.Rules
    public_access_block: dict[str, bool] | None = None
    versioning: str | None = None  # "Enabled" | "Suspended" | None (never enabled)
    lifecycle: list[dict[str, Any]] | None = None  # Rules
    errors: dict[str, str] = field(default_factory=dict)  # what could not be read, by call


@dataclass
class ProbeFacts:
    """The release gateway, asked on loopback without a token."""

    url: str
    admin_status: int | None = None  # GET /admin/state without Authorization
    metrics_status: int | None = None
    metrics_text: str = ""
    context_status: int | None = None  # a request over max_context_chars (None: no context guard to probe)
    request_id_returned: bool | None = None  # the over-cap answer carried X-Request-ID (None: not probed)
    feedback_status: int | None = None  # POST /v1/feedback with no rating (400: served; 404: not there)
    error: str | None = None


@dataclass
class QualityFacts:
    """What the gateway stored under quality/ in the evidence window (file listings, a few item ids)."""

    window_days: int
    feedback_batches: int = 0
    feedback_days: int = 0
    queue_batches: int = 0
    queue_days: int = 0
    items_checked: int = 0  # sampled items read from the newest queue batches
    items_labelled: int = 0  # of those, how many carry a label
    newest_feedback: str = ""  # store key of the newest feedback batch
    newest_queue: str = ""


@dataclass
class DrillFact:
    at: datetime
    phase: str
    rollback_s: float | None
    key: str


@dataclass
class Evidence:
    config: ReleaseConfig
    now: datetime
    release_id: str | None = None
    in_release: bool = False  # judged inside a running release: the canary and finalize come later
    store_uri: str = ""
    bundle_key: str = ""  # the release bundle's base key
    attempt_prefix: str = ""  # where this attempt's step artifacts sit in the bundle (attempts/<n>/ after a resume)
    manifest: dict[str, Any] | None = None
    eval_report: dict[str, Any] | None = None
    load_report: dict[str, Any] | None = None
    canary_summary: dict[str, Any] | None = None
    review: dict[str, Any] | None = None
    verdicts: list[Verdict] | None = None  # this run's so far, or the stored decision's
    golden_tags: dict[str, int] | None = None
    golden_cases: int = 0
    golden_lengths: list[int] = field(default_factory=list)  # input size in characters per golden case
    requests: list[dict[str, Any]] | None = None  # a sample of the last 4 weeks of the request log
    request_log_note: str = ""
    artifact_texts: dict[str, str] = field(default_factory=dict)  # small text artifacts of the bundle
    secret_values: list[str] = field(default_factory=list)  # configured secrets' values (never printed)
    config_text: str | None = None
    bundles: list[tuple[str, list[str]]] | None = None  # (release id, artifacts its index lists but the store lacks)
    bucket: BucketFacts | None = None
    probe: ProbeFacts | None = None
    drills: list[DrillFact] = field(default_factory=list)
    runbook_path: str | None = None
    runbook_sha256: str | None = None
    alert_rules_text: str | None = None
    alert_names: list[str] | None = None  # alerting rules loaded in the service's Prometheus (loopback probe)
    prometheus_note: str = ""  # why they were not read
    reviews: dict[str, datetime | None] = field(default_factory=dict)  # newest report per kind
    retention_run_at: datetime | None = None  # the retention deployment's newest record (state/retention/)
    unsafe_scan: dict[str, Any] | None = None  # the newest unsafe-logging scan report (reviews/unsafe_logging/)
    unsafe_scan_key: str = ""
    last_known_good: dict[str, Any] | None = None
    api_keys: list[Any] | None = None  # the client API key registry's keys (access/registry.py ApiKey)
    quality: QualityFacts | None = None  # review queue, labels and feedback (gather.py: _quality_facts)
    shadow_summary: dict[str, Any] | None = None  # the bundle's shadow/shadow_summary.json (None: no shadow ran)
    replay_at: datetime | None = None  # the newest `launchgate replay` report (reviews/replay/)
    replay_key: str = ""
    problems: list[str] = field(default_factory=list)  # what could not be read, for the report

    def key(self, name: str) -> str:
        """A bundle artifact's store key (the evidence a line points at)."""
        if not self.bundle_key:
            return name
        return self.bundle_key + (name if name in RELEASE_NAMES else self.attempt_prefix + name)

    def verdict(self, check: str) -> list[Verdict]:
        return [v for v in self.verdicts or [] if v.check == check]
