"""Every automated readiness check: one Evidence that makes it pass, one that makes it fail (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from launchgate.access.registry import ApiKey
from launchgate.config import ReleaseConfig, load_config
from launchgate.readiness.checks import CHECKS
from launchgate.readiness.evidence import BucketFacts, DrillFact, Evidence, ProbeFacts, QualityFacts
from launchgate.readiness.models import Status
from launchgate.verdicts import Phase, Verdict
from tests.conftest import EXAMPLE

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SHA = "ab" * 32


def cfg(**overrides: Any) -> ReleaseConfig:
    return load_config(EXAMPLE / "release.yaml", overrides, check_files=False)


BASE = cfg()
MANIFEST = {"candidate": {"prompt_version": "v2", "prompt_sha256": SHA},
            "hashes": {"input_schema": SHA, "output_schema": SHA, "golden_set": SHA, "config": SHA}}
EVAL = {"meta": {"dataset_sha256": SHA}, "variants": {"candidate": {"score": 0.95}},
        "verdicts": [{"check": "eval_score", "threshold": 0.02}], "baseline": {"kind": "stable", "model": "m"},
        "comparison": {"cases": 267, "delta": 0.1}}
LOAD = {"phase": "successful", "plan": {"target_rps": 10.0, "max_output_tokens": 400}}
CANARY = {"result": "promoted", "reason": "ok", "final_stats": {}, "verdicts": []}
REVIEW = {"lines": [{"label": x} for x in ("Release ID", "Prompt version", "Dataset hash", "Eval score",
                                             "Canary results", "Rollback tested")]}


def v(check: str, phase: Phase = Phase.SUCCESSFUL, value: Any = None) -> Verdict:
    return Verdict(check=check, phase=phase, value=value, reason=f"{check} {phase.value}")


def rows(n: int = 100, **fields: Any) -> list[dict[str, Any]]:
    base = {"request_id": "r", "status": 200, "latency_ms": 30.0, "error_code": None, "retries": 0,
            "prompt_version": "v2", "prompt_sha256": SHA, "schema_ok": True, "cost_usd": 0.0003,
            "prompt_redacted": '{"body": "my parcel is late", "subject": "late"}', "category": "shipping"}
    return [{**base, **fields} for _ in range(n)]


def ev(config: ReleaseConfig = BASE, **kw: Any) -> Evidence:
    return Evidence(config=config, now=NOW, bundle_key="svc/releases/r1/", **kw)


GOOD = ev(manifest=MANIFEST, eval_report=EVAL, load_report=LOAD, canary_summary=CANARY, review=REVIEW,
          verdicts=[v("eval_score"), v("schema_validity", value=0.995), v("cost_per_request")],
          golden_tags={"edge": 29, "harmful": 22}, golden_cases=267,
          golden_lengths=[len('{"body": "my parcel is late", "subject": "late"}') + i % 5 for i in range(200)],
          requests=rows(), request_log_note="svc/logs/requests/",
          artifact_texts={"eval/eval_report.json": '{"score": 0.9}'},
          secret_values=["s3cr3t-token-value"], config_text="service: support-bot\napi_key_env: KEY\n",
          bundles=[("r0", [])], last_known_good={"release_id": "r0"},
          bucket=BucketFacts(bucket="evidence", prefix="lg",
                             encryption=[{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}],
                             public_access_block={"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                                  "BlockPublicPolicy": True, "RestrictPublicBuckets": True},
                             versioning="Enabled",
                             lifecycle=[{"ID": "retention", "Status": "Enabled", "Filter": {"Prefix": "lg/"},
                                         "Expiration": {"Days": 400}}]),
          probe=ProbeFacts(url="http://127.0.0.1:8300", admin_status=401, metrics_status=200,
                           metrics_text="# TYPE launchgate_latency_seconds histogram\n", context_status=413,
                           request_id_returned=True, feedback_status=400),
          quality=QualityFacts(window_days=28, feedback_batches=4, feedback_days=3, queue_batches=5, queue_days=3,
                               items_checked=40, items_labelled=12, newest_feedback="f.jsonl", newest_queue="q.jsonl"),
          drills=[DrillFact(at=NOW - timedelta(days=2), phase="successful", rollback_s=0.4, key="drill.json")],
          runbook_path="runbook.md", runbook_sha256=SHA, alert_rules_text="- alert: ErrorRate\n  expr: error\n"
          "- alert: LatencyP95\n  expr: latency\n",
          reviews={"drift": NOW - timedelta(days=3), "cost": NOW - timedelta(days=10),
                   "extended-eval": NOW - timedelta(days=20), "post-launch": NOW - timedelta(days=5)})
SCAN = {"at": (NOW - timedelta(hours=5)).isoformat(), "lines_scanned": {"requests": 400}, "findings_total": 0}
GOOD.unsafe_scan, GOOD.unsafe_scan_key = SCAN, "svc/reviews/unsafe_logging/x.json"
GOOD.shadow_summary = {"decision": "not_worse", "phase": "successful", "reason": "ok", "test": {"pairs": 400}}
GOOD.replay_at, GOOD.replay_key = NOW - timedelta(days=6), "svc/reviews/replay/x/replay_report.json"
GOOD.config = cfg(**{"canary.strategy": "shadow_then_canary", "notifications.notifier": "slack",
                     "readiness.dashboard_url": "https://grafana/d/sb",
                     "readiness.alert_rules": "alerts.yaml", "access.required": True})
GOOD.api_keys = [ApiKey(id="0123456789ab", tenant="acme", sha256=SHA, created_at=NOW - timedelta(days=10),
                        created_by="alice")]
OLD = NOW - timedelta(days=90)
Change = Callable[[Evidence], Evidence]


def with_cfg(**overrides: Any) -> Change:
    return lambda e: replace(e, config=cfg(**{"notifications.notifier": "slack", "readiness.dashboard_url":
                                              "https://grafana/d/sb", "readiness.alert_rules": "alerts.yaml",
                                              **overrides}))


def bucket(**kw: Any) -> Change:
    return lambda e: replace(e, bucket=replace(e.bucket, **kw))  # type: ignore[arg-type]


FAIL: dict[str, Change] = {
    "input_schema_enforced": with_cfg(**{"contracts.input_schema_enforced": False}),
    "output_schema_enforced": with_cfg(**{"contracts.output_schema_enforced": False}),
    "context_capped": lambda e: replace(e, probe=replace(e.probe, context_status=200)),  # type: ignore[arg-type]
    "rate_limits": with_cfg(**{"guardrails.rate_limit": None}),
    "circuit_breaker": with_cfg(**{"guardrails.breaker.enabled": False}),
    "output_tokens_capped": lambda e: replace(e, load_report={**LOAD, "plan": {"max_output_tokens": 900}}),
    "prompt_versioned": lambda e: replace(e, manifest={**MANIFEST, "candidate": {"prompt_version": "v2"}}),
    "dataset_hash": lambda e: replace(e, eval_report={**EVAL, "meta": {"dataset_sha256": "cd" * 32}}),
    "eval_automated": lambda e: replace(e, eval_report={**EVAL, "verdicts": [{"check": "eval_budget"}]}),
    "eval_passed": lambda e: replace(e, verdicts=[v("eval_score", Phase.FAILED)]),
    "schema_validity": lambda e: replace(e, verdicts=[v("schema_validity", value=0.98)]),
    "cost_per_request": lambda e: replace(e, verdicts=[v("cost_per_request", Phase.FAILED)]),
    "eval_report": lambda e: replace(e, eval_report={**EVAL, "variants": {}}),
    "baseline_stored": lambda e: replace(e, eval_report={**EVAL, "comparison": None}),
    "golden_set": lambda e: replace(e, golden_cases=5),
    "golden_edge": lambda e: replace(e, golden_tags={"edge": 2, "harmful": 22}),
    "golden_harmful": lambda e: replace(e, golden_tags={"edge": 29}),
    "load_2x": lambda e: replace(e, load_report={**LOAD, "plan": {"target_rps": 6.0}}),
    "latency_slos": with_cfg(**{"load_test.slo.p95_ms": 3000}),
    "rollback_drill": lambda e: replace(e, drills=[DrillFact(at=OLD, phase="successful", rollback_s=1, key="k")]),
    "canary_defined": with_cfg(**{"rollback.error_rate_threshold": 80}),
    "canary_summary": lambda e: replace(e, canary_summary={"result": "promoted"}),
    "budget_caps": with_cfg(**{"budget.alert_usd": 50, "budget.daily_usd": 50}),
    "cost_alert_route": with_cfg(**{"notifications.mute": {"oncall": ["budget_alert"]}}),
    "budget_owner": with_cfg(**{"owners.budget": None}),
    "timeouts": with_cfg(**{"candidate.timeout_s": 300}),
    "retries": with_cfg(**{"candidate.max_retries": 8}),
    "approvals_configured": with_cfg(**{"approvals.approvers": {"engineering": ["alice"]}}),
    "owners_set": with_cfg(**{"owners.product": None}),
    "model_pinned": with_cfg(**{"candidate.model": "gpt:latest"}),
    "config_hashed": lambda e: replace(e, manifest={**MANIFEST, "hashes": {}}),
    "review_template": lambda e: replace(e, review={"lines": [{"label": "Release ID"}]}),
    "dashboards": with_cfg(**{"readiness.dashboard_url": "grafana board 7"}),
    "alert_rules": lambda e: replace(e, alert_rules_text="- alert: ErrorRate\n  expr: error\n"),
    "runbook": lambda e: replace(e, runbook_sha256=None),
    "request_logging": lambda e: replace(e, requests=rows(latency_ms=None)),
    "request_ids": lambda e: replace(e, requests=rows(99) + rows(1, request_id=None)),
    "prompt_hash_logged": lambda e: replace(e, requests=rows(prompt_sha256=None)),
    "schema_ok_logged": lambda e: replace(e, requests=rows(schema_ok=None)),
    "error_codes_logged": lambda e: replace(e, requests=rows(99) + rows(1, status=502, error_code=None)),
    "cost_tracking": lambda e: replace(e, requests=rows(cost_usd=None)),
    "runtime_rates": lambda e: replace(e, requests=rows(90) + rows(10, retries=1)),
    "pii_redaction": lambda e: replace(e, requests=rows(prompt_redacted="mail me at jane.doe@example.com")),
    "no_secrets": lambda e: replace(e, artifact_texts={"notes.md": "token s3cr3t-token-value"}),
    "secrets_by_reference": lambda e: replace(e, config_text="api_key: sk-proj-abcdefghijklmnopqrstuvwx\n"),
    "golden_representative": lambda e: replace(e, requests=rows(prompt_redacted="x" * 5000)),
    "artifacts_retained": lambda e: replace(e, bundles=[("r0", ["eval/eval_report.json"])]),
    "last_known_good": lambda e: replace(e, last_known_good={"promoted_at": "2026-11-01"}),
    "s3_encryption": bucket(encryption=None),
    "s3_public_block": bucket(public_access_block={"BlockPublicAcls": True}),
    "s3_versioning": bucket(versioning="Suspended"),
    "s3_lifecycle": bucket(lifecycle=[{"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "other/"},
                                       "Expiration": {"Days": 30}}]),
    "log_retention": lambda e: replace(e, bucket=replace(e.bucket, lifecycle=[]), retention_run_at=OLD),  # type: ignore[arg-type]
    "unsafe_logging_scan": lambda e: replace(e, unsafe_scan={**SCAN, "findings_total": 2}),
    "admin_token": lambda e: replace(e, probe=replace(e.probe, admin_status=200)),  # type: ignore[arg-type]
    "model_keys": lambda e: replace(e, api_keys=[k.model_copy(update={"created_at": NOW - timedelta(days=91)})
                                                 for k in e.api_keys or []]),
    "metrics_endpoint": lambda e: replace(e, probe=replace(e.probe, metrics_status=404)),  # type: ignore[arg-type]
    "drift_review": lambda e: replace(e, reviews={**e.reviews, "drift": OLD}),
    "cost_review": lambda e: replace(e, reviews={**e.reviews, "cost": OLD}),
    "extended_eval": lambda e: replace(e, reviews={**e.reviews, "extended-eval": OLD}),
    "post_launch_review": lambda e: replace(e, reviews={**e.reviews, "post-launch": OLD}),
    "quality_monitoring": lambda e: replace(e, reviews={"drift": OLD, "extended-eval": OLD}),
    "user_feedback": lambda e: replace(e, quality=QualityFacts(window_days=28),
                                       probe=replace(e.probe, feedback_status=404)),  # type: ignore[arg-type]
    "review_queue": lambda e: replace(e, quality=replace(e.quality, items_labelled=0)),  # type: ignore[arg-type]
    "shadow_evaluation": lambda e: replace(e, shadow_summary={"decision": "worse", "phase": "failed", "reason": "no"}),
    "replay_failures": lambda e: replace(e, replay_at=OLD),  # never failed: an old replay is evidence out of date
}
NEVER_FAILS = {"replay_failures"}  # a check that finds no fault, only evidence or its absence (missing)


def test_every_check_has_a_failing_case() -> None:
    assert set(FAIL) == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_passes_on_good_evidence(name: str) -> None:
    result = CHECKS[name](GOOD)
    assert result.status is Status.VERIFIED, result.reason
    assert result.reason and (result.evidence or name == "no_secrets")


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_fails_on_bad_evidence(name: str) -> None:
    result = CHECKS[name](FAIL[name](GOOD))
    assert result.status is (Status.MISSING if name in NEVER_FAILS else Status.FAILED), result.reason


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_without_evidence_is_never_verified(name: str) -> None:
    # An empty store, no release, no gateway, no bucket: what cannot be verified is not done.
    bare = Evidence(config=BASE, now=NOW)
    config_facts = {"output_tokens_capped", "latency_slos", "budget_caps", "budget_owner", "timeouts", "retries",
                    "approvals_configured", "owners_set", "model_pinned", "rate_limits",
                    "circuit_breaker"}  # judged from release.yaml alone
    result = CHECKS[name](bare)
    if name in config_facts:
        assert result.status is Status.VERIFIED, result.reason
    else:
        assert result.status is not Status.VERIFIED, result.reason


def test_log_retention_is_proven_by_the_bucket_rule_or_a_recent_retention_run() -> None:
    local = replace(GOOD, bucket=None, retention_run_at=NOW - timedelta(hours=20))
    result = CHECKS["log_retention"](local)
    assert result.status is Status.VERIFIED and "retention deployment ran" in result.reason
    assert CHECKS["log_retention"](replace(local, retention_run_at=None)).status is Status.MISSING


def test_a_request_id_the_gateway_does_not_return_fails() -> None:
    silent = replace(GOOD, probe=replace(GOOD.probe, request_id_returned=False))  # type: ignore[arg-type]
    assert CHECKS["request_ids"](silent).status is Status.FAILED


def test_gateway_controls_are_missing_without_a_guardrails_section() -> None:
    bare = replace(GOOD, config=cfg(guardrails=None))
    assert {CHECKS[n](bare).status for n in ("rate_limits", "circuit_breaker")} == {Status.MISSING}


def test_context_cap_is_missing_until_the_gateway_enforces_it() -> None:
    no_guard = replace(GOOD, probe=replace(GOOD.probe, context_status=None))  # type: ignore[arg-type]
    result = CHECKS["context_capped"](no_guard)
    assert result.status is Status.MISSING and "no context guard" in result.reason


def test_alerts_loaded_in_prometheus_pass_and_a_missing_latency_alert_fails() -> None:
    prom = cfg(**{"observability.prometheus_url": "http://127.0.0.1:9090"})
    loaded = replace(GOOD, config=prom, alert_names=["LaunchgateErrorRateHigh", "LaunchgateLatencyP95High"])
    assert CHECKS["alert_rules"](loaded).status is Status.VERIFIED
    partial = replace(loaded, alert_names=["LaunchgateErrorRateHigh"])
    result = CHECKS["alert_rules"](partial)
    assert result.status is Status.FAILED and "LaunchgateLatencyP95High" in result.reason
    unread = replace(loaded, alert_names=None, prometheus_note="not reachable")
    assert CHECKS["alert_rules"](unread).status is Status.MISSING


def test_the_canary_summary_dashboard_link_is_the_dashboard_evidence() -> None:
    link = {"url": "http://grafana/d/x", "uid": "x"}
    linked = replace(GOOD, config=BASE, canary_summary={**CANARY, "dashboard": link})
    result = CHECKS["dashboards"](linked)
    assert result.status is Status.VERIFIED and result.evidence == "svc/releases/r1/canary/canary_summary.json"
    assert CHECKS["dashboards"](replace(GOOD, config=BASE)).status is Status.MISSING


def test_shadow_evaluation_needs_a_shadow_strategy_and_a_decided_shadow() -> None:
    canary = with_cfg(**{"canary.strategy": "canary"})(GOOD)
    result = CHECKS["shadow_evaluation"](canary)
    assert result.status is Status.MISSING and "shadow_then_canary" in result.reason
    assert CHECKS["shadow_evaluation"](replace(GOOD, shadow_summary=None)).status is Status.MISSING
    undecided = replace(GOOD, shadow_summary={"decision": "inconclusive", "phase": "inconclusive"})
    assert CHECKS["shadow_evaluation"](undecided).status is Status.MISSING
    assert "--filter errors" in CHECKS["replay_failures"](replace(GOOD, replay_at=None)).reason
