"""Paired statistics: bootstrap CI, exact McNemar, non-inferiority, and the gate verdicts built on them."""

from __future__ import annotations

import numpy as np
import pytest

from launchgate.config import Evaluation
from launchgate.eval.gate import compare, eval_verdicts
from launchgate.eval.paired_stats import mcnemar_exact, mean_ci, non_inferiority, paired_bootstrap, significantly_better
from launchgate.eval.runner import CaseResult, VariantSummary, flaky_cases, pair_outcomes
from launchgate.verdicts import Phase


def outcomes(n: int, cand_only: int, base_only: int, both_fail: int = 0) -> tuple[list[float], list[float]]:
    """n paired pass/fail cases: cand_only won by the candidate, base_only by the baseline."""
    c = [1.0] * n
    b = [1.0] * n
    for i in range(cand_only):
        b[i] = 0.0
    for i in range(cand_only, cand_only + base_only):
        c[i] = 0.0
    for i in range(cand_only + base_only, cand_only + base_only + both_fail):
        c[i] = b[i] = 0.0
    return c, b


def cfg(**kw) -> Evaluation:
    return Evaluation.model_validate({"golden_set": "x", **kw}, context={"check_files": False})


def test_bootstrap_is_deterministic_and_brackets_the_delta() -> None:
    c, b = outcomes(400, 40, 10)
    one = paired_bootstrap(c, b, seed=7)
    assert one == paired_bootstrap(c, b, seed=7)
    assert one.delta == pytest.approx(30 / 400)
    assert one.low < one.delta < one.high
    assert one.low > 0  # +30 net wins out of 50 discordant is clearly better
    assert one.low < one.lower_one_sided < one.delta  # one-sided 95% bound is tighter than two-sided


def test_bootstrap_width_matches_the_normal_approximation() -> None:
    c, b = outcomes(500, 25, 25)
    ci = paired_bootstrap(c, b, resamples=20_000)
    se = np.sqrt(50 / 500) / np.sqrt(500)  # sd of d in {-1, 0, 1} with 10% discordant
    assert ci.high - ci.low == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_bootstrap_rejects_unpaired_input_and_handles_degenerate_samples() -> None:
    with pytest.raises(ValueError):
        paired_bootstrap([1.0, 0.0], [1.0])
    same = paired_bootstrap([1.0, 1.0, 0.0], [1.0, 1.0, 0.0])
    assert same.low == same.high == 0.0
    assert paired_bootstrap([], []).n == 0


def test_mcnemar_exact_matches_the_binomial_tail() -> None:
    c, b = outcomes(100, 9, 1)
    m = mcnemar_exact([x > 0 for x in c], [x > 0 for x in b])
    assert (m.candidate_only, m.baseline_only, m.discordant) == (9, 1, 10)
    # two-sided exact: 2 * P(X <= 1 | n=10, p=.5) = 2 * 11/1024
    assert m.p_value == pytest.approx(22 / 1024)
    assert mcnemar_exact([True, False], [True, False]).p_value == 1.0


def test_non_inferiority_uses_the_one_sided_lower_bound() -> None:
    c, b = outcomes(500, 20, 30)  # delta -0.02
    ci = paired_bootstrap(c, b)
    assert non_inferiority(ci, 0.05).passed  # lower bound ~ -0.043 > -0.05
    assert not non_inferiority(ci, 0.02).passed


def test_significance_needs_both_the_ci_and_mcnemar() -> None:
    c, b = outcomes(500, 30, 20)  # +0.02: passes the seed rule's 0.02 by a hair, not significant
    ci = paired_bootstrap(c, b)
    m = mcnemar_exact([x > 0 for x in c], [x > 0 for x in b])
    assert not significantly_better(ci, m, 0.95)
    c, b = outcomes(500, 40, 10)
    assert significantly_better(paired_bootstrap(c, b), mcnemar_exact([x > 0 for x in c], [x > 0 for x in b]), 0.95)


def test_mean_ci() -> None:
    mean, low, high = mean_ci([1.0] * 8 + [0.0] * 2)
    assert mean == pytest.approx(0.8) and low < 0.8 < high and low >= 0 and high <= 1


