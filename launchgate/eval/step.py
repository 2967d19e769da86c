"""The eval gate as one step: budget, baseline, golden set against the variants, verdicts, evidence.

``run_eval`` is what both the release (tasks/evaluate.py, under Prefect) and ``launchgate check``
(in-process, no Prefect) run; it publishes nothing itself. Progress goes to a plain
``on_progress(done, total)`` callback: the orchestrator turns it into an artifact or a bar.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import Field

from launchgate.config import Variant
from launchgate.eval.baseline import choose_baseline
from launchgate.eval.evidence import write_eval_evidence
from launchgate.eval.gate import SchemaExpectation, compare, eval_verdicts
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


def budget_verdict(estimate_usd: float, cap_usd: float) -> Verdict:
    if estimate_usd > cap_usd:
        return Verdict(check="eval_budget", phase=Phase.FAILED, value=round(estimate_usd, 4), threshold=cap_usd,
                       reason=f"The eval could cost up to ${estimate_usd:.2f}, above its cap of ${cap_usd:.2f}: "
                              f"raise evaluation.budget_usd or shrink the golden set.")
    return Verdict(check="eval_budget", phase=Phase.SUCCESSFUL, value=round(estimate_usd, 4), threshold=cap_usd,
                   reason=f"Eval cost estimate ${estimate_usd:.4f} is within its cap of ${cap_usd:.2f}.")


def eval_estimate_usd(run: ReleaseRun, labels: list[str]) -> float:
    """Upper bound of the eval's spend over the variants that will be called."""
    cfg = run.config
    return sum(estimate_cost(run.cases, run.prompts[k], cfg.pricing, cfg.contracts.max_output_tokens,
                             cfg.evaluation.repeats) for k in labels)


def schema_expectation(run: ReleaseRun, results: list[CaseResult]) -> tuple[SchemaExpectation | None, str | None]:
    """Schema validity through Great Expectations (``mostly``); evidence in eval/schema_validation.json.

    Returns (expectation, warning): when GX itself fails the plain rate still decides, and the
    warning says so.
    """
    from launchgate.eval.contracts import expect_schema_valid  # GX import is slow: only when the eval ran

    flags = [(r.case_id, r.schema_ok) for r in results if r.status == "ok"]
    if not flags:
        return None, None
    try:
        gx = expect_schema_valid(flags, run.config.evaluation.min_schema_valid_rate / 100)
    except Exception as exc:  # noqa: BLE001 - the plain rate still decides; the caller logs why
        return None, f"GX schema expectation failed ({exc}); using the plain rate"
    run.bundle.put_json(SCHEMA_EVIDENCE, gx["validation_result"])
    return SchemaExpectation(success=gx["success"], observed=gx["observed"], mostly=gx["mostly"],
                             element_count=gx["element_count"], failing_cases=gx["failing_cases"]), None


def run_eval(run: ReleaseRun, *, on_progress: OnProgress | None = None) -> EvalOutcome:
    """The golden set against the candidate and the baseline; verdicts, and evidence in the bundle."""
    cfg = run.config
    ev = cfg.evaluation
    warnings: list[str] = []
    stored, baseline_info = choose_baseline(run.store, cfg, run.hashes["golden_set"])
    if "fallback_reason" in baseline_info:
        warnings.append(f"baseline: last_promoted unavailable ({baseline_info['fallback_reason']}); "
                        f"running the stable endpoint")
    live: dict[str, tuple[Variant, str]] = {"candidate": (cfg.candidate, run.prompts["candidate"])}
    if stored is None:
        live["stable"] = (cfg.stable, run.prompts["stable"])
    budget = budget_verdict(eval_estimate_usd(run, list(live)), ev.budget_usd)
    if budget.blocks:
        run.bundle.put_json(BUDGET_EVIDENCE, budget.model_dump(mode="json"))
        return EvalOutcome(verdicts=[budget], evidence=[BUDGET_EVIDENCE], summary=budget.reason, warnings=warnings)

    total = len(run.cases) * ev.repeats * len(live)
    counts = dict.fromkeys(live, 0)

    def per_variant(label: str, done: int, _total: int) -> None:
        # Called from the eval's single event loop thread: no lock needed around the counts.
        counts[label] = done
        if on_progress is not None:
            on_progress(sum(counts.values()), total)

    if on_progress is not None:
        on_progress(0, total)  # before any model call: lets the orchestrator size its progress display
    results, wall = asyncio.run(evaluate_pair(
        live, run.cases, validator=run.validator, pricing=cfg.pricing, concurrency=ev.concurrency,
        max_output_tokens=cfg.contracts.max_output_tokens, max_context_chars=cfg.contracts.max_context_chars,
        repeats=ev.repeats, progress=per_variant, rules=FieldRules(ev.fields, ev.tag_fields), judge=ev.judge,
    ))
    cand = summarize("candidate", cfg.candidate, results["candidate"])
    if stored is not None:
        results["stable"] = stored.results
        base = summarize_records("stable", stored.model, stored.prompt_version, stored.results)
    else:
        base = summarize("stable", cfg.stable, results["stable"])
    paired = pair_outcomes(results["candidate"], results["stable"])
    comparison = compare(paired, ev) if paired.case_ids else None
    schema_check, schema_warning = schema_expectation(run, results["candidate"])
    if schema_warning:
        warnings.append(schema_warning)
    verdicts = [budget, *eval_verdicts(cand, base, ev, comparison, schema_check)]
    evidence = write_eval_evidence(run, [cand, base], verdicts, results, wall, comparison=comparison,
                                   baseline=baseline_info)
    sentence = comparison.sentence() if comparison else None
    summary = (f"candidate {cand.score:.3f} vs {baseline_info['kind']} {base.score:.3f} in {wall:.2f}s"
               + (f"; {sentence}" if sentence else ""))
    return EvalOutcome(
        verdicts=verdicts, evidence=([SCHEMA_EVIDENCE] if schema_check else []) + evidence.names,
        summary=summary, markdown=evidence.markdown, tables={"eval-summary": evidence.table},
        summaries=[cand, base], wall_s=wall, comparison=sentence, warnings=warnings,
        # A stored baseline was not called now: only live variants' waiting is model time.
        model_wait_s=cand.model_wait_s + (base.model_wait_s if stored is None else 0.0),
    )
