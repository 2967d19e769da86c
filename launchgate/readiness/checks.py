"""The registry of automated readiness checks: catalogue ``check:`` name -> pure function."""

from __future__ import annotations

from collections.abc import Callable

from launchgate.readiness import checks_quality as qual
from launchgate.readiness import checks_release as rel
from launchgate.readiness import checks_runtime as run
from launchgate.readiness.evidence import Evidence
from launchgate.readiness.models import CheckResult

Check = Callable[[Evidence], CheckResult]

CHECKS: dict[str, Check] = {
    fn.__name__: fn for fn in (
        rel.input_schema_enforced, rel.output_schema_enforced, rel.context_capped, rel.output_tokens_capped,
        rel.rate_limits, rel.circuit_breaker,
        rel.prompt_versioned, rel.dataset_hash, rel.eval_automated, rel.eval_passed, rel.schema_validity,
        rel.cost_per_request, rel.eval_report, rel.baseline_stored, rel.golden_set, rel.golden_edge,
        rel.golden_harmful, rel.load_2x, rel.latency_slos, rel.rollback_drill, rel.canary_defined,
        rel.canary_summary, rel.budget_caps, rel.cost_alert_route, rel.budget_owner, rel.timeouts, rel.retries,
        rel.approvals_configured, rel.owners_set, rel.model_pinned, rel.config_hashed, rel.review_template,
        rel.dashboards, rel.alert_rules, rel.runbook,
        run.request_logging, run.request_ids, run.prompt_hash_logged, run.schema_ok_logged, run.error_codes_logged,
        run.cost_tracking, run.runtime_rates, run.pii_redaction, run.no_secrets, run.secrets_by_reference,
        run.golden_representative, run.artifacts_retained, run.last_known_good, run.s3_encryption,
        run.s3_public_block, run.s3_versioning, run.s3_lifecycle, run.log_retention, run.unsafe_logging_scan,
        run.admin_token, run.model_keys, run.metrics_endpoint,
        run.drift_review, run.cost_review, run.extended_eval, run.post_launch_review, run.quality_monitoring,
        qual.user_feedback, qual.review_queue, qual.shadow_evaluation, qual.replay_failures,
    )
}
# Judged last, from the other items' statuses (review.py), not from evidence.
SUMMARY_CHECK = "checklist_complete"
