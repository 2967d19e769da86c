"""Readiness checks over what runs: the request log, the store, the S3 bucket and the gateway probe.

Pure functions over the ``Evidence`` snapshot, like checks_release.py; gather.py does the reading.
"""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np

from launchgate.config.access import is_loopback
from launchgate.privacy.redact import redact
from launchgate.readiness.evidence import Evidence
from launchgate.readiness.models import CheckResult, Status, failed, missing, verified
from launchgate.requestlog.reader import parse_ts
from launchgate.verdicts import pct

NO_LOG = "no request log in the last 4 weeks: serve traffic through the release gateway (it logs every request)"
# Key formats that are secrets wherever they appear (a subset of privacy/redact.py's, without its
# long-hex rule: every artifact is full of sha256 digests).
_SECRET_SHAPES = re.compile(r"(?<![\w-])(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|"
                            r"gh[pousr]_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----)")
MIN_SAMPLE = 50
PII_SAMPLE = 500  # prompts the detectors scan (evenly spread over the log sample)


def _log(ev: Evidence) -> list[dict] | None:
    return ev.requests if ev.requests else None


def request_logging(ev: Evidence) -> CheckResult:
    rows = _log(ev)
    if rows is None:
        return missing(NO_LOG)
    partial = [r for r in rows if r.get("status") is None or r.get("latency_ms") is None]
    if partial:
        return failed(f"{len(partial)} of {len(rows)} logged requests lack their status or latency",
                      ev.request_log_note)
    redacted = sum(1 for r in rows if "prompt_redacted" in r)
    return verified(f"{len(rows)} requests logged in the last 4 weeks ({redacted} with the redacted prompt)",
                    ev.request_log_note)


def _share(rows: list[dict], field: str) -> float:
    return sum(1 for r in rows if r.get(field) not in (None, "")) / len(rows)


def request_ids(ev: Evidence) -> CheckResult:
    rows = _log(ev)
    if rows is None:
        return missing(NO_LOG)
    share = _share(rows, "request_id")
    if share < 1.0:
        return failed(f"{pct(1 - share)} of {len(rows)} logged requests have no request_id", ev.request_log_note)
    returned = ev.probe.request_id_returned if ev.probe is not None else None
    if returned is False:
        return failed("the gateway answered the probe without an X-Request-ID header: callers cannot quote it",
                      ev.probe.url if ev.probe else None)
    how = "and the gateway returned X-Request-ID on the probe" if returned else "(returning it was not probed)"
    return verified(f"every one of {len(rows)} logged requests has a request_id {how}", ev.request_log_note)


def prompt_hash_logged(ev: Evidence) -> CheckResult:
    rows = _log(ev)
    if rows is None:
        return missing(NO_LOG)
    served = [r for r in rows if r.get("status") == 200]
    if not served:
        return missing("no answered request in the log sample")
    share = min(_share(served, "prompt_version"), _share(served, "prompt_sha256"))
    if share < 1.0:
        return failed(f"{pct(1 - share)} of answered requests lack prompt_version or prompt_sha256",
                      ev.request_log_note)
    return verified(f"prompt version and sha256 on all {len(served)} answered requests", ev.request_log_note)


def schema_ok_logged(ev: Evidence) -> CheckResult:
    rows = _log(ev)
    if rows is None:
        return missing(NO_LOG)
    served = [r for r in rows if r.get("status") == 200]
    if not served or _share(served, "schema_ok") < 1.0:
        return failed("answered requests are logged without schema_ok: schema failures cannot be monitored",
                      ev.request_log_note)
    bad = sum(1 for r in served if r.get("schema_ok") is False)
    return verified(f"schema_ok logged on every answer; {bad} of {len(served)} failed validation", ev.request_log_note)


