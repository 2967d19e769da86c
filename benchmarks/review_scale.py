"""How do the drift and cost reviews scale with the request log, in time and memory?

Writes a synthetic log in the gateway's format (its field order and compact JSON, one file per
hour as a gateway writer does) for 5 ISO weeks, ``--lines-per-week`` lines each (the reviewed
week plus the drift review's 4 reference weeks; traffic steady, so no drift and no spike), into a
local artifact store. Then, each as a user would run it, in its own process:

* ``launchgate logs compact`` (every closed hour -> Parquet): ``compaction_s``;
* ``launchgate review drift --week <5th week>``: ``drift_s``;
* ``launchgate review cost --month <the month inside the 5 weeks>``: ``cost_s``;
* ``launchgate audit --request-id <a request of the oldest day>`` (the worst case: the lookup
  reads newest days first): ``audit_s``. It exits 3 (no release bundle in a synthetic store):
  the time is the request lookup's plus the audit's few store reads.

Peak memory is sampled every 0.1 s over the command's whole process tree (/proc RSS sum):
``peak_rss_mb`` is the larger of the two reviews', with each command's figure beside it.
``cpu_s`` is each command's user + system CPU time: on a shared machine the wall times above
grow with the neighbours' load (``load_avg_1m``), the CPU time much less.
Prints one JSON line: lines, drift_s, cost_s, peak_rss_mb, compaction_s, and the details.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "support-bot" / "release.yaml"
SERVICE = "support-bot"
FIRST_MONDAY = date(2026, 8, 31)  # weeks 2026-W36..W40; September lies inside them
WEEKS = 5
REVIEWED_WEEK = "2026-W40"
MONTH = "2026-09"
LAUNCHGATE = [sys.executable, "-m", "launchgate.cli"]


def _rss_tree_kb(pid: int) -> int:
    """RSS of ``pid`` and every descendant (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
        todo += children.get(p, [])
    return total


ERRORS: dict[str, str] = {}


CPU: dict[str, float] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(seconds, peak tree RSS MB, exit code, last stdout line) of one command; its CPU seconds go to CPU."""
    start, cpu0 = time.perf_counter(), _children_cpu()
    err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed below, after the process ends
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env, cwd=ROOT, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _rss_tree_kb(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    CPU[" ".join(args[3:5])] = round(_children_cpu() - cpu0, 1)  # user + sys of the command and what it waited for
    if proc.returncode not in (0, 3):  # 3: the audit of a store without release bundles
        err.seek(0)
        ERRORS[" ".join(args[3:5])] = err.read()[-1500:]
    err.close()
    lines = out.strip().splitlines()
    return round(seconds, 2), round(peak[0] / 1024, 1), proc.returncode, lines[-1] if lines else ""


def write_log(store: Path, per_week: int, seed: int = 1) -> tuple[int, str]:
    """5 weeks of steady traffic, one JSONL file per hour; returns (lines, a request id of the first day)."""
    rng = np.random.default_rng(seed)
    per_hour = per_week / (7 * 24)
    total, first_id = 0, ""
    sha = "0" * 64
    start = datetime.combine(FIRST_MONDAY, datetime.min.time(), UTC)
    for h in range(WEEKS * 7 * 24):
        hour = start + timedelta(hours=h)
        n = int(round(per_hour * (h + 1))) - int(round(per_hour * h))
        if n <= 0:
            continue
        offs = np.sort(rng.uniform(0, 3600, n))
        tin = np.maximum(1, np.round(rng.lognormal(np.log(600) - 0.077, 0.39, n))).astype(int)
        tout = np.maximum(1, np.round(rng.lognormal(np.log(120) - 0.077, 0.39, n))).astype(int)
        lat = 250 * rng.uniform(0.8, 1.2, n) + tout * 4.0 * rng.uniform(0.9, 1.1, n)
        failed = rng.random(n) < 0.005
        schema_ok = rng.random(n) >= 0.002
        base = int(hour.timestamp())
        lines = []
        for i in range(n):
            at = base + offs[i]
            sec = int(at)
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{int((at - sec) * 1000):03d}Z"
            rid = f"req-{h:04d}-{i:06d}"
            if failed[i]:
                tail = (f'"status":502,"error_code":"upstream_error","latency_ms":{lat[i] / 20:.3f},"ttft_ms":null,'
                        f'"input_tokens":null,"output_tokens":null,"cost_usd":null,"schema_ok":null')
            else:
                cost = tin[i] / 1000 * 0.0005 + tout[i] / 1000 * 0.0015
                tail = (f'"status":200,"error_code":null,"latency_ms":{lat[i]:.3f},"ttft_ms":{lat[i] * 0.3:.3f},'
                        f'"input_tokens":{tin[i]},"output_tokens":{tout[i]},"cost_usd":{cost:.8f},'
                        f'"schema_ok":{"true" if schema_ok[i] else "false"}')
            lines.append(f'{{"ts":"{ts}","request_id":"{rid}","service":"{SERVICE}","release_id":null,'
                         f'"variant":"stable","model":"support-bot-stable","prompt_version":"v1",'
                         f'"prompt_sha256":"{sha}",{tail},"retries":0,"prompt_redacted":""}}\n')
        folder = store / SERVICE / "logs" / "requests" / f"{hour:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{hour:%H}-gw-1.jsonl").write_text("".join(lines))
        total += n
        if not first_id:
            first_id = f"req-{h:04d}-000000"
    return total, first_id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines-per-week", type=int, default=100_000)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the store here (default: a temp folder)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="review-scale-") if args.workdir is None else None
    work = Path(tmp.name) if tmp else args.workdir
    store = work / "store"
    env = {**os.environ, "LAUNCHGATE_NOTIFIER": "console", "PREFECT_LOGGING_LEVEL": "WARNING"}
    t = time.perf_counter()
    lines, audit_id = write_log(store, args.lines_per_week)
    generate_s = round(time.perf_counter() - t, 2)
    common = ["--config", str(CONFIG), "--artifacts", str(store)]
    compaction_s, compaction_mb, c_rc, _ = run([*LAUNCHGATE, "logs", "compact", *common, "--lookback-days", "400"],
                                               env)
    drift_s, drift_mb, d_rc, d_out = run([*LAUNCHGATE, "review", "drift", *common, "--week", REVIEWED_WEEK], env)
    cost_s, cost_mb, k_rc, k_out = run([*LAUNCHGATE, "review", "cost", *common, "--month", MONTH], env)
    audit_s, audit_mb, a_rc, _ = run([*LAUNCHGATE, "audit", "--request-id", audit_id, "--service", SERVICE,
                                      "--artifacts", str(store)], env)
    drift = json.loads(d_out) if d_out.startswith("{") else {}
    cost = json.loads(k_out) if k_out.startswith("{") else {}
    print(json.dumps({
        "lines": lines, "lines_per_week": args.lines_per_week, "drift_s": drift_s, "cost_s": cost_s,
        "peak_rss_mb": max(drift_mb, cost_mb), "compaction_s": compaction_s, "audit_s": audit_s,
        "drift_rss_mb": drift_mb, "cost_rss_mb": cost_mb, "compaction_rss_mb": compaction_mb,
        "audit_rss_mb": audit_mb, "generate_s": generate_s,
        "exit_codes": {"compact": c_rc, "drift": d_rc, "cost": k_rc, "audit": a_rc}, "errors": ERRORS,
        "cpu_s": CPU, "load_avg_1m": round(os.getloadavg()[0], 1),
        "drift_requests": drift.get("requests"), "drift_significant": drift.get("significant"),
        "cost_total_usd": cost.get("total_usd"), "cost_spike": cost.get("spike"),
        "parquet_mb": round(sum(p.stat().st_size for p in (store / SERVICE / "logs" / "requests-parquet")
                                .rglob("*.parquet")) / 2**20, 1) if (store / SERVICE).exists() else 0,
        "jsonl_mb": round(sum(p.stat().st_size for p in (store / SERVICE / "logs" / "requests").rglob("*.jsonl"))
                          / 2**20, 1),
    }))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
