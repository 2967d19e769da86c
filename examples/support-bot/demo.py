"""`make demo`: release the example service's good and bad candidates, end to end.

Starts the simulated stable, good-candidate and bad-candidate models on free loopback ports,
runs `launchgate release` for each candidate (a real Prefect flow on the embedded ephemeral
API, local artifact store, console notifier), stops what it started, and says where the
evidence is. Exits 0 when the good candidate passes and the bad one is blocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from launchgate.localsims import sim_processes

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "release.yaml"
VARIANTS = HERE / "variants.yaml"
STORE = os.environ.get("LAUNCHGATE_ARTIFACTS_URI", ".launchgate/store")

CANDIDATES = [
    ("good-candidate", "support-bot-good", 0),
    ("bad-candidate", "support-bot-bad", 3),
]


def run_release(urls: dict[str, str], variant: str, model: str) -> tuple[int, dict]:
    cmd = [sys.executable, "-m", "launchgate.cli", "release", "--config", str(CONFIG), "--artifacts", STORE,
           "--set", f"stable.endpoint={urls['stable']}", "--set", f"candidate.endpoint={urls[variant]}",
           "--set", f"candidate.model={model}"]
    print(f"\n=== launchgate release: candidate {variant} ({model}) vs stable", flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ,
                          "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    for ln in lines[:-1]:
        print(ln)
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {"decision": "error", "reasons": [lines[-1]]}
    return proc.returncode, result


def main() -> int:
    outcomes = []
    with sim_processes(VARIANTS, ["stable", "good-candidate", "bad-candidate"]) as urls:
        print("simulated models up: " + ", ".join(f"{k} {v}" for k, v in urls.items()), flush=True)
        for variant, model, want in CANDIDATES:
            code, result = run_release(urls, variant, model)
            outcomes.append((variant, want, code, result))
    print("\n=== demo summary")
    ok = True
    for variant, want, code, result in outcomes:
        mark = "as expected" if code == want else f"UNEXPECTED (wanted exit {want})"
        print(f"- {variant}: {result.get('decision')} (exit {code}, {mark}) release {result.get('release_id')}")
        for reason in result.get("reasons", [])[:3]:
            print(f"    {reason}")
        ok &= code == want
    print(f"\nEvidence bundles: {Path(STORE).resolve() if '://' not in STORE else STORE}/support-bot/releases/")
    print("Open decision.md and eval/eval_report.md in a bundle to read why.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
