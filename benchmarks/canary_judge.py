"""How good is the canary judge at telling a bad canary from a healthy one, and how fast is rollback?

1. Simulated canaries, every look through the real judge (launchgate.canary.judge.CanaryJudge):
   2 req/s of canary traffic and 18 req/s of stable traffic, judged every 5 s on the cumulative
   stats since the canary started, for 10 minutes (1200 canary requests).
   * healthy canary at 0.5% errors: how often is it rolled back anyway (false_rollback_rate)?
   * bad canary at 4.5% errors (3x the 1.5% threshold) from the start: after how many canary
     requests is it rolled back (median, and the share of trials within 600)?
   * the same two figures for a naive fixed-window rule: the last 60 canary requests against the raw
     1.5% threshold, checked at the same looks.
2. Rollback latency against a real release gateway (benchmarks/canary_latency.py): the real canary
   loop watches the gateway at a 5 s interval; the candidate's error rate jumps to 8% mid-canary;
   the figure is the median time from that breach onset until the gateway set candidate weight 0.
3. The same rollback, judged through the `prometheus` metrics provider: a real Prometheus scrapes
   the gateway every 1 s, the judge looks every 5 s (``rollback_latency_s_prometheus``, target:
   <= 3 intervals = 15 s).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launchgate.canary.judge import Action, CanaryJudge, JudgeConfig  # noqa: E402
from launchgate.router.base import CANDIDATE, STABLE, WindowStats  # noqa: E402

CANARY_RPS, STABLE_RPS, INTERVAL_S, DURATION_S = 2.0, 18.0, 5.0, 600.0
HEALTHY, BAD, STABLE_RATE, SCHEMA_RATE = 0.005, 0.045, 0.005, 0.002
NAIVE_WINDOW, THRESHOLD = 60, 0.015
LATENCY = {"p50_ms": 40.0, "p95_ms": 120.0, "p99_ms": 200.0}
COST = 0.0002


def simulate(judge_cfg: JudgeConfig, p_canary: float, rng: np.random.Generator) -> tuple[int | None, int | None]:
    """One 10-minute canary. Returns (judge's rollback request count, naive rule's), None = never."""
    per_look = int(CANARY_RPS * INTERVAL_S)
    n_total = int(CANARY_RPS * DURATION_S)
    errs = rng.random(n_total) < p_canary
    schema = rng.random(n_total) < SCHEMA_RATE
    cum_e, cum_s = np.cumsum(errs), np.cumsum(schema)
    judge = CanaryJudge(judge_cfg)
    stable_per_look = int(STABLE_RPS * INTERVAL_S)
    stable_e = stable_s = 0
    judged: int | None = None
    naive: int | None = None
    for look, n in enumerate(range(per_look, n_total + 1, per_look), start=1):
        stable_e += int(rng.binomial(stable_per_look, STABLE_RATE))
        stable_s += int(rng.binomial(stable_per_look, SCHEMA_RATE))
        if naive is None and n >= NAIVE_WINDOW:
            recent = int(cum_e[n - 1] - (cum_e[n - NAIVE_WINDOW - 1] if n > NAIVE_WINDOW else 0))
            if recent / NAIVE_WINDOW > THRESHOLD:
                naive = n
        if judged is None:
            stats = {
                CANDIDATE: WindowStats(count=n, errors=int(cum_e[n - 1]), schema_failures=int(cum_s[n - 1]),
                                       cost_per_request=COST, **LATENCY),
                STABLE: WindowStats(count=look * stable_per_look, errors=stable_e, schema_failures=stable_s,
                                    cost_per_request=COST, **LATENCY),
            }
            j = judge.judge(stats, at_s=look * INTERVAL_S, final=n >= n_total)
            if j.action is Action.ROLLBACK:
                judged = n
        if judged is not None and naive is not None:
            break
    return judged, naive


def trials(cfg: JudgeConfig, p: float, n: int, seed: int) -> tuple[list[int | None], list[int | None]]:
    rng = np.random.default_rng(seed)
    pairs = [simulate(cfg, p, rng) for _ in range(n)]
    return [a for a, _ in pairs], [b for _, b in pairs]


def median_requests(detections: list[int | None]) -> float | None:
    # Undetected trials count as infinitely late, so they pull the median up rather than vanish.
    values = sorted(d if d is not None else float("inf") for d in detections)
    m = statistics.median(values)
    return None if m == float("inf") else float(m)


def rollback_latency(interval_s: float = INTERVAL_S) -> dict[str, Any]:
    """Breach onset to weight 0 through a real gateway (benchmarks/canary_latency.py)."""
    from benchmarks.canary_latency import measure_rollback_latency

    return measure_rollback_latency(interval_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--skip-latency", action="store_true", help="only the simulated trials")
    ap.add_argument("--skip-prometheus", action="store_true", help="no rollback run through Prometheus")
    args = ap.parse_args()
    cfg = JudgeConfig(min_requests=50, looks=int(DURATION_S / INTERVAL_S) + 1)
    t0 = time.perf_counter()
    healthy_j, healthy_n = trials(cfg, HEALTHY, args.trials, args.seed)
    bad_j, bad_n = trials(cfg, BAD, args.trials, args.seed + 1)
    sim_s = time.perf_counter() - t0
    latency = {} if args.skip_latency else rollback_latency()
    if not args.skip_latency and not args.skip_prometheus:
        from benchmarks.canary_latency import measure_rollback_latency_prometheus

        latency.update(measure_rollback_latency_prometheus(INTERVAL_S))
    print(json.dumps({
        "false_rollback_rate": sum(d is not None for d in healthy_j) / args.trials,
        "median_detection_requests": median_requests(bad_j),
        "detection_rate_600": sum(d is not None and d <= 600 for d in bad_j) / args.trials,
        "naive_false_rollback_rate": sum(d is not None for d in healthy_n) / args.trials,
        "naive_median_detection_requests": median_requests(bad_n),
        "rollback_latency_s": latency.get("rollback_latency_s"),
        "rollback_latency_s_prometheus": latency.get("rollback_latency_s_prometheus"),
        "trials": args.trials, "interval_s": INTERVAL_S, "canary_rps": CANARY_RPS, "alpha": cfg.alpha,
        "sprt_boundary": round(cfg.boundary, 3), "sprt_floor": round(cfg.floor, 3), "simulation_s": round(sim_s, 1),
        **{k: v for k, v in latency.items() if k not in ("rollback_latency_s", "rollback_latency_s_prometheus")},
    }))


if __name__ == "__main__":
    main()
