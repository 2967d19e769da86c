from __future__ import annotations

from launchgate.config import Evaluation
from launchgate.eval.gate import eval_verdicts, gate_eval
from launchgate.eval.runner import VariantSummary, percentile
from launchgate.release.records import decide
from launchgate.verdicts import Phase, at_most, combine


def summary(variant: str, score: float, *, schema: float = 1.0, cost: float = 0.001, errors: int = 0,
            calls: int = 200) -> VariantSummary:
    return VariantSummary(
        variant=variant, model="m", prompt_version="v", cases=calls, calls=calls, completed=calls - errors,
        errors=errors, error_rate=errors / calls, errors_by_kind={"http_500": errors} if errors else {},
        score=score, schema_valid_rate=schema, cost_per_request=cost, total_cost_usd=cost * calls,
        latency_p50_ms=10, latency_p95_ms=20, mean_input_tokens=100, mean_output_tokens=50, retries=0,
        model_wait_s=1,
    )


def cfg(**kw) -> Evaluation:
    return Evaluation.model_validate({"golden_set": "x", **kw}, context={"check_files": False})


def by_check(verdicts):
    return {v.check: v for v in verdicts}


def test_seed_rule_verbatim() -> None:
    assert gate_eval(0.87, 0.85, 0.02)
    assert not gate_eval(0.869, 0.85, 0.02)
    assert not gate_eval(0.85, 0.85, 0.02)


def test_regression_fails_and_reason_says_by_how_much() -> None:
    v = by_check(eval_verdicts(summary("candidate", 0.70), summary("stable", 0.85), cfg()))["eval_score"]
    assert v.phase is Phase.FAILED
    assert "0.700" in v.reason and "0.850" in v.reason and "short by 0.170" in v.reason


def test_improvement_passes_everything() -> None:
    vs = eval_verdicts(summary("candidate", 0.93), summary("stable", 0.85), cfg())
    assert combine(vs) is Phase.SUCCESSFUL, [v.reason for v in vs]


def test_schema_validity_below_99_blocks() -> None:
    v = by_check(eval_verdicts(summary("candidate", 0.93, schema=0.98), summary("stable", 0.85), cfg()))
    assert v["schema_validity"].phase is Phase.FAILED
    assert "98.0% < 99.0%" in v["schema_validity"].reason


def test_cost_increase_beyond_threshold_blocks() -> None:
    vs = by_check(eval_verdicts(summary("candidate", 0.93, cost=0.0013), summary("stable", 0.85, cost=0.001),
                                cfg(max_cost_increase=20)))
    assert vs["cost_per_request"].phase is Phase.FAILED
    assert "30.0% > 20.0%" in vs["cost_per_request"].reason


def test_broken_endpoint_is_error_not_pass_or_fail() -> None:
    vs = eval_verdicts(summary("candidate", 0.5, errors=40), summary("stable", 0.85), cfg(max_error_rate=5))
    phases = {v.check: v.phase for v in vs}
    assert phases["eval_errors_candidate"] is Phase.ERROR
    assert "eval_score" not in phases  # a broken measurement is not judged as a regression
    d = decide("r", "s", vs, "ev")
    assert d.decision == "blocked" and d.exit_code == 3


def test_decide_passed_without_traffic_and_inconclusive_never_promotes() -> None:
    ok = at_most("x", 0.01, 0.02, what="x")
    assert decide("r", "s", [ok], "ev").decision == "passed"
    inc = at_most("y", None, 0.02, what="y")
    assert inc.phase is Phase.INCONCLUSIVE
    d = decide("r", "s", [ok, inc], "ev", traffic_shifted=True)
    assert d.decision == "blocked" and "y" in d.summary


def test_percentile_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([5.0], 50) == 5.0
