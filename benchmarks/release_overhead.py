"""How much of a demo release, and of a `launchgate check`, is launchgate rather than the model?

Runs `launchgate check` and `launchgate release` for the example good candidate, each in a fresh
process as a user or a CI job would (the release including Prefect's ephemeral API start), then
reads each eval report to split the wall time: model_s is the wall time of the concurrent
golden-set calls (plus, for the release, the load test's run: time spent waiting on the model),
overhead_s = wall_s - model_s; cpu_s is the CPU the command's processes used, which, unlike the
wall time, hardly grows with the machine's load. For the release that is Prefect's ephemeral API start, Great
Expectations, aiperf's start-up, evidence and notifications; for the check, Python's start-up,
imports (Great Expectations above all), contracts and evidence. Prints one JSON line.

    python benchmarks/release_overhead.py [--only check|release]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launchgate.sim.local import sim_processes  # noqa: E402

EXAMPLE = ROOT / "examples" / "support-bot"
ENV = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(args: list[str], urls: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float, float,
                                                           dict[str, Any]]:
    """(process, wall s, CPU s of the command and the processes it waited for, its last stdout line)."""
    cmd = [sys.executable, "-m", "launchgate.cli", *args, "--config", str(EXAMPLE / "release.yaml"),
           "--set", f"stable.endpoint={urls['stable']}", "--set", f"candidate.endpoint={urls['good-candidate']}"]
    cpu0 = _cpu_of_children()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=ENV)
    wall = time.perf_counter() - t0
    cpu = _cpu_of_children() - cpu0
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise SystemExit(f"{args[0]} printed nothing (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc, wall, cpu, json.loads(lines[-1])


def time_check(urls: dict[str, str]) -> dict[str, Any]:
    store = Path(tempfile.mkdtemp(prefix="lg-bench-check-"))
    proc, wall, cpu, result = _run(["check", "--artifacts", str(store)], urls)
    report = json.loads((Path(result["evidence"]) / "eval" / "eval_report.json").read_text())
    model_s = report["wall_s"]
    return {"check_wall_s": round(wall, 3), "check_model_s": round(model_s, 3),
            "check_overhead_s": round(wall - model_s, 3), "check_cpu_s": round(cpu, 3),
            "check_decision": result["decision"],
            "check_exit_code": proc.returncode}


def time_release(urls: dict[str, str]) -> dict[str, Any]:
    store = Path(tempfile.mkdtemp(prefix="lg-bench-"))
    # A fresh store has no attestations: readiness reports instead of blocking, so the release runs to the end.
    proc, wall, cpu, result = _run(["release", "--artifacts", str(store), "--auto-approve",
                                    "--set", "readiness.enforce=warn"], urls)
    bundle = store / "support-bot" / "releases" / result["release_id"]
    report = json.loads((bundle / "eval" / "eval_report.json").read_text())
    eval_s = report["wall_s"]
    calls = sum(v["calls"] for v in report["variants"].values())
    # The load test drives the model for its whole duration on purpose: that is model time too.
    load_file = bundle / "load" / "loadtest_report.json"
    load_s = json.loads(load_file.read_text())["report"]["duration_s"] if load_file.is_file() else 0.0
    model_s = eval_s + load_s
    return {
        "wall_s": round(wall, 3), "model_s": round(model_s, 3), "overhead_s": round(wall - model_s, 3),
        "eval_model_s": round(eval_s, 3), "load_model_s": round(load_s, 3), "cpu_s": round(cpu, 3),
        "decision": result["decision"], "calls": calls, "exit_code": proc.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["check", "release"], default=None, help="time only this command")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    with sim_processes(EXAMPLE / "variants.yaml", ["stable", "good-candidate"]) as urls:
        if args.only != "release":
            out.update(time_check(urls))
        if args.only != "check":
            out.update(time_release(urls))
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)  # the machine's load: overhead grows with it
    print(json.dumps(out))


if __name__ == "__main__":
    main()
