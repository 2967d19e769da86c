"""How good is the paired shadow judge, and what does shadow mode cost a user?

1. Simulated paired outcomes through the judge's own code (launchgate/shadow/judge.py,
   ``SequentialTest`` fed one pair at a time, looking after every pair): 10% of pairs are
   discordant (exactly one answer passes).
   * equal candidate (the discordant pairs split evenly), ``--trials`` runs of up to
     ``max_pairs`` pairs: ``false_block_rate_equal`` = share blocked (target <= 0.01), and the
     median pairs to its pass;
   * candidate worse by 5 points (stable wins 75% of the discordant pairs):
     ``median_pairs_to_detect_5pt`` (target <= 400; an undetected run counts as never) and
     ``detection_rate_1000_5pt`` = share blocked within 1000 pairs (target >= 0.95).
2. The real gateway (a gateway process in front of two trivial upstream processes, as in
   benchmarks/gateway_overhead.py) at 500 req/s open loop, with shadow off and with shadow on
   at 100%, back to back, ``--repeats`` rounds: ``user_added_p50_ms_shadow`` = p50(on) - p50(off)
   of the round with the smaller through-gateway p99 (all rounds are listed too, with the
   gateway's CPU time per request off and on: the figure least disturbed by neighbours). Mirrors
   run on the gateway's event loop after each answer, so this is what they cost the user.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import gateway_overhead as overhead  # noqa: E402
from launchgate.shadow.judge import Decision, PairScore, SequentialConfig, SequentialTest  # noqa: E402

BOTH = PairScore(True, True, (), "agrees")
STABLE_ONLY = PairScore(True, False, ("category",), "disagrees")
CANDIDATE_ONLY = PairScore(False, True, (), "stable failed")


def simulate(trials: int, discordant: float, stable_share: float, max_pairs: int, seed: int
             ) -> list[tuple[Decision, int]]:
    """(decision, pairs when decided) per trial."""
    rng = random.Random(seed)
    cfg = SequentialConfig(max_pairs=max_pairs)
    b_cut = discordant * stable_share
    out = []
    for _ in range(trials):
        test = SequentialTest(cfg)
        while test.state.decision is Decision.WATCHING:
            u = rng.random()
            test.add(STABLE_ONLY if u < b_cut else CANDIDATE_ONLY if u < discordant else BOTH)
        out.append((test.state.decision, test.decided_at or max_pairs))
    return out


def judge_figures(trials: int, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    equal = simulate(trials, 0.10, 0.5, SequentialConfig().max_pairs, seed)
    worse = simulate(trials, 0.10, 0.75, SequentialConfig().max_pairs, seed + 1)
    to_detect = sorted(n if d is Decision.WORSE else float("inf") for d, n in worse)
    return {
        "trials": trials, "discordant_share": 0.10, "q1": round(SequentialConfig().q1, 4),
        "false_block_rate_equal": sum(d is Decision.WORSE for d, _ in equal) / trials,
        "pass_rate_equal": sum(d is Decision.NOT_WORSE for d, _ in equal) / trials,
        "median_pairs_to_pass_equal": statistics.median(n for d, n in equal if d is Decision.NOT_WORSE),
        "median_pairs_to_detect_5pt": statistics.median(to_detect),
        "detection_rate_1000_5pt": sum(d is Decision.WORSE and n <= 1000 for d, n in worse) / trials,
        "wrong_pass_rate_5pt": sum(d is Decision.NOT_WORSE for d, _ in worse) / trials,
        "judge_sim_s": round(time.perf_counter() - t0, 2),
    }


# ----------------------------------------------------------------------------- the gateway


def role_gateway(stable: str, candidate: str, store: str) -> None:
    import faulthandler
    import signal

    from launchgate.config import Pricing
    from launchgate.gateway.app import serve

    faulthandler.register(signal.SIGUSR1)  # a gateway that does not stop can be asked where it is
    from launchgate.gateway.config import GatewayConfig, Upstream

    cfg = GatewayConfig(
        service="bench", port=0, stable=Upstream(url=stable, model="bench", prompt_version="v1"),
        candidate=Upstream(url=candidate, model="bench-candidate", prompt_version="v2"),
        output_schema=overhead.EXAMPLE / "schemas" / "output.schema.json",
        pricing=Pricing(input_per_1k=0.0005, output_per_1k=0.0015), log_store_uri=store, log_writer="bench")
    serve(cfg, os.environ["BENCH_TOKEN"])


def _start_gateway(stable: str, candidate: str, store: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    with open(store + ".log", "w") as errors:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, __file__, "--role", "gateway", "--stable", stable, "--candidate",
                                 candidate, "--store", store], stdout=subprocess.PIPE, stderr=errors, text=True,
                                env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.split(" at ", 1)[1].split(" ", 1)[0] if " at " in line else ""
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"gateway did not start: {line!r}")
    return proc, url


def gateway_figures(rate: float, duration: float, warmup: float, repeats: int, pin: bool = False) -> dict[str, Any]:
    from launchgate.shadow.client import ShadowAdmin

    procs: list[subprocess.Popen[str]] = []
    store = tempfile.mkdtemp(prefix="lg-bench-shadow-")
    rounds = []
    pinned = pin and len(os.sched_getaffinity(0)) >= 2
    if pinned:  # this process and its children (upstreams, load generator) on core 1; the gateway gets core 0
        os.sched_setaffinity(0, {1})
    try:
        stable, stable_url = overhead._start(["--role", "upstream"])
        candidate, cand_url = overhead._start(["--role", "upstream"])
        procs += [stable, candidate]
        token = secrets.token_urlsafe(24)
        gateway, gw_url = _start_gateway(stable_url, cand_url, store, {**os.environ, "BENCH_TOKEN": token})
        procs.append(gateway)
        if pinned:
            os.sched_setaffinity(gateway.pid, {0})
        admin = ShadowAdmin(gw_url, token)
        admin.set_shadow(enabled=True, sample=1.0, pool_size=256)
        overhead._load(gw_url, 100, 1, 0)  # warm both paths, the mirror's too
        for _ in range(repeats):
            requests = rate * (duration + warmup)
            admin.set_shadow(enabled=False)
            cpu0 = overhead._cpu_s(gateway.pid)
            off = overhead._load(gw_url, rate, duration, warmup)
            cpu1 = overhead._cpu_s(gateway.pid)
            admin.set_shadow(enabled=True, sample=1.0)
            before = admin.shadow()
            cpu2 = overhead._cpu_s(gateway.pid)
            on = overhead._load(gw_url, rate, duration, warmup)
            cpu3 = overhead._cpu_s(gateway.pid)
            after = admin.shadow()
            rounds.append({"p50_off_ms": round(off["p50_ms"], 3), "p50_on_ms": round(on["p50_ms"], 3),
                           "p99_off_ms": round(off["p99_ms"], 3), "p99_on_ms": round(on["p99_ms"], 3),
                           "added_p50_ms": round(on["p50_ms"] - off["p50_ms"], 3),
                           "errors": off["errors"] + on["errors"],
                           "gateway_cpu_us_per_request_off": round((cpu1 - cpu0) / requests * 1e6, 1),
                           "gateway_cpu_us_per_request_on": round((cpu3 - cpu2) / requests * 1e6, 1),
                           "mirrored": after["mirrored"] - before["mirrored"],
                           "dropped": after["dropped"] - before["dropped"]})
        admin.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGUSR1)
                time.sleep(1)
                p.kill()
                print(f"a process did not stop on SIGTERM; its stacks are in {store}.log", file=sys.stderr)
    best = min(rounds, key=lambda r: max(r["p99_off_ms"], r["p99_on_ms"]))
    return {"user_added_p50_ms_shadow": best["added_p50_ms"],
            "user_added_p50_ms_shadow_median": statistics.median(r["added_p50_ms"] for r in rounds),
            "gateway_rate_rps": rate, "gateway_pinned": pinned, "gateway_rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["main", "gateway"], default="main")
    parser.add_argument("--stable", default="")
    parser.add_argument("--candidate", default="")
    parser.add_argument("--store", default="")
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-gateway", action="store_true", help="only the simulated judge figures")
    parser.add_argument("--no-judge", action="store_true", help="only the gateway figures")
    parser.add_argument("--pin", action="store_true", help="pin the gateway to core 0, the rest to core 1")
    args = parser.parse_args()
    if args.role == "gateway":
        return role_gateway(args.stable, args.candidate, args.store)
    result = {} if args.no_judge else judge_figures(args.trials, args.seed)
    if not args.no_gateway:
        result.update(gateway_figures(args.rate, args.duration, args.warmup, args.repeats, args.pin))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
