"""How often does the eval gate pass a candidate of known true quality?

Simulated paired outcomes: 500 golden cases, of which exactly 10% (50) are discordant (one
variant passes, the other fails); the rest pass or fail for both (0.8 / 0.1, a baseline around
0.85). The candidate wins each discordant pair with probability q, so its true score delta is
0.1 * (2q - 1). Every trial goes through the gate's real code: ``launchgate.eval.gate.compare``
(paired bootstrap CI + exact McNemar, launchgate/eval/paired_stats.py) and ``launchgate.eval.gate.eval_verdicts``
(seed rule, significance, non-inferiority); a candidate passes when no verdict blocks.

Scenarios:
  equal quality (q = 0.5)        under the seed rule alone, and with require_significance
  truly +5 points (q = 0.75)     with require_significance (the strictest superiority gate)
  non_inferiority, margin 0.05:  exactly at -margin (q = 0.25; target <= 5%, the nominal level)
                                 and equal quality (target >= 95%)
Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launchgate.config import Evaluation  # noqa: E402
from launchgate.eval.gate import compare, eval_verdicts  # noqa: E402
from launchgate.eval.runner import PairedOutcomes, VariantSummary  # noqa: E402

CASES = 500
DISCORDANT = 50  # 10% of the cases
BOTH_FAIL = 0.1 / 0.9  # share of concordant pairs failing for both (baseline score ~0.85)
TRIALS = 2000
MARGIN = 0.05


def config(**kw: object) -> Evaluation:
    return Evaluation.model_validate({"golden_set": "golden.jsonl", **kw}, context={"check_files": False})


SEED_RULE = config()
SIGNIFICANCE = config(require_significance=True)
NON_INFERIORITY = config(mode="non_inferiority", margin=MARGIN)


def simulate(rng: np.random.Generator, q: float) -> PairedOutcomes:
    cand = np.ones(CASES, dtype=bool)
    base = np.ones(CASES, dtype=bool)
    wins = rng.random(DISCORDANT) < q  # candidate wins this discordant pair
    cand[:DISCORDANT], base[:DISCORDANT] = wins, ~wins
    both_fail = DISCORDANT + np.flatnonzero(rng.random(CASES - DISCORDANT) < BOTH_FAIL)
    cand[both_fail] = base[both_fail] = False
    return PairedOutcomes(case_ids=[str(i) for i in range(CASES)],
                          candidate_scores=cand.astype(float).tolist(), baseline_scores=base.astype(float).tolist(),
                          candidate_pass=cand.tolist(), baseline_pass=base.tolist())


def summary(variant: str, scores: list[float]) -> VariantSummary:
    # Errors, schema validity and cost are held perfect and equal: only the quality decision is measured.
    return VariantSummary(
        variant=variant, model="m", prompt_version="v", cases=CASES, calls=CASES, completed=CASES, errors=0,
        error_rate=0.0, errors_by_kind={}, score=float(np.mean(scores)), schema_valid_rate=1.0,
        cost_per_request=0.001, total_cost_usd=0.5, latency_p50_ms=1.0, latency_p95_ms=1.0,
        mean_input_tokens=1.0, mean_output_tokens=1.0, retries=0, model_wait_s=0.0,
    )


def passes(paired: PairedOutcomes, cfg: Evaluation) -> bool:
    verdicts = eval_verdicts(summary("candidate", paired.candidate_scores),
                             summary("stable", paired.baseline_scores), cfg, compare(paired, cfg))
    return not any(v.blocks for v in verdicts)


def pass_rate(q: float, cfgs: list[Evaluation], seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    hits = [0] * len(cfgs)
    for _ in range(TRIALS):
        paired = simulate(rng, q)
        for i, cfg in enumerate(cfgs):
            hits[i] += passes(paired, cfg)
    return [h / TRIALS for h in hits]


def main() -> None:
    equal_seed, equal_sig, ni_equal = pass_rate(0.5, [SEED_RULE, SIGNIFICANCE, NON_INFERIORITY], seed=1)
    (plus5,) = pass_rate(0.75, [SIGNIFICANCE], seed=2)
    (ni_margin,) = pass_rate(0.5 - MARGIN / (2 * DISCORDANT / CASES), [NON_INFERIORITY], seed=3)
    print(json.dumps({
        "equal_pass_rate_seed_rule": equal_seed,
        "equal_pass_rate_significance": equal_sig,
        "plus5_pass_rate": plus5,
        "noninferiority_pass_rate_at_margin": ni_margin,
        "noninferiority_pass_rate_equal": ni_equal,
    }))


if __name__ == "__main__":
    main()
