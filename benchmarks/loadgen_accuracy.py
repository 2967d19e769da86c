"""How accurate is the load engine? Rate and p95 against the simulator's own ground truth.

Starts the simulator (variant "stable") with a known lognormal latency (median 400 ms, p95 480 ms
by default), drives it with aiperf exactly as the release's load-test step does (same command
line builder, same parser) at 20, 50 and 100 req/s, and compares:

* achieved_rps (requests sent / window) with target_rps: target within 2%;
* the measured p95 latency with true_p95_ms, the p95 of the simulator's configured distribution
  (read back from GET /sim/knobs): target within 5%. server_p95_ms is the p95 of the latencies
  the simulator actually drew for the requests it was sent (its draws are deterministic per
  request, so they are recomputed here): it separates the engine's error from sampling noise.

Defaults: constant arrivals (Poisson counts over a 20 s window vary by ~2%, the size of the rate
target itself) and non-streaming (the simulator sleeps once per streamed chunk, ~25 timer
overshoots that add tens of ms, so a streamed reply's true latency is not the configured one).
Both can be switched on to see their effect. Prints one JSON line on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launchgate.config import LoadSLO  # noqa: E402
from launchgate.eval.golden import load_golden_set  # noqa: E402
from launchgate.loadtest.analysis import EngineInfo, LoadPlan, build_command, inputs_jsonl, parse_export, quantile  # noqa: E402
from launchgate.loadtest.engine import ensure_tokenizer, find_engine, read_export, run_engine  # noqa: E402
from launchgate.settings import get_settings  # noqa: E402
from launchgate.sim.behaviour import decide  # noqa: E402
from launchgate.sim.local import free_port, wait_ready  # noqa: E402
from launchgate.sim.variants import Knobs, index_golden, load_golden, load_variants  # noqa: E402

EXAMPLE = ROOT / "examples" / "support-bot"
VARIANTS = EXAMPLE / "variants.yaml"
VARIANT = "stable"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def server_latencies(knobs: Knobs, n: int, texts: list[str]) -> list[float]:
    """The latencies the simulator drew for the first n requests after a reset.

    aiperf sends the input file in order (sequential sampling), wrapping around; the simulator's
    draw for a request depends only on (seed, variant, case, how often that case was seen), so the
    multiset of draws is fixed by n even though concurrent requests arrive in any order.
    """
    spec = load_variants(VARIANTS)
    golden = index_golden(load_golden(spec.golden_set))
    out = []
    for i in range(n):
        messages = [{"role": "user", "content": texts[i % len(texts)]}]
        d = decide(knobs, seed=spec.seed, variant=VARIANT, golden=golden, messages=messages,
                   occurrence=i // len(texts))
        if d.status == 200:
            out.append(d.latency_ms)
    return out


def admin(url: str, path: str, method: str = "GET") -> dict[str, Any]:
    body = b"{}" if method == "POST" else None
    req = urllib.request.Request(url.removesuffix("/v1") + path, method=method, data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="20,50,100", help="comma-separated target req/s")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of load per rate")
    ap.add_argument("--median-ms", type=float, default=400.0)
    ap.add_argument("--p95-ms", type=float, default=480.0)
    ap.add_argument("--arrival", choices=["constant", "poisson"], default="constant")
    ap.add_argument("--streaming", action="store_true")
    ap.add_argument("--engine-args", default="", help="extra aiperf flags, e.g. '--workers-max 2'")
    args = ap.parse_args()

    exe = find_engine(get_settings().aiperf_bin)
    if exe is None:
        log("aiperf not installed: run `make aiperf`")
        return 2
    cases = load_golden_set(EXAMPLE / "golden.jsonl")
    inputs = [c.input for c in cases]
    texts = [json.loads(line)["text"] for line in inputs_jsonl(inputs).splitlines()]
    work = Path(tempfile.mkdtemp(prefix="lg-loadgen-"))
    (work / "inputs.jsonl").write_text(inputs_jsonl(inputs), encoding="utf-8")
    tokenizer = ensure_tokenizer(exe, texts, ROOT / ".launchgate" / "cache")

    port = free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "launchgate.sim", "--variants", str(VARIANTS), "--variant", VARIANT,
         "--port", str(port), "--set", f"latency_ms.median={args.median_ms}", "--set", f"latency_ms.p95={args.p95_ms}",
         "--set", "error_rate=0", "--set", "invalid_json_rate=0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    runs = []
    try:
        wait_ready(url)
        knobs_body = admin(url, "/sim/knobs")
        knobs = Knobs.model_validate(knobs_body["knobs"])
        true_p95 = float(knobs_body["knobs"]["latency_ms"]["p95"])
        for rate in [float(r) for r in args.rates.split(",")]:
            admin(url, "/sim/reset", "POST")  # fresh repeat counters: the draws below match this run
            plan = LoadPlan(endpoint=url, model="support-bot-stable", target_rps=rate, duration_s=args.duration,
                            arrival=args.arrival, streaming=args.streaming, seed=7, request_timeout_s=30,
                            grace_s=30, max_output_tokens=400)
            art = work / f"r{rate:g}"
            cmd = build_command(exe, plan, tokenizer_dir=str(tokenizer), input_file=str(work / "inputs.jsonl"),
                                system_prompt_file=None, artifact_dir=str(art)) + shlex.split(args.engine_args)
            log(f"== {rate:g} req/s for {args.duration:g} s ({args.arrival}, "
                f"{'streaming' if args.streaming else 'non-streaming'})")
            t0, load_before = time.monotonic(), os.getloadavg()[0]
            er = run_engine(cmd, timeout_s=args.duration + 150, duration_s=args.duration)
            summary, records = read_export(art)
            if summary is None:
                log(f"aiperf exited {er.returncode} without a summary: {' | '.join(er.stderr_tail[-5:])}")
                return 1
            r = parse_export(summary, records, plan, LoadSLO(), EngineInfo(returncode=er.returncode))
            drawn = server_latencies(knobs, r.sent, texts)
            row = {
                "target_rps": rate, "achieved_rps": round(r.achieved_rps or 0.0, 3),
                "p95_ms": round(r.latency_ms.p95 or 0.0, 1), "true_p95_ms": true_p95,
                "server_p95_ms": round(quantile(drawn, 95) or 0.0, 1),
                "sent": r.sent, "errors": r.errors, "lag_p95_ms": round(r.generator_lag_ms.p95 or 0.0, 2),
                "engine_throughput_rps": round(r.throughput_rps or 0.0, 2), "wall_s": round(time.monotonic() - t0, 1),
                # The machine is shared (2 cores): the 1-minute load average puts each figure in context.
                "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
            row["rate_err_pct"] = round(100 * (row["achieved_rps"] / rate - 1), 2)
            row["p95_err_pct"] = round(100 * (row["p95_ms"] / true_p95 - 1), 2)
            row["ok"] = abs(row["rate_err_pct"]) <= 2 and abs(row["p95_err_pct"]) <= 5
            log(json.dumps(row))
            runs.append(row)
    finally:
        sim.terminate()
        try:
            sim.wait(timeout=5)
        except subprocess.TimeoutExpired:
            sim.kill()
    print(json.dumps({
        "runs": runs, "arrival": args.arrival, "streaming": args.streaming, "duration_s": args.duration,
        "latency_ms": {"median": args.median_ms, "p95": args.p95_ms}, "targets": {"rate_pct": 2, "p95_pct": 5},
        "all_ok": all(r["ok"] for r in runs), "engine": "aiperf " + str(summary.get("aiperf_version")),
        "engine_args": args.engine_args, "cpus": os.cpu_count(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
