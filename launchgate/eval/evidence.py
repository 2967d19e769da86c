"""The eval gate's evidence: report (JSON + Markdown), per-case rows and the score-by-tag chart.

Written to the release bundle here; what a person should see in the orchestrator (the
Markdown report and the per-variant summary table) is returned as data for it to publish.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launchgate.eval.gate import Comparison
from launchgate.eval.report import by_tag, eval_markdown, eval_report, tag_chart_png
from launchgate.eval.runner import CaseResult, VariantSummary
from launchgate.verdicts import Verdict

if TYPE_CHECKING:  # preflight pulls in the store and notifier stacks; only the type is needed here
    from launchgate.release.preflight import ReleaseRun

REPORT = "eval/eval_report.json"
CASES = "eval/cases.jsonl"
MARKDOWN = "eval/eval_report.md"
CHART = "eval/score_by_tag.png"


@dataclass
class EvalEvidence:
    names: list[str]  # bundle names written, in order
    markdown: str  # eval/eval_report.md, for the orchestrator's Markdown artifact
    table: list[dict[str, Any]] = field(default_factory=list)  # one row per variant, for a table artifact


def eval_meta(run: ReleaseRun, baseline: dict[str, Any] | None) -> dict[str, Any]:
    """What the report says it measured: the candidate, the inputs' hashes and the gate's settings."""
    ev = run.config.evaluation
    return {
        "prompt_version": run.config.candidate.prompt.version,
        "prompt_sha256": run.hashes["prompt_candidate"],
        "dataset_sha256": run.hashes["golden_set"],
        "config_sha256": run.hashes["config"],
        "model_deployment": run.config.candidate.model,
        "endpoint": run.config.candidate.endpoint,
        "baseline": ev.baseline,
        "baseline_note": (baseline or {}).get("note"),
        "min_delta": ev.min_delta,
        "mode": ev.mode,
        "margin": ev.margin,
        "confidence": ev.confidence,
        "require_significance": ev.require_significance,
        "repeats": ev.repeats,
        "judge": ev.judge.model if ev.judge else None,
    }


def summary_table(summaries: list[VariantSummary]) -> list[dict[str, Any]]:
    return [{"variant": s.variant, "model": s.model, "prompt": s.prompt_version, "score": round(s.score, 4),
             "schema_valid": s.schema_valid_rate, "errors": s.errors, "cost_per_request_usd": s.cost_per_request,
             "eval_cost_usd": s.total_cost_usd, "p50_ms": s.latency_p50_ms, "p95_ms": s.latency_p95_ms,
             "p99_ms": s.latency_p99_ms, "flaky_cases": len(s.flaky_cases)} for s in summaries]


def write_eval_evidence(run: ReleaseRun, summaries: list[VariantSummary], verdicts: list[Verdict],
                        results: dict[str, list[CaseResult]], wall: float, *, comparison: Comparison | None = None,
                        baseline: dict[str, Any] | None = None, tags: dict[str, Any] | None = None,
                        chart: bytes | None = None) -> EvalEvidence:
    """``tags`` and ``chart``: scores by tag and their PNG, when the caller computed them already."""
    if tags is None:
        tags = by_tag(results, run.config.evaluation.confidence)
    meta = eval_meta(run, baseline)
    cmp = comparison.as_dict() if comparison else None
    report = eval_report(run.release_id, summaries, verdicts, tags, meta, wall, comparison=cmp, baseline=baseline)
    b = run.bundle
    b.put_json(REPORT, report)
    lines = "".join(json.dumps(r.model_dump(mode="json"), sort_keys=True) + "\n"
                    for rows in results.values() for r in rows)
    b.put_text(CASES, lines, "application/x-ndjson")
    failures = [r for r in results["candidate"] if not r.passed]
    md = eval_markdown(run.release_id, summaries, verdicts, tags, failures, comparison=cmp, meta=meta)
    b.put_text(MARKDOWN, md, "text/markdown")
    b.put_bytes(CHART, chart if chart is not None else tag_chart_png(tags, list(results)), "image/png")
    return EvalEvidence(names=[REPORT, CASES, MARKDOWN, CHART], markdown=md, table=summary_table(summaries))
