"""The evaluation gate: eval summaries + thresholds -> verdicts (pure).

The seed's rule stays verbatim: ``candidate_score < baseline_score + min_delta`` fails.

On top of it a paired comparison on the same cases (bootstrap CI of the score delta and an
exact McNemar test on pass/fail) is computed and reported every time, in the eval_score
verdict's value and reason. It only gates when asked:

* ``mode: superiority`` + ``require_significance: true``: the candidate must be significantly
  better (CI above 0 and McNemar p < 1 - confidence): ``eval_significance``.
* ``mode: non_inferiority``: changes that must not regress but need not improve. The seed rule
  runs with ``-margin`` in min_delta's place, and the one-sided lower confidence bound of the
  delta must clear ``-margin``: ``eval_non_inferiority``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from launchgate.config import Evaluation
from launchgate.eval.paired_stats import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    BootstrapCI,
    McNemar,
    NonInferiority,
    mcnemar_exact,
    non_inferiority,
    paired_bootstrap,
    significantly_better,
)
from launchgate.eval.runner import PairedOutcomes, VariantSummary
from launchgate.verdicts import Phase, Verdict, at_least, at_most, pct

EVIDENCE = "eval/eval_report.json"


def gate_eval(candidate_score: float, baseline_score: float, min_delta: float = 0.02) -> bool:
    """The seed's rule, as written in the readiness review."""
    return not candidate_score < baseline_score + min_delta


@dataclass(frozen=True)
class Comparison:
    """The paired comparison of candidate and baseline on the same cases."""

    ci: BootstrapCI
    mcnemar: McNemar
    non_inferiority: NonInferiority | None
    significant: bool
    unpaired: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.ci.n, "unpaired_cases": self.unpaired, "delta": round(self.ci.delta, 6),
            "bootstrap_ci": self.ci.as_dict(), "mcnemar": self.mcnemar.as_dict(),
            "non_inferiority": self.non_inferiority.as_dict() if self.non_inferiority else None,
            "significantly_better": self.significant,
        }

    def sentence(self) -> str:
        ci, m = self.ci, self.mcnemar
        return (f"paired delta {ci.delta:+.3f} ({ci.confidence:.0%} CI {ci.low:+.3f}..{ci.high:+.3f}), McNemar "
                f"p={m.p_value:.3g} ({m.candidate_only} cases only the candidate passes vs {m.baseline_only} "
                f"only the baseline) over {ci.n} paired cases")


def compare(paired: PairedOutcomes, cfg: Evaluation, *, resamples: int = DEFAULT_RESAMPLES,
            seed: int = DEFAULT_SEED) -> Comparison:
    ci = paired_bootstrap(paired.candidate_scores, paired.baseline_scores, confidence=cfg.confidence,
                          resamples=resamples, seed=seed)
    test = mcnemar_exact(paired.candidate_pass, paired.baseline_pass)
    ni = non_inferiority(ci, cfg.margin) if cfg.mode == "non_inferiority" else None
    return Comparison(ci=ci, mcnemar=test, non_inferiority=ni,
                      significant=significantly_better(ci, test, cfg.confidence), unpaired=paired.unpaired)


def score_verdict(cand: VariantSummary, base: VariantSummary, min_delta: float,
                  comparison: Comparison | None = None) -> Verdict:
    need = base.score + min_delta
    delta = cand.score - base.score
    value: dict[str, Any] = {"candidate": round(cand.score, 4), "baseline": round(base.score, 4),
                             "delta": round(delta, 4)}
    paired = ""
    if comparison is not None:
        value["paired"] = comparison.as_dict()
        paired = f" Paired comparison: {comparison.sentence()}."
    if not gate_eval(cand.score, base.score, min_delta):
        return Verdict(
            check="eval_score", phase=Phase.FAILED, value=value, threshold=min_delta, evidence=EVIDENCE,
            reason=(
                f"Eval score {cand.score:.3f} is below baseline {base.score:.3f} + min_delta {min_delta:.3f} "
                f"(short by {need - cand.score:.3f}) over {cand.cases} cases: fix the regression before "
                f"releasing; see the per-case results.{paired}"
            ),
        )
    return Verdict(
        check="eval_score", phase=Phase.SUCCESSFUL, value=value, threshold=min_delta, evidence=EVIDENCE,
        reason=(
            f"Eval score {cand.score:.3f} >= baseline {base.score:.3f} + min_delta {min_delta:.3f} "
            f"(delta {delta:+.3f}) over {cand.cases} cases.{paired}"
        ),
    )


def _no_pairs(check: str, what: str) -> Verdict:
    return Verdict(check=check, phase=Phase.INCONCLUSIVE, evidence=EVIDENCE,
                   reason=f"{what} could not be judged: no cases with results from both candidate and baseline.")


def significance_verdict(comparison: Comparison | None, confidence: float) -> Verdict:
    check = "eval_significance"
    if comparison is None or comparison.ci.n == 0:
        return _no_pairs(check, "Significance of the improvement")
    value = comparison.as_dict()
    if comparison.significant:
        return Verdict(check=check, phase=Phase.SUCCESSFUL, value=value, threshold=1 - confidence,
                       evidence=EVIDENCE,
                       reason=f"The candidate is significantly better than the baseline: {comparison.sentence()}.")
    return Verdict(
        check=check, phase=Phase.FAILED, value=value, threshold=1 - confidence, evidence=EVIDENCE,
        reason=(f"The candidate is not significantly better than the baseline (require_significance): "
                f"{comparison.sentence()}. Add cases to the golden set, or release in non_inferiority mode "
                f"if the change need not improve quality."),
    )