def error_codes_logged(ev: Evidence) -> CheckResult:
    rows = _log(ev)
    if rows is None:
        return missing(NO_LOG)
    errors = [r for r in rows if isinstance(r.get("status"), int) and r["status"] >= 400]
    bare = [r for r in errors if not r.get("error_code")]
    if bare:
        return failed(f"{len(bare)} of {len(errors)} logged errors carry no error_code", ev.request_log_note)
    return verified(f"{len(errors)} errors in {len(rows)} logged requests, each with its error_code and request id",
                    ev.request_log_note)


def cost_tracking(ev: Evidence) -> CheckResult:
    rows = _log(ev)
    if rows is None:
        return missing(NO_LOG)
    served = [r for r in rows if r.get("status") == 200]
    if not served or _share(served, "cost_usd") < 1.0:
        return failed("answered requests are logged without cost_usd", ev.request_log_note)
    total = sum(float(r["cost_usd"]) for r in served)
    return verified(f"cost_usd on every answer: ${total:.4f} over {len(served)} requests "
                    f"(${total / len(served):.6f} per request)", ev.request_log_note)


def runtime_rates(ev: Evidence) -> CheckResult:
    rows = _log(ev)
    if rows is None:
        return missing(NO_LOG)
    if len(rows) < MIN_SAMPLE:
        return missing(f"{len(rows)} logged requests; {MIN_SAMPLE} are needed to judge retry and timeout rates")
    cfg = ev.config.readiness
    retried = sum(1 for r in rows if (r.get("retries") or 0) > 0) / len(rows)
    timed_out = sum(1 for r in rows if "timeout" in str(r.get("error_code") or "") or r.get("status") == 504)
    timed_out /= len(rows)
    text = f"retry rate {pct(retried)} (limit {cfg.max_retry_rate:g}%), timeout rate {pct(timed_out)} " \
           f"(limit {cfg.max_timeout_rate:g}%) over {len(rows)} requests"
    if retried * 100 > cfg.max_retry_rate or timed_out * 100 > cfg.max_timeout_rate:
        return failed(text, ev.request_log_note)
    return verified(text, ev.request_log_note)