def rows(label: str, scores: dict[str, list[bool]]) -> list[CaseResult]:
    return [CaseResult(case_id=cid, variant=label, repeat=i, status="ok", schema_ok=True, passed=p, score=float(p))
            for cid, ps in scores.items() for i, p in enumerate(ps)]


def test_flaky_cases_and_pairing_count_each_case_once() -> None:
    cand = rows("candidate", {"a": [True, True, True], "b": [True, False, True], "c": [False, False, False]})
    base = rows("stable", {"a": [True] * 3, "b": [False] * 3, "c": [True] * 3, "d": [True] * 3})
    assert flaky_cases(cand) == ["b"]
    p = pair_outcomes(cand, base)
    assert p.case_ids == ["a", "b", "c"] and p.unpaired == 1
    assert p.candidate_scores == pytest.approx([1.0, 2 / 3, 0.0])
    assert p.candidate_pass == [True, True, False]  # majority of repeats


def summary(variant: str, score: float) -> VariantSummary:
    return VariantSummary(
        variant=variant, model="m", prompt_version="v", cases=500, calls=500, completed=500, errors=0,
        error_rate=0.0, errors_by_kind={}, score=score, schema_valid_rate=1.0, cost_per_request=0.001,
        total_cost_usd=0.5, latency_p50_ms=10, latency_p95_ms=20, mean_input_tokens=1, mean_output_tokens=1,
        retries=0, model_wait_s=1,
    )


def gate(c: list[float], b: list[float], **kw) -> dict[str, object]:
    ids = [str(i) for i in range(len(c))]
    cand = rows("candidate", {i: [x > 0] for i, x in zip(ids, c, strict=True)})
    base = rows("stable", {i: [x > 0] for i, x in zip(ids, b, strict=True)})
    config = cfg(**kw)
    cmp = compare(pair_outcomes(cand, base), config)
    vs = eval_verdicts(summary("candidate", float(np.mean(c))), summary("stable", float(np.mean(b))), config, cmp)
    return {v.check: v for v in vs}


def test_paired_comparison_is_reported_even_when_not_gating() -> None:
    c, b = outcomes(500, 40, 10)
    vs = gate(c, b)
    assert "eval_significance" not in vs
    assert "McNemar p=" in vs["eval_score"].reason and "CI" in vs["eval_score"].reason
    assert vs["eval_score"].value["paired"]["mcnemar"]["candidate_only"] == 40


def test_require_significance_blocks_a_lucky_candidate() -> None:
    c, b = outcomes(500, 30, 20)
    vs = gate(c, b, require_significance=True)
    assert vs["eval_score"].phase is Phase.SUCCESSFUL  # seed rule: +0.020 >= 0.02
    assert vs["eval_significance"].phase is Phase.FAILED
    assert "not significantly better" in vs["eval_significance"].reason


def test_non_inferiority_mode_passes_equal_and_blocks_a_clear_regression() -> None:
    c, b = outcomes(500, 25, 25)
    vs = gate(c, b, mode="non_inferiority", margin=0.05)
    assert vs["eval_score"].phase is Phase.SUCCESSFUL and vs["eval_score"].threshold == -0.05
    assert vs["eval_non_inferiority"].phase is Phase.SUCCESSFUL
    c, b = outcomes(500, 10, 40)  # delta -0.06
    vs = gate(c, b, mode="non_inferiority", margin=0.05)
    assert vs["eval_non_inferiority"].phase is Phase.FAILED
    assert "lower bound" in vs["eval_non_inferiority"].reason


def test_gating_without_paired_cases_is_inconclusive() -> None:
    config = cfg(require_significance=True)
    vs = {v.check: v for v in eval_verdicts(summary("candidate", 0.9), summary("stable", 0.8), config, None)}
    assert vs["eval_significance"].phase is Phase.INCONCLUSIVE


def test_rate_ci_is_mean_ci_of_the_outcomes_from_counts_alone() -> None:
    from launchgate.eval.paired_stats import rate_ci

    assert rate_ci(37, 50) == mean_ci([1.0] * 37 + [0.0] * 13)
    assert rate_ci(0, 0) == (None, None, None) and rate_ci(5, 5) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        rate_ci(6, 5)
