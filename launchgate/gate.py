"""The evaluation gate: eval summaries + thresholds -> verdicts (pure).

The seed's rule stays verbatim: ``candidate_score < baseline_score + min_delta`` fails.
"""

from __future__ import annotations

from launchgate.config import Evaluation
from launchgate.evaluation import VariantSummary
from launchgate.verdicts import Phase, Verdict, at_least, at_most, pct

EVIDENCE = "eval/eval_report.json"


def gate_eval(candidate_score: float, baseline_score: float, min_delta: float = 0.02) -> bool:
    """The seed's rule, as written in the readiness review."""
    return not candidate_score < baseline_score + min_delta


def score_verdict(cand: VariantSummary, base: VariantSummary, min_delta: float) -> Verdict:
    need = base.score + min_delta
    delta = cand.score - base.score
    value = {"candidate": round(cand.score, 4), "baseline": round(base.score, 4), "delta": round(delta, 4)}
    if not gate_eval(cand.score, base.score, min_delta):
        return Verdict(
            check="eval_score", phase=Phase.FAILED, value=value, threshold=min_delta, evidence=EVIDENCE,
            reason=(
                f"Eval score {cand.score:.3f} is below baseline {base.score:.3f} + min_delta {min_delta:.3f} "
                f"(short by {need - cand.score:.3f}) over {cand.cases} cases: fix the regression before "
                f"releasing; see the per-case results."
            ),
        )
    return Verdict(
        check="eval_score", phase=Phase.SUCCESSFUL, value=value, threshold=min_delta, evidence=EVIDENCE,
        reason=(
            f"Eval score {cand.score:.3f} >= baseline {base.score:.3f} + min_delta {min_delta:.3f} "
            f"(delta {delta:+.3f}) over {cand.cases} cases."
        ),
    )


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


def eval_verdicts(cand: VariantSummary, base: VariantSummary, cfg: Evaluation) -> list[Verdict]:
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
    out.append(score_verdict(cand, base, cfg.min_delta))
    out.append(at_least("schema_validity", cand.schema_valid_rate, cfg.min_schema_valid_rate / 100,
                        what="Schema validation rate", n=cand.completed, evidence=EVIDENCE,
                        fix="Make the prompt enforce the output schema."))
    out.append(cost_verdict(cand, base, cfg.max_cost_increase))
    return out


__all__ = ["eval_verdicts", "gate_eval", "pct"]