def pii_redaction(ev: Evidence) -> CheckResult:
    rows = _log(ev)
    if rows is None:
        return missing(NO_LOG)
    logged = [r["prompt_redacted"] for r in rows if isinstance(r.get("prompt_redacted"), str)]
    logged = logged[::max(1, len(logged) // PII_SAMPLE)][:PII_SAMPLE]
    if not logged:
        return verified(f"no prompt text in {len(rows)} logged requests (prompts are not logged)", ev.request_log_note)
    leaks = [r for r in logged if redact(r) != r]
    if leaks:
        return failed(f"the detectors found PII or secrets in {len(leaks)} of {len(logged)} logged prompts: fix the "
                      f"redaction before launch", ev.request_log_note)
    return verified(f"the PII detectors find nothing in a sample of {len(logged)} logged prompts", ev.request_log_note)


def no_secrets(ev: Evidence) -> CheckResult:
    if not ev.artifact_texts:
        return missing("no release artifacts to scan")
    hits = []
    for name, text in ev.artifact_texts.items():
        if _SECRET_SHAPES.search(text) or any(s in text for s in ev.secret_values):
            hits.append(name)
    if hits:
        return failed(f"a secret (a configured secret's value or a key-shaped string) is in {', '.join(hits[:3])}",
                      ev.key(hits[0]))
    return verified(f"no configured secret value and no key-shaped string in {len(ev.artifact_texts)} artifacts "
                    f"(checked {len(ev.secret_values)} secret values)", ev.bundle_key or None)


def secrets_by_reference(ev: Evidence) -> CheckResult:
    if ev.config_text is None:
        return missing("release.yaml text not available")
    if _SECRET_SHAPES.search(ev.config_text) or any(s in ev.config_text for s in ev.secret_values):
        return failed("release.yaml holds a secret value: name it by env var (api_key_env) instead", "release.yaml")
    return verified("release.yaml names secrets by reference only (api_key_env, gateway_token_env)", "release.yaml")


def golden_representative(ev: Evidence) -> CheckResult:
    rows = _log(ev)
    if rows is None:
        return missing(NO_LOG)
    live = [len(r["prompt_redacted"]) for r in rows if isinstance(r.get("prompt_redacted"), str)]
    if len(live) < MIN_SAMPLE or len(ev.golden_lengths) < 10:
        return missing(f"{len(live)} logged prompts and {len(ev.golden_lengths)} golden cases: too few to compare")
    from launchgate.reviews.drift import psi  # here: the reviews import scipy, seconds a CLI need not pay

    value = psi(np.asarray(live, dtype=float), np.asarray(ev.golden_lengths, dtype=float))
    limit = ev.config.readiness.representative_psi
    tagged = [r for r in rows if r.get("category") or r.get("tags")]
    mix = "" if tagged else "; the request log has no category or tags, so the tag mix is not compared"
    text = (f"input-length PSI golden set vs {len(live)} requests of the last 4 weeks = {value:.3f} "
            f"(limit {limit:g}){mix}")
    if value > limit:
        return failed(text + ": refresh the golden set from production traffic", ev.request_log_note)
    if not tagged:
        return missing(text)
    return verified(text, ev.request_log_note)


def artifacts_retained(ev: Evidence) -> CheckResult:
    if ev.bundles is None:
        return missing("no previous release bundles to check")
    if not ev.bundles:
        return missing("no previous release bundles yet (the first release)")
    broken = [(rid, gone) for rid, gone in ev.bundles if gone]
    if broken:
        rid, gone = broken[0]
        return failed(f"{len(broken)} of the last {len(ev.bundles)} bundles are incomplete: {rid} lacks "
                      f"{', '.join(gone[:3])}", rid)
    return verified(f"the last {len(ev.bundles)} release bundles are complete by their index",
                    ", ".join(rid for rid, _ in ev.bundles[:3]))


def last_known_good(ev: Evidence) -> CheckResult:
    if ev.last_known_good is None:
        return missing("no last_known_good.json yet: the first promotion records it")
    if not ev.last_known_good.get("release_id"):
        return failed("last_known_good.json names no release_id", "state/last_known_good.json")
    return verified(f"last known good: {ev.last_known_good.get('release_id')}", "state/last_known_good.json")


def _bucket(ev: Evidence, call: str) -> CheckResult | None:
    b = ev.bucket
    if b is None:
        return missing(f"the store is {ev.store_uri or 'local'}, not an S3 bucket: nothing to check")
    if call in b.errors:
        return missing(f"s3://{b.bucket}: {call} could not be read ({b.errors[call]})")
    return None


def s3_encryption(ev: Evidence) -> CheckResult:
    if (early := _bucket(ev, "get_bucket_encryption")) is not None:
        return early
    assert ev.bucket is not None
    rules = ev.bucket.encryption or []
    algos = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
    if not any(algos):
        return failed(f"s3://{ev.bucket.bucket} has no default encryption", f"s3://{ev.bucket.bucket}")
    return verified(f"s3://{ev.bucket.bucket} encrypts at rest by default ({', '.join(a for a in algos if a)})",
                    f"s3://{ev.bucket.bucket}")


def s3_public_block(ev: Evidence) -> CheckResult:
    if (early := _bucket(ev, "get_public_access_block")) is not None:
        return early
    assert ev.bucket is not None
    block = ev.bucket.public_access_block or {}
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    off = [f for f in flags if not block.get(f)]
    if off:
        return failed(f"s3://{ev.bucket.bucket} public access block lacks {', '.join(off)}", f"s3://{ev.bucket.bucket}")
    return verified(f"s3://{ev.bucket.bucket} blocks all public access", f"s3://{ev.bucket.bucket}")


def s3_versioning(ev: Evidence) -> CheckResult:
    if (early := _bucket(ev, "get_bucket_versioning")) is not None:
        return early
    assert ev.bucket is not None
    if ev.bucket.versioning != "Enabled":
        return failed(f"s3://{ev.bucket.bucket} versioning is {ev.bucket.versioning or 'off'}", f"s3://{ev.bucket.bucket}")
    return verified(f"s3://{ev.bucket.bucket} is versioned", f"s3://{ev.bucket.bucket}")


def s3_lifecycle(ev: Evidence) -> CheckResult:
    if (early := _bucket(ev, "get_bucket_lifecycle_configuration")) is not None:
        return early
    b = ev.bucket
    assert b is not None
    for rule in b.lifecycle or []:
        scope = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", "")) or ""
        days = (rule.get("Expiration") or {}).get("Days")
        covers = not scope or (b.prefix + "/").startswith(scope) or scope.startswith(b.prefix)
        if rule.get("Status") == "Enabled" and days and covers:
            return verified(f"s3://{b.bucket} keeps {b.prefix or 'everything'} {days} days, then expires it (rule "
                            f"{rule.get('ID', '?')})", f"s3://{b.bucket}")
    return failed(f"s3://{b.bucket} has no enabled expiration rule covering {b.prefix or 'the bucket'}: logs are "
                  f"kept forever or not by policy", f"s3://{b.bucket}")


RETENTION_STALE = timedelta(days=2)  # the retention deployment runs daily


def log_retention(ev: Evidence) -> CheckResult:
    """Logs are kept for the retention period, then deleted: by the bucket's lifecycle rule or the retention runs."""
    days = ev.config.data.retention.request_logs_days
    if ev.bucket is not None:
        rule = s3_lifecycle(ev)
        if rule.status is Status.VERIFIED:
            return rule
    at = ev.retention_run_at
    if at is not None and ev.now - at <= RETENTION_STALE:
        return verified(f"the retention deployment ran on {at:%Y-%m-%d %H:%M}Z: request logs are kept {days} days "
                        f"(data.retention)", "state/retention/")
    if at is not None:
        return failed(f"the retention deployment last ran on {at:%Y-%m-%d}: nothing has expired logs since",
                      "state/retention/")
    if ev.bucket is not None:
        return s3_lifecycle(ev)
    return missing(f"no retention run on record: schedule the retention deployment (data.retention keeps request "
                   f"logs {days} days)")


def unsafe_logging_scan(ev: Evidence) -> CheckResult:
    """The daily scan of logs, queues and bundles for what the redaction detectors flag (the retention deployment)."""
    scan = ev.unsafe_scan
    if scan is None:
        return missing("no unsafe-logging scan on record: schedule the retention deployment (it scans daily)")
    at = parse_ts(str(scan.get("at") or ""))
    lines = sum((scan.get("lines_scanned") or {}).values())
    found = int(scan.get("findings_total") or 0)
    if found:
        return failed(f"the unsafe-logging scan found {found} value(s) the redaction detectors flag: fix what logs "
                      f"them unredacted", ev.unsafe_scan_key)
    if at is None or ev.now - at > RETENTION_STALE:
        return failed(f"the newest unsafe-logging scan is from {at:%Y-%m-%d}: it has stopped running" if at else
                      "the unsafe-logging scan report has no time", ev.unsafe_scan_key)
    if not lines:
        return missing("the newest unsafe-logging scan found nothing logged to scan yet")
    return verified(f"the daily unsafe-logging scan ({at:%Y-%m-%d %H:%M}Z) found nothing in {lines} sampled lines",
                    ev.unsafe_scan_key)


def admin_token(ev: Evidence) -> CheckResult:
    p = ev.probe
    if p is None or p.admin_status is None:
        why = p.error if p is not None and p.error else "canary.router is not the release gateway"
        return missing(f"the gateway's admin API was not probed ({why})")
    if p.admin_status != 401:
        return failed(f"GET {p.url}/admin/state without a token answered {p.admin_status}, not 401", p.url)
    return verified(f"GET {p.url}/admin/state without a token answered 401", p.url)


def model_keys(ev: Evidence) -> CheckResult:
    """Client API keys: required where the gateway listens beyond loopback, some active, none overdue."""
    access, listen = ev.config.access, ev.config.gateway.listen
    if not access.keys_required(listen):
        if access.required is False and not is_loopback(listen):
            return failed(f"access.required is false while the gateway listens on {listen}: anyone who can reach "
                          "it can call the model; remove it (keys are then required)", "access.required")
        return missing(f"the gateway listens on {listen} (loopback) and takes no client API keys; production "
                       "gateways listening beyond loopback require them (access.required)", "access.required")
    if ev.api_keys is None:
        return missing("the API key registry could not be read", "api_keys.json")
    active = [k for k in ev.api_keys if k.state(ev.now) == "active"]
    if not active:
        return failed("/v1 requires API keys but none is active: every caller gets 401 "
                      "(launchgate keys create)", "api_keys.json")
    days = access.max_key_age_days
    overdue = sorted((k for k in active if ev.now - k.created_at > timedelta(days=days)), key=lambda k: k.created_at)
    if overdue:
        ids = ", ".join(f"{k.id} ({(ev.now - k.created_at).days} d, {k.tenant})" for k in overdue[:5])
        return failed(f"{len(overdue)} active API keys are older than access.max_key_age_days={days}: {ids}; "
                      "rotate them (launchgate keys create --rotate ID)", "api_keys.json")
    oldest = max((ev.now - k.created_at).days for k in active)
    return verified(f"/v1 requires API keys: {len(active)} active, stored as hashes, the oldest {oldest} days "
                    f"(max {days})", "api_keys.json")


def metrics_endpoint(ev: Evidence) -> CheckResult:
    p = ev.probe
    if p is None or p.metrics_status is None:
        return missing("the gateway's /metrics was not probed (no gateway reachable on loopback)")
    if p.metrics_status != 200 or not any(ln.startswith("# TYPE") and ln.endswith(" histogram")
                                          for ln in p.metrics_text.splitlines()):
        return failed(f"{p.url}/metrics answered {p.metrics_status} without latency histograms", p.url)
    return verified(f"{p.url}/metrics exposes latency histograms, error and token counters", p.url)


def _recent(ev: Evidence, kind: str, days: int, what: str) -> CheckResult:
    at = ev.reviews.get(kind)
    if at is None:
        return missing(f"no {what} on record yet")
    if ev.now - at > timedelta(days=days):
        return failed(f"the newest {what} is from {at:%Y-%m-%d}, older than {days} days", kind)
    return verified(f"{what} on {at:%Y-%m-%d}", kind)


def drift_review(ev: Evidence) -> CheckResult:
    return _recent(ev, "drift", 8, "weekly drift review")


def cost_review(ev: Evidence) -> CheckResult:
    return _recent(ev, "cost", 35, "monthly cost review")


def extended_eval(ev: Evidence) -> CheckResult:
    return _recent(ev, "extended-eval", 35, "monthly extended evaluation")


def post_launch_review(ev: Evidence) -> CheckResult:
    return _recent(ev, "post-launch", 14, "post-launch review")


def quality_monitoring(ev: Evidence) -> CheckResult:
    ok = [k for k in ("drift", "extended-eval") if ev.reviews.get(k) and ev.now - ev.reviews[k] <= timedelta(days=35)]
    if ok:
        return verified(f"production quality monitored ({', '.join(ok)} review within 35 days)", ok[0])
    if any(ev.reviews.get(k) for k in ("drift", "extended-eval")):
        return failed("the newest drift review and extended evaluation are older than 35 days: quality is not "
                      "monitored any more", "reviews")
    return missing("no drift review or extended evaluation within 35 days: schedule the weekly-drift deployment")
