"""The eval gate as one step: budget, baseline, golden set against the variants, verdicts, evidence.

``run_eval`` is what the release runs (tasks/evaluate.py, under Prefect); it publishes nothing
itself. Progress goes to a plain ``on_progress(done, total)`` callback: the orchestrator turns it
into an artifact or a bar.

The step is four phases, so a caller can place them (``launchgate check`` runs the model calls
beside the contracts step and the statistics in a worker process, launchgate/release/check.py):

    plan_eval     baseline policy and the budget verdict            (reads the store)
    call_models   the golden set against the live variants          (I/O: waits on the models)
    summarise     summaries, pairs, scores by tag, the chart        (pure; numpy, matplotlib)
    judge         paired statistics and GX's schema expectation     (pure; scipy, Great Expectations)
    record_eval   verdicts and the evidence files                   (writes the bundle)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field

from launchgate.config import Evaluation, Variant
from launchgate.eval.baseline import StoredBaseline, choose_baseline
from launchgate.eval.evidence import write_eval_evidence
from launchgate.eval.gate import Comparison, SchemaExpectation, compare, eval_verdicts
from launchgate.eval.report import by_tag, tag_chart_png
from launchgate.eval.runner import (
    CaseResult,
    PairedOutcomes,
    VariantSummary,
    estimate_cost,
    evaluate_pair,
    pair_outcomes,
    summarize,
    summarize_records,
)
from launchgate.eval.scoring import FieldRules
from launchgate.observability.baggage import release_baggage
from launchgate.verdicts import Phase, StepResult, Verdict

if TYPE_CHECKING:  # preflight pulls in the store and notifier stacks; only the type is needed here
    from launchgate.release.preflight import ReleaseRun

STEP = "eval_gate"
BUDGET_EVIDENCE = "eval/eval_budget.json"
SCHEMA_EVIDENCE = "eval/schema_validation.json"

OnProgress = Callable[[int, int], None]  # (calls done over every variant, calls planned)


class EvalOutcome(StepResult):
    """The eval step's result; ``summaries``, ``wall_s`` and ``model_wait_s`` feed benchmarks and reports."""

    step: str = STEP
    summaries: list[VariantSummary] = Field(default_factory=list)
    wall_s: float = 0.0
    model_wait_s: float = 0.0
    comparison: str | None = Field(default=None, description="the paired comparison in one sentence")
    warnings: list[str] = Field(default_factory=list, description="for the orchestrator's log")


@dataclass
class EvalPlan:
    """What the eval will call and compare with, decided before any model call."""

    stored: StoredBaseline | None  # the last-promoted record standing in for a stable run
    baseline: dict[str, Any]  # the report's ``baseline`` entry
    live: dict[str, tuple[Variant, str]]  # label -> (variant, system prompt) to call now
    budget: Verdict
    warnings: list[str] = field(default_factory=list)


@dataclass
class EvalCalls:
    results: dict[str, list[CaseResult]]  # by label; a stored baseline's rows are added as "stable"
    wall_s: float


@dataclass
class EvalDraft:
    """Everything about the results that needs no statistics test: summaries, pairs, tags, chart."""

    candidate: VariantSummary
    baseline: VariantSummary
    paired: PairedOutcomes
    schema_flags: list[tuple[str, bool]]  # (case id, schema ok) per completed candidate call
    tags: dict[str, dict[str, dict[str, float]]]
    chart: bytes


@dataclass
class Judgement:
    comparison: Comparison | None
    schema: dict[str, Any] | None  # launchgate.eval.contracts.expect_schema_valid's result
    schema_error: str | None = None  # GX itself failed: the plain rate decides, and the log says why


def budget_verdict(estimate_usd: float, cap_usd: float) -> Verdict:
    if estimate_usd > cap_usd:
        return Verdict(check="eval_budget", phase=Phase.FAILED, value=round(estimate_usd, 4), threshold=cap_usd,
                       reason=f"The eval could cost up to ${estimate_usd:.2f}, above its cap of ${cap_usd:.2f}: "
                              f"raise evaluation.budget_usd or shrink the golden set.")
    return Verdict(check="eval_budget", phase=Phase.SUCCESSFUL, value=round(estimate_usd, 4), threshold=cap_usd,
                   reason=f"Eval cost estimate ${estimate_usd:.4f} is within its cap of ${cap_usd:.2f}.")


def plan_eval(run: ReleaseRun) -> EvalPlan:
    cfg = run.config
    stored, baseline = choose_baseline(run.store, cfg, run.hashes["golden_set"])
    warnings = []
    if "fallback_reason" in baseline:
        warnings.append(f"baseline: last_promoted unavailable ({baseline['fallback_reason']}); "
                        f"running the stable endpoint")
    live: dict[str, tuple[Variant, str]] = {"candidate": (cfg.candidate, run.prompts["candidate"])}
    if stored is None:
        live["stable"] = (cfg.stable, run.prompts["stable"])
    estimate = sum(estimate_cost(run.cases, prompt, cfg.pricing, cfg.contracts.max_output_tokens,
                                 cfg.evaluation.repeats) for _, prompt in live.values())
    return EvalPlan(stored=stored, baseline=baseline, live=live,
                    budget=budget_verdict(estimate, cfg.evaluation.budget_usd), warnings=warnings)


def stop_at_budget(run: ReleaseRun, plan: EvalPlan) -> EvalOutcome:
    """The eval may cost more than its cap: no model is called, the estimate is the evidence."""
    run.bundle.put_json(BUDGET_EVIDENCE, plan.budget.model_dump(mode="json"))
    return EvalOutcome(verdicts=[plan.budget], evidence=[BUDGET_EVIDENCE], summary=plan.budget.reason,
                       warnings=plan.warnings)


