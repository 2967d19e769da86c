"""Does running as a replica with shared state (gateway.replicas) change the gateway's added latency?

An A/B that a busy machine cannot bias: one trivial upstream, one plain gateway and one replica
(shared state on: the routing-state document read every 0.25 s, a heartbeat every 1 s, in a local
store), started as gateway_overhead.py's roles. ONE open-loop generator sends requests to all
three in turn (direct, plain, replica, direct, ...), so every burst of other work on the machine
hits the plain gateway and the replica alike; the positions of plain and replica swap every round.
Per round: each target's p50/p99; reported: the medians over rounds of the added p50/p99 (target
minus direct) and of the paired difference replica p50 - plain p50, plus each round's difference.

    .venv/bin/python benchmarks/replica_overhead.py --rounds 8 --rate 300 --duration 10

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import statistics
import subprocess
import tempfile
import time

import aiohttp
from gateway_overhead import _start, request_body  # the same roles and request as the main benchmark


def _pct(values: list[float], q: float) -> float:
    xs = sorted(values)
    return xs[max(0, math.ceil(q / 100 * len(xs)) - 1)]


async def _round(urls: list[str], rate: float, duration: float) -> dict[str, tuple[float, float]]:
    body = request_body()
    headers = {"Content-Type": "application/json", "X-LG-Tenant": "acme"}
    latencies: dict[str, list[float]] = {u: [] for u in urls}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one(url: str) -> None:
            t0 = time.perf_counter()
            async with session.post(f"{url}/chat/completions", data=body, headers=headers) as resp:
                await resp.read()
            latencies[url].append((time.perf_counter() - t0) * 1000)

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * duration)):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(urls[i % len(urls)])))
        await asyncio.gather(*tasks)
    return {u: (_pct(v, 50), _pct(v, 99)) for u, v in latencies.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--rate", type=float, default=300, help="requests per second over all three targets")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    args = parser.parse_args()
    env = {**os.environ, "BENCH_TOKEN": secrets.token_urlsafe(24)}
    procs: list[subprocess.Popen[str]] = []
    try:
        upstream, direct = _start(["--role", "upstream"], env)
        procs.append(upstream)
        plain, plain_url = _start(["--role", "gateway", "--url", direct, "--store", tempfile.mkdtemp()], env)
        procs.append(plain)
        replica, replica_url = _start(["--role", "gateway", "--shared-state", "--url", direct, "--store",
                                       tempfile.mkdtemp()], env)
        procs.append(replica)
        asyncio.run(_round([direct, plain_url, replica_url], 150, 2))  # warm connections and imports
        rounds = []
        for i in range(args.rounds):
            order = [direct, plain_url, replica_url] if i % 2 == 0 else [direct, replica_url, plain_url]
            r = asyncio.run(_round(order, args.rate, args.duration))
            rounds.append({"direct": r[direct], "plain": r[plain_url], "replica": r[replica_url]})
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=15)
    out: dict[str, object] = {}
    for name in ("plain", "replica"):
        out[f"added_p50_ms_{name}"] = round(statistics.median(r[name][0] - r["direct"][0] for r in rounds), 3)
        out[f"added_p99_ms_{name}"] = round(statistics.median(r[name][1] - r["direct"][1] for r in rounds), 3)
    out["replica_minus_plain_p50_ms"] = round(statistics.median(r["replica"][0] - r["plain"][0] for r in rounds), 3)
    out["per_round_p50_diff_ms"] = [round(r["replica"][0] - r["plain"][0], 3) for r in rounds]
    out["rate_per_target"] = round(args.rate / 3, 1)
    out["rounds"] = args.rounds
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine while this ran
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