def non_inferiority_verdict(comparison: Comparison | None, margin: float) -> Verdict:
    check = "eval_non_inferiority"
    if comparison is None or comparison.non_inferiority is None or comparison.ci.n == 0:
        return _no_pairs(check, "Non-inferiority")
    ni = comparison.non_inferiority
    bound = f"{ni.confidence:.0%} lower bound of the delta {ni.lower_bound:+.3f}"
    if ni.passed:
        return Verdict(check=check, phase=Phase.SUCCESSFUL, value=comparison.as_dict(), threshold=-margin,
                       evidence=EVIDENCE,
                       reason=f"The candidate is non-inferior: {bound} > -{margin:.3f} over {comparison.ci.n} "
                              f"paired cases.")
    return Verdict(
        check=check, phase=Phase.FAILED, value=comparison.as_dict(), threshold=-margin, evidence=EVIDENCE,
        reason=(f"Non-inferiority not shown: {bound} <= -{margin:.3f} (margin) over {comparison.ci.n} paired "
                f"cases ({comparison.sentence()}). The candidate may be worse than the baseline by more than "
                f"the margin; fix the regression or add cases."),
    )


@dataclass(frozen=True)
class SchemaExpectation:
    """The schema-validity check as run by Great Expectations (launchgate.eval.contracts)."""

    success: bool
    observed: float | None  # fraction of completed calls with schema-valid output
    mostly: float
    element_count: int
    failing_cases: list[str]
    expectation: str = "expect_column_values_to_be_in_set(schema_ok, [true], mostly)"


def schema_verdict(cand: VariantSummary, min_rate_pct: float, gx: SchemaExpectation | None = None) -> Verdict:
    """Schema validity: the plain rate for the verdict; GX's ``mostly`` decides when it ran."""
    v = at_least("schema_validity", cand.schema_valid_rate, min_rate_pct / 100, what="Schema validation rate",
                 n=cand.completed, evidence=EVIDENCE, fix="Make the prompt enforce the output schema.")
    if gx is None or v.phase is Phase.INCONCLUSIVE:
        return v
    v.phase = Phase.SUCCESSFUL if gx.success else Phase.FAILED
    shown = ", ".join(gx.failing_cases[:5]) + (" ..." if len(gx.failing_cases) > 5 else "")
    v.reason += f" (Great Expectations {gx.expectation}, mostly={gx.mostly:.2f}: " + (
        "met)" if gx.success else f"not met; e.g. {shown})")
    v.evidence = "eval/schema_validation.json"
    return v


def cost_verdict(cand: VariantSummary, base: VariantSummary, max_increase_pct: float) -> Verdict:
    if cand.cost_per_request is None or not base.cost_per_request:
        return Verdict(
            check="cost_per_request", phase=Phase.INCONCLUSIVE, value=cand.cost_per_request,
            threshold=max_increase_pct, evidence=EVIDENCE,
            reason="Cost per request could not be compared: no completed calls or a zero-cost baseline.",
        )
    increase = cand.cost_per_request / base.cost_per_request - 1
    value = {"candidate_usd": cand.cost_per_request, "baseline_usd": base.cost_per_request,
             "increase": round(increase, 4)}
    v = at_most("cost_per_request", increase, max_increase_pct / 100, what="Cost per request increase",
                evidence=EVIDENCE, fix="Shorten the prompt or answers, or raise the threshold with a reason.")
    v.value = value
    v.reason = v.reason.replace(
        "Cost per request increase",
        f"Cost per request ${cand.cost_per_request:.6f} vs ${base.cost_per_request:.6f}: increase",
    )
    return v


def eval_verdicts(cand: VariantSummary, base: VariantSummary, cfg: Evaluation,
                  comparison: Comparison | None = None, schema_check: SchemaExpectation | None = None
                  ) -> list[Verdict]:
    out: list[Verdict] = []
    # When too many calls failed the measurement itself is broken: ERROR, never a pass.
    for s in (cand, base):
        v = at_most(f"eval_errors_{s.variant}", s.error_rate, cfg.max_error_rate / 100,
                    what=f"{s.variant} eval error rate", n=s.calls, evidence=EVIDENCE,
                    fix=f"Check the {s.variant} endpoint ({', '.join(sorted(s.errors_by_kind)) or 'errors'}).")
        if v.phase is Phase.FAILED:
            v.phase = Phase.ERROR
        out.append(v)
    if any(v.phase is Phase.ERROR for v in out):
        return out
    non_inferior = cfg.mode == "non_inferiority"
    out.append(score_verdict(cand, base, -cfg.margin if non_inferior else cfg.min_delta, comparison))
    if non_inferior:
        out.append(non_inferiority_verdict(comparison, cfg.margin))
    elif cfg.require_significance:
        out.append(significance_verdict(comparison, cfg.confidence))
    out.append(schema_verdict(cand, cfg.min_schema_valid_rate, schema_check))
    out.append(cost_verdict(cand, base, cfg.max_cost_increase))
    return out


__all__ = ["Comparison", "SchemaExpectation", "compare", "eval_verdicts", "gate_eval", "pct"]
