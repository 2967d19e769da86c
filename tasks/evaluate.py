"""Eval gate task: golden set against candidate and baseline, verdicts, evidence."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from launchgate.config import Variant
from launchgate.eval.baseline import StoredBaseline, load_last_promoted
from launchgate.eval.gate import Comparison, SchemaExpectation, compare, eval_verdicts
from launchgate.eval.report import by_tag, eval_markdown, eval_report, tag_chart_png
from launchgate.eval.runner import (
    CaseResult,
    VariantSummary,
    estimate_cost,
    evaluate_pair,
    pair_outcomes,
    summarize,
    summarize_records,
)
from launchgate.eval.scoring import FieldRules
from launchgate.notify import progress
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import Phase, Verdict


class EvalOutcome(BaseModel):
    summaries: list[VariantSummary]
    verdicts: list[Verdict]
    wall_s: float
    model_wait_s: float


def _budget_verdict(run: ReleaseRun, labels: list[str]) -> Verdict:
    cfg = run.config
    est = sum(
        estimate_cost(run.cases, run.prompts[k], cfg.pricing, cfg.contracts.max_output_tokens, cfg.evaluation.repeats)
        for k in labels
    )
    cap = cfg.evaluation.budget_usd
    if est > cap:
        return Verdict(check="eval_budget", phase=Phase.FAILED, value=round(est, 4), threshold=cap,
                       reason=f"The eval could cost up to ${est:.2f}, above its cap of ${cap:.2f}: raise "
                              f"evaluation.budget_usd or shrink the golden set.")
    return Verdict(check="eval_budget", phase=Phase.SUCCESSFUL, value=round(est, 4), threshold=cap,
                   reason=f"Eval cost estimate ${est:.4f} is within its cap of ${cap:.2f}.")


def _baseline(run: ReleaseRun) -> tuple[StoredBaseline | None, dict[str, Any]]:
    """The stored last-promoted record when asked for and usable; else a fresh stable run, saying why."""
    cfg = run.config
    fresh = {"kind": "stable", "endpoint": cfg.stable.endpoint, "model": cfg.stable.model,
             "prompt_version": cfg.stable.prompt.version}
    if cfg.evaluation.baseline != "last_promoted":
        return None, {**fresh, "note": "fresh run of the stable endpoint on the same cases"}
    stored, why = load_last_promoted(run.store, cfg.service, run.hashes["golden_set"])
    if stored is None:
        get_run_logger().warning("baseline: last_promoted unavailable (%s); running the stable endpoint", why)
        return None, {**fresh, "fallback_from": "last_promoted", "fallback_reason": why,
                      "note": f"fresh run of the stable endpoint: last_promoted was asked for, but {why}"}
    return stored, {**stored.source(),
                    "note": f"last promoted release {stored.release_id} (stored eval record, not re-run)"}


def _schema_expectation(run: ReleaseRun, results: list[CaseResult]) -> SchemaExpectation | None:
    """Schema validity through Great Expectations (``mostly``); evidence in eval/schema_validation.json."""
    from launchgate.eval.contracts import expect_schema_valid  # GX import is slow: only when the eval ran

    flags = [(r.case_id, r.schema_ok) for r in results if r.status == "ok"]
    if not flags:
        return None
    try:
        gx = expect_schema_valid(flags, run.config.evaluation.min_schema_valid_rate / 100)
    except Exception as exc:  # noqa: BLE001 - the plain rate still decides; say so in the log
        get_run_logger().warning("GX schema expectation failed (%s); using the plain rate", exc)
        return None
    run.bundle.put_json("eval/schema_validation.json", gx["validation_result"])
    return SchemaExpectation(success=gx["success"], observed=gx["observed"], mostly=gx["mostly"],
                             element_count=gx["element_count"], failing_cases=gx["failing_cases"])


@task(name="eval-gate", cache_policy=NO_CACHE, timeout_seconds=3600)
def eval_gate(run: ReleaseRun) -> EvalOutcome:
    log = get_run_logger()
    cfg = run.config
    ev = cfg.evaluation
    stored, baseline_info = _baseline(run)
    live: dict[str, tuple[Variant, str]] = {"candidate": (cfg.candidate, run.prompts["candidate"])}
    if stored is None:
        live["stable"] = (cfg.stable, run.prompts["stable"])
    budget = _budget_verdict(run, list(live))
    if budget.blocks:
        run.bundle.put_json("eval/eval_budget.json", budget.model_dump(mode="json"))
        return EvalOutcome(summaries=[], verdicts=[budget], wall_s=0.0, model_wait_s=0.0)

    total = len(run.cases) * ev.repeats * len(live)
    artifact_id = create_progress_artifact(progress=0.0, key="eval-progress",
                                           description=f"golden set: {total} calls")
    counts = dict.fromkeys(live, 0)
    lock = threading.Lock()
    last = [0.0]

    def on_progress(label: str, done: int, _total: int) -> None:
        with lock:
            counts[label] = done
            finished = sum(counts.values())
        progress.emit("eval", finished, total)
        now = time.monotonic()
        # Throttled: an artifact update is an API call, and cases finish hundreds per second.
        if now - last[0] > 0.5 or finished == total:
            last[0] = now
            update_progress_artifact(artifact_id=artifact_id, progress=100.0 * finished / total)

    results, wall = asyncio.run(evaluate_pair(
        live, run.cases, validator=run.validator, pricing=cfg.pricing, concurrency=ev.concurrency,
        max_output_tokens=cfg.contracts.max_output_tokens, max_context_chars=cfg.contracts.max_context_chars,
        repeats=ev.repeats, progress=on_progress, rules=FieldRules(ev.fields, ev.tag_fields), judge=ev.judge,
    ))
    update_progress_artifact(artifact_id=artifact_id, progress=100.0)
    cand = summarize("candidate", cfg.candidate, results["candidate"])
    if stored is not None:
        results["stable"] = stored.results
        base = summarize_records("stable", stored.model, stored.prompt_version, stored.results)
    else:
        base = summarize("stable", cfg.stable, results["stable"])
    paired = pair_outcomes(results["candidate"], results["stable"])
    comparison = compare(paired, ev) if paired.case_ids else None
    schema_check = _schema_expectation(run, results["candidate"])
    verdicts = [budget, *eval_verdicts(cand, base, ev, comparison, schema_check)]
    write_eval_evidence(run, [cand, base], verdicts, results, wall, comparison=comparison, baseline=baseline_info)
    log.info("eval: candidate %.3f vs %s %.3f in %.2fs%s", cand.score, baseline_info["kind"], base.score, wall,
             f"; {comparison.sentence()}" if comparison else "")
    return EvalOutcome(summaries=[cand, base], verdicts=verdicts, wall_s=wall,
                       model_wait_s=cand.model_wait_s + (base.model_wait_s if stored is None else 0.0))


def write_eval_evidence(run: ReleaseRun, summaries: list[VariantSummary], verdicts: list[Verdict],
                        results: dict[str, list[CaseResult]], wall: float, *, comparison: Comparison | None = None,
                        baseline: dict[str, Any] | None = None) -> None:
    ev = run.config.evaluation
    tags = by_tag(results, ev.confidence)
    meta = {
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
    cmp = comparison.as_dict() if comparison else None
    report = eval_report(run.release_id, summaries, verdicts, tags, meta, wall, comparison=cmp, baseline=baseline)
    b = run.bundle
    b.put_json("eval/eval_report.json", report)
    lines = "".join(json.dumps(r.model_dump(mode="json"), sort_keys=True) + "\n"
                    for rows in results.values() for r in rows)
    b.put_text("eval/cases.jsonl", lines, "application/x-ndjson")
    failures = [r for r in results["candidate"] if not r.passed]
    md = eval_markdown(run.release_id, summaries, verdicts, tags, failures, comparison=cmp, meta=meta)
    b.put_text("eval/eval_report.md", md, "text/markdown")
    b.put_bytes("eval/score_by_tag.png", tag_chart_png(tags, list(results)), "image/png")
    create_markdown_artifact(key="eval-report", markdown=md, description=f"eval report of {run.release_id}")
    create_table_artifact(
        key="eval-summary",
        table=[{"variant": s.variant, "model": s.model, "prompt": s.prompt_version, "score": round(s.score, 4),
                "schema_valid": s.schema_valid_rate, "errors": s.errors, "cost_per_request_usd": s.cost_per_request,
                "eval_cost_usd": s.total_cost_usd, "p50_ms": s.latency_p50_ms, "p95_ms": s.latency_p95_ms,
                "p99_ms": s.latency_p99_ms, "flaky_cases": len(s.flaky_cases)} for s in summaries],
        description=f"eval summary of {run.release_id}" + (f"; {comparison.sentence()}" if comparison else ""),
    )