def call_models(run: ReleaseRun, plan: EvalPlan, on_progress: OnProgress | None = None) -> EvalCalls:
    cfg = run.config
    ev = cfg.evaluation
    total = len(run.cases) * ev.repeats * len(plan.live)
    counts = dict.fromkeys(plan.live, 0)

    def per_variant(label: str, done: int, _total: int) -> None:
        # Called from the eval's single event loop thread: no lock needed around the counts.
        counts[label] = done
        if on_progress is not None:
            on_progress(sum(counts.values()), total)

    if on_progress is not None:
        on_progress(0, total)  # before any model call: lets the orchestrator size its progress display
    with release_baggage(run.release_id):  # every eval request carries the release id as W3C baggage
        results, wall = asyncio.run(evaluate_pair(
            plan.live, run.cases, validator=run.validator, pricing=cfg.pricing, concurrency=ev.concurrency,
            max_output_tokens=cfg.contracts.max_output_tokens, max_context_chars=cfg.contracts.max_context_chars,
            repeats=ev.repeats, progress=per_variant, rules=FieldRules(ev.fields, ev.tag_fields), judge=ev.judge,
        ))
    if plan.stored is not None:
        results["stable"] = plan.stored.results
    return EvalCalls(results=results, wall_s=wall)


def summarise(run: ReleaseRun, plan: EvalPlan, calls: EvalCalls) -> EvalDraft:
    cfg = run.config
    results = calls.results
    cand = summarize("candidate", cfg.candidate, results["candidate"])
    if plan.stored is not None:
        base = summarize_records("stable", plan.stored.model, plan.stored.prompt_version, results["stable"])
    else:
        base = summarize("stable", cfg.stable, results["stable"])
    tags = by_tag(results, cfg.evaluation.confidence)
    return EvalDraft(
        candidate=cand, baseline=base, paired=pair_outcomes(results["candidate"], results["stable"]),
        schema_flags=[(r.case_id, r.schema_ok) for r in results["candidate"] if r.status == "ok"],
        tags=tags, chart=tag_chart_png(tags, list(results)),
    )


def judge(paired: PairedOutcomes, schema_flags: list[tuple[str, bool]], ev: Evaluation) -> Judgement:
    """Paired statistics and GX's schema expectation: pure, and picklable both ways (a worker may run it)."""
    comparison = compare(paired, ev) if paired.case_ids else None
    if not schema_flags:
        return Judgement(comparison=comparison, schema=None)
    from launchgate.eval.contracts import expect_schema_valid  # GX import is slow: only when the eval ran

    try:
        schema = expect_schema_valid(schema_flags, ev.min_schema_valid_rate / 100)
    except Exception as exc:  # noqa: BLE001 - the plain rate still decides; the caller logs why
        return Judgement(comparison=comparison, schema=None,
                         schema_error=f"GX schema expectation failed ({exc}); using the plain rate")
    return Judgement(comparison=comparison, schema=schema)


def record_eval(run: ReleaseRun, plan: EvalPlan, calls: EvalCalls, draft: EvalDraft, judgement: Judgement
                ) -> EvalOutcome:
    """Verdicts from the draft and the judgement; evidence written to the bundle."""
    ev = run.config.evaluation
    written: list[str] = []
    schema_check: SchemaExpectation | None = None
    if judgement.schema is not None:
        gx = judgement.schema
        run.bundle.put_json(SCHEMA_EVIDENCE, gx["validation_result"])
        written.append(SCHEMA_EVIDENCE)
        schema_check = SchemaExpectation(success=gx["success"], observed=gx["observed"], mostly=gx["mostly"],
                                         element_count=gx["element_count"], failing_cases=gx["failing_cases"])
    cand, base, comparison = draft.candidate, draft.baseline, judgement.comparison
    verdicts = [plan.budget, *eval_verdicts(cand, base, ev, comparison, schema_check)]
    evidence = write_eval_evidence(run, [cand, base], verdicts, calls.results, calls.wall_s, comparison=comparison,
                                   baseline=plan.baseline, tags=draft.tags, chart=draft.chart)
    sentence = comparison.sentence() if comparison else None
    summary = (f"candidate {cand.score:.3f} vs {plan.baseline['kind']} {base.score:.3f} in {calls.wall_s:.2f}s"
               + (f"; {sentence}" if sentence else ""))
    warnings = plan.warnings + ([judgement.schema_error] if judgement.schema_error else [])
    return EvalOutcome(
        verdicts=verdicts, evidence=written + evidence.names, summary=summary, markdown=evidence.markdown,
        tables={"eval-summary": evidence.table}, summaries=[cand, base], wall_s=calls.wall_s, comparison=sentence,
        warnings=warnings,
        # A stored baseline was not called now: only live variants' waiting is model time.
        model_wait_s=cand.model_wait_s + (base.model_wait_s if plan.stored is None else 0.0),
    )


def run_eval(run: ReleaseRun, *, on_progress: OnProgress | None = None) -> EvalOutcome:
    """The golden set against the candidate and the baseline; verdicts, and evidence in the bundle."""
    plan = plan_eval(run)
    if plan.budget.blocks:
        return stop_at_budget(run, plan)
    calls = call_models(run, plan, on_progress)
    draft = summarise(run, plan, calls)
    return record_eval(run, plan, calls, draft, judge(draft.paired, draft.schema_flags, run.config.evaluation))
