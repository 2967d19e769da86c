"""The one percentile definition, with its two methods named.

- ``nearest_rank`` (the default): the smallest observed value with at least q% of the values at or
  below it. Every SLO verdict uses it (eval latency, the gateway's window stats, the canary): "95% of
  requests took at most this", and the number is a latency some request really had.
- ``linear``: linear interpolation between the two closest ranks (numpy's default). The load test
  uses it so that its figures recomputed from aiperf's per-request records equal aiperf's own
  summary; the reviews use it for descriptive statistics of a distribution.

q is in 0..100; an empty input gives None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

Method = Literal["nearest_rank", "linear"]


def percentile(values: Sequence[float], q: float, *, method: Method = "nearest_rank",
               presorted: bool = False) -> float | None:
    """The q-th percentile of ``values`` (``presorted``: already ascending, skip the sort)."""
    if not values:
        return None
    xs = values if presorted else sorted(values)
    if method == "nearest_rank":
        rank = max(1, min(len(xs), math.ceil(q / 100.0 * len(xs))))
        return float(xs[rank - 1])
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def percentile_counts(counts: Mapping[float, int], q: float) -> float | None:
    """Nearest-rank percentile of values given as ``{value: how many times}`` (a merged histogram)."""
    total = sum(counts.values())
    if not total:
        return None
    rank = max(1, min(total, math.ceil(q / 100.0 * total)))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return float(value)
    return None
