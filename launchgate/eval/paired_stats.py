"""Paired statistics for candidate-vs-baseline comparisons on the same golden cases.

Pure functions over per-case scores, deterministic for a given seed:

* ``paired_bootstrap``: percentile bootstrap of the mean score delta (candidate - baseline),
  resampling *cases* so the pairing is kept.
* ``mcnemar_exact``: exact McNemar test on pass/fail; only discordant pairs carry information.
* ``non_inferiority``: candidate >= baseline - margin, judged on the one-sided lower bound.

Why the multinomial draw in ``paired_bootstrap``: resampling n cases with replacement only
changes how many times each distinct delta value is drawn, and those counts are exactly
Multinomial(n, observed frequencies). Eval deltas take few distinct values (-1, 0, +1 for
pass/fail), so drawing the counts is the same bootstrap without an (resamples x n) index
matrix; this lets the gate-quality benchmark run thousands of trials through this very code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 20240611


@dataclass(frozen=True)
class BootstrapCI:
    n: int
    delta: float  # observed mean(candidate - baseline)
    low: float  # two-sided CI at `confidence`
    high: float
    lower_one_sided: float  # one-sided lower bound at `confidence` (non-inferiority, superiority)
    confidence: float
    resamples: int

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class McNemar:
    n: int
    candidate_only: int  # candidate passed, baseline failed
    baseline_only: int  # baseline passed, candidate failed
    p_value: float  # exact two-sided

    @property
    def discordant(self) -> int:
        return self.candidate_only + self.baseline_only

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "discordant": self.discordant}  # p unrounded: tiny p-values matter


@dataclass(frozen=True)
class NonInferiority:
    margin: float
    confidence: float
    lower_bound: float
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lower_bound": round(self.lower_bound, 6)}


def _paired(candidate: Sequence[float], baseline: Sequence[float]) -> np.ndarray:
    c = np.asarray(candidate, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if c.shape != b.shape or c.ndim != 1:
        raise ValueError(f"paired samples must be 1-D and the same length, got {c.shape} and {b.shape}")
    return c - b


def paired_bootstrap(
    candidate: Sequence[float], baseline: Sequence[float], *, confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
) -> BootstrapCI:
    """Percentile bootstrap CI of mean(candidate - baseline) over paired cases."""
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence}")
    d = _paired(candidate, baseline)
    n = int(d.size)
    if n == 0:
        return BootstrapCI(0, 0.0, 0.0, 0.0, 0.0, confidence, 0)
    values, counts = np.unique(d, return_counts=True)
    low, high, lower = _bootstrap_bounds(values, counts, confidence, resamples, seed)
    return BootstrapCI(n=n, delta=float(d.mean()), low=low, high=high,
                       lower_one_sided=lower, confidence=confidence, resamples=resamples)


def _bootstrap_bounds(values: np.ndarray, counts: np.ndarray, confidence: float, resamples: int,
                      seed: int) -> tuple[float, float, float]:
    """(two-sided low, high, one-sided lower) of the resampled mean of a sample given as distinct
    values and how often each occurs (the multinomial draw of the module docstring)."""
    n = int(counts.sum())
    rng = np.random.default_rng(seed)
    if values.size == 1:  # every case has the same value: the bootstrap distribution is a point
        means = np.full(resamples, float(values[0]))
    else:
        means = rng.multinomial(n, counts / n, size=resamples) @ values / n
    alpha = 1 - confidence
    low, high, lower = np.quantile(means, [alpha / 2, 1 - alpha / 2, alpha])
    return float(low), float(high), float(lower)


def mcnemar_exact(candidate_pass: Sequence[bool], baseline_pass: Sequence[bool]) -> McNemar:
    """Exact McNemar: under H0 each discordant pair is a fair coin flip (binomial, p=0.5)."""
    c = np.asarray(candidate_pass, dtype=bool)
    b = np.asarray(baseline_pass, dtype=bool)
    if c.shape != b.shape:
        raise ValueError(f"paired samples must be the same length, got {c.shape} and {b.shape}")
    cand_only = int(np.sum(c & ~b))
    base_only = int(np.sum(~c & b))
    disc = cand_only + base_only
    from scipy.stats import binomtest  # scipy.stats takes ~1.5 s to import: only when a test runs

    p = 1.0 if disc == 0 else float(binomtest(cand_only, disc, 0.5, alternative="two-sided").pvalue)
    return McNemar(n=int(c.size), candidate_only=cand_only, baseline_only=base_only, p_value=min(1.0, p))


def non_inferiority(ci: BootstrapCI, margin: float) -> NonInferiority:
    """Non-inferior when the one-sided lower confidence bound of the delta is above -margin."""
    return NonInferiority(margin=margin, confidence=ci.confidence, lower_bound=ci.lower_one_sided,
                          passed=ci.n > 0 and ci.lower_one_sided > -margin)


def significantly_better(ci: BootstrapCI, test: McNemar | None, confidence: float) -> bool:
    """Superiority: the two-sided CI lies above 0 and, for pass/fail data, McNemar agrees.

    Both are asked for so that neither a lucky resample nor a handful of discordant pairs can
    carry the decision alone.
    """
    if ci.n == 0 or ci.low <= 0:
        return False
    if test is None:
        return True
    return test.candidate_only > test.baseline_only and test.p_value < 1 - confidence


def mean_ci(values: Sequence[float], *, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
            seed: int = DEFAULT_SEED) -> tuple[float, float, float]:
    """(mean, low, high): bootstrap CI of one sample's mean, e.g. a variant's score on one tag."""
    ci = paired_bootstrap(values, [0.0] * len(values), confidence=confidence, resamples=resamples, seed=seed)
    return ci.delta, ci.low, ci.high


def rate_ci(events: int, n: int, *, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
            seed: int = DEFAULT_SEED) -> tuple[float | None, float | None, float | None]:
    """(rate, low, high): ``mean_ci`` of n pass/fail outcomes with ``events`` passes, from the counts
    alone (a week's labels or feedback need no list of 0/1 values); (None, None, None) when n is 0."""
    if n <= 0:
        return None, None, None
    if not 0 <= events <= n:
        raise ValueError(f"events must be in [0, {n}], got {events}")
    pairs = [(v, c) for v, c in ((0.0, n - events), (1.0, events)) if c]
    low, high, _ = _bootstrap_bounds(np.array([v for v, _ in pairs]), np.array([c for _, c in pairs], dtype=float),
                                     confidence, resamples, seed)
    return events / n, low, high
