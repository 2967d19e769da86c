"""How much of a demo release is launchgate rather than the model?

Runs `launchgate release` for the example good candidate (a fresh process, as a user would,
including Prefect's ephemeral API start), then reads the eval report to split the wall time:
model_s is the wall time of the concurrent golden-set calls plus the load test's run (time spent
waiting on the model), overhead_s = wall_s - model_s: Prefect's ephemeral API start, Great
Expectations, aiperf's start-up, evidence and notifications. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launchgate.sim.local import sim_processes  # noqa: E402

EXAMPLE = ROOT / "examples" / "support-bot"


def main() -> None:
    store = Path(tempfile.mkdtemp(prefix="lg-bench-"))
    with sim_processes(EXAMPLE / "variants.yaml", ["stable", "good-candidate"]) as urls:
        cmd = [sys.executable, "-m", "launchgate.cli", "release", "--config", str(EXAMPLE / "release.yaml"),
               "--artifacts", str(store), "--set", f"stable.endpoint={urls['stable']}",
               "--set", f"candidate.endpoint={urls['good-candidate']}", "--auto-approve"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
        wall = time.perf_counter() - t0
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    bundle = store / "support-bot" / "releases" / result["release_id"]
    report = json.loads((bundle / "eval" / "eval_report.json").read_text())
    eval_s = report["wall_s"]
    calls = sum(v["calls"] for v in report["variants"].values())
    # The load test drives the model for its whole duration on purpose: that is model time too.
    load_file = bundle / "load" / "loadtest_report.json"
    load_s = json.loads(load_file.read_text())["report"]["duration_s"] if load_file.is_file() else 0.0
    model_s = eval_s + load_s
    print(json.dumps({
        "wall_s": round(wall, 3), "model_s": round(model_s, 3), "overhead_s": round(wall - model_s, 3),
        "eval_model_s": round(eval_s, 3), "load_model_s": round(load_s, 3),
        "decision": result["decision"], "calls": calls, "exit_code": proc.returncode,
    }))

if __name__ == "__main__":
    main()
