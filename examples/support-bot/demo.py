"""`make demo`: three releases of the example service, end to end, on embedded defaults.

Starts the simulated models (stable, good, bad, and a good one that will break) and the release
gateway on free loopback ports, then runs `launchgate release` three times, each a real Prefect
flow on the ephemeral API with a local artifact store and the console notifier:

1. good-candidate: gates pass, rollback drill, auto-approval, canary 10% -> 50%, promoted (exit 0)
2. bad-candidate: blocked by the eval gate, nothing shifted (exit 3)
3. faulty-candidate: passes the gates, then its error rate jumps to 8% ten seconds into the
   canary; the judge rolls it back and on-call is told (exit 4)

Before the releases it shows `launchgate readiness` (what the readiness review still lacks) and signs
the attestations the example's owners can give with `launchgate attest`, each with an honest note:
this demo runs on a local store, the console notifier and no Prometheus or Grafana, so a person
vouches where no check can. After the releases `launchgate readiness` runs again on the promoted one.

Then it audits one request the gateway served during a canary, stops what it started, and says
where the evidence is. Exits 0 when all three end as expected.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from launchgate.sim.local import free_port, sim_processes

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "release.yaml"
VARIANTS = HERE / "variants.yaml"
STORE = os.environ.get("LAUNCHGATE_ARTIFACTS_URI", ".launchgate/store")
TOKEN = secrets.token_urlsafe(24)
ENV = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "LAUNCHGATE_GATEWAY_ADMIN_TOKEN": TOKEN}

# (label, simulator process, model name, expected exit code)
RELEASES = [
    ("good-candidate", "good-candidate", "support-bot-good", 0),
    ("bad-candidate", "bad-candidate", "support-bot-bad", 3),
    ("faulty-candidate", "faulty", "support-bot-good", 4),
]


def lg(*args: str) -> list[str]:
    return [sys.executable, "-m", "launchgate.cli", *args]


def admin_state(gateway: str) -> dict:
    req = urllib.request.Request(f"{gateway}/admin/state", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=2) as resp:
        return json.load(resp)


def start_gateway(urls: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(lg("gateway", "--config", str(CONFIG), "--port", str(port),
                               "--set", f"stable.endpoint={urls['stable']}",
                               "--set", f"candidate.endpoint={urls['good-candidate']}",
                               "--set", f"artifacts.uri={STORE}"),
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            admin_state(url)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the release gateway did not start; run it by hand: "
                                   "launchgate gateway --config examples/support-bot/release.yaml") from None
            time.sleep(0.2)


def inject_fault_into_canary(gateway: str, sim_url: str, stop: threading.Event) -> None:
    """Wait for the canary to start (candidate weight > 0 under a lease), then break the candidate 10 s in."""
    while not stop.is_set():
        try:
            state = admin_state(gateway)
            if state["weights"]["candidate"] > 1 and state.get("lease"):
                break
        except OSError:
            pass
        stop.wait(0.25)
    if stop.wait(10):
        return
    body = json.dumps({"error_rate": 0.08}).encode()
    req = urllib.request.Request(sim_url.removesuffix("/v1") + "/sim/knobs", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=2).close()
    print("\n>>> demo: faulty-candidate's error rate is now 8% (10 s into its canary)\n", flush=True)


def run_release(urls: dict[str, str], gateway: str, label: str, sim: str, model: str) -> tuple[int, dict]:
    cmd = lg("release", "--config", str(CONFIG), "--artifacts", STORE,
             "--set", f"stable.endpoint={urls['stable']}", "--set", f"candidate.endpoint={urls[sim]}",
             "--set", f"candidate.model={model}", "--set", "canary.enabled=true",
             "--set", f"canary.gateway_url={gateway}",
             # No human at the keyboard: release.yaml allows auto-approval for this example service only.
             "--auto-approve")
    print(f"\n=== launchgate release: {label} ({model}) vs stable", flush=True)
    stop = threading.Event()
    fault = None
    if label == "faulty-candidate":
        fault = threading.Thread(target=inject_fault_into_canary, args=(gateway, urls[sim], stop), daemon=True)
        fault.start()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=ENV)
    stop.set()
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {"decision": "error", "reasons": [lines[-1]]}
    return proc.returncode, result


# (signer, items, note, evidence): the example's people (release.yaml readiness.people) vouching for what
# no automated check can see in this demo. A check that can decide always wins over an attestation.
ATTESTATIONS = [
    ("carol", ["quality-thresholds-owned", "regression-owner"], "demo: product owns min_delta 0.02 and the eval "
     "thresholds in release.yaml; regressions go to #support-bot-product", None),
    ("carol", ["human-handoff"], "demo: the gateway queues fallback answers for a person (guardrails.handoff)", None),
    ("carol", ["stakeholders-notified", "support-prepared"], "demo: #support-bot-product announced the launch; "
     "support has the runbook", None),
    ("carol", ["golden-representative", "quality-monitoring"], "demo: golden set drawn from the simulated traffic "
     "mix; the weekly drift review has not run on this local store yet", str(HERE / "golden.jsonl")),
    ("alice", ["fallback-defined"], "demo: guardrails.fallback.answer in release.yaml, drilled by fallback_drill",
     None),
    ("alice", ["prompt-changes-reviewed"], "demo: prompt v1->v2 reviewed in the repository", None),
    ("bob", ["error-budgets", "on-call-rotation", "postmortems-required"], "demo: on-call @support-oncall, "
     "error budget from the 1.5% rollback threshold", None),
    ("bob", ["cost-alerts-routed", "error-rate-alerts", "canary-dashboard-link"], "demo: console notifier, no "
     "Prometheus or Grafana here; the canary judge rolls back at 1.5% errors and draws canary/timeline.png", None),
    ("bob", ["request-logging"], "demo: the gateway logs every request; on a fresh store the first log file lands "
     "with this demo's first canary", None),
    ("alice", ["errors-logged-context"], "demo: every gateway error is logged with its error_code and request id; "
     "on a fresh store the first log file lands with this demo's first canary", None),
    ("bob", ["runbook-approved"], "demo: runbook reviewed", str(HERE / "runbook.md")),
    ("dana", ["security-signoff"], "demo: security review of the gateway and the store layout", None),
    ("dana", ["s3-encryption", "s3-public-access-blocked"], "demo: local store, no S3 bucket (production: "
     "infra/terraform, KMS + public access block)", None),
    ("dana", ["pii-redaction"], "demo: prompts are redacted before the gateway logs them; on a fresh store the "
     "first log file lands with this demo's first canary", None),
    ("frank", ["privacy-review"], "demo: privacy review of the request log fields and data: policy", None),
    ("frank", ["logging-retention"], "demo: local store, no S3 lifecycle rule; production expires evidence after "
     "retention_days (infra/terraform)", None),
    ("erin", ["cost-tracking"], "demo: the gateway books cost_usd per request and the budget ledger per day", None),
]


def readiness(label: str, gateway: str | None = None) -> None:
    """`launchgate readiness`: its verdict line and counts (the full list is in each bundle's readiness.md).
    With ``gateway`` it probes the running release gateway (admin token, /metrics, the context cap)."""
    print(f"\n=== launchgate readiness ({label})", flush=True)
    probe = ["--set", f"canary.gateway_url={gateway}"] if gateway else ["--no-probe"]
    proc = subprocess.run(lg("readiness", "--config", str(CONFIG), "--artifacts", STORE, *probe),
                          stdout=subprocess.PIPE, text=True, env=ENV)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    for line in lines[-2:]:
        print(line[:900])
    print(f"(exit {proc.returncode}: {'ready' if proc.returncode == 0 else 'not ready'})", flush=True)


def sign_attestations() -> None:
    print("\n=== launchgate attest: the owners vouch for what no check can see here", flush=True)
    for who, items, note, evidence in ATTESTATIONS:
        extra = ["--evidence", evidence] if evidence else []
        proc = subprocess.run(lg("attest", *items, "--config", str(CONFIG), "--artifacts", STORE, "--as", who,
                                 "--note", note, *extra), stdout=subprocess.PIPE, text=True, env=ENV)
        print(f"$ launchgate attest {' '.join(items)} --as {who}: exit {proc.returncode}", flush=True)


def audit_newest_canary_request() -> None:
    """`launchgate audit` on the newest request the gateway logged for a candidate, if any."""
    from launchgate.governance.audit import latest_request_id
    from launchgate.store import open_store

    request_id = latest_request_id(open_store(STORE), "support-bot", variant="candidate")
    if request_id is None:
        print("\n(no canary request in the request log: nothing to audit)")
        return
    print(f"\n=== launchgate audit --request-id {request_id}", flush=True)
    subprocess.run(lg("audit", "--request-id", request_id, "--service", "support-bot", "--artifacts", STORE),
                   check=False, env=ENV)


def main() -> int:
    outcomes = []
    readiness("before the demo's attestations")
    sign_attestations()
    with sim_processes(VARIANTS, ["stable", "good-candidate", "bad-candidate"]) as urls, \
            sim_processes(VARIANTS, ["good-candidate"]) as faulty:
        urls["faulty"] = faulty["good-candidate"]
        gw, gateway = start_gateway(urls)
        print(f"simulated models up: {', '.join(f'{k} {v}' for k, v in urls.items())}; gateway {gateway}",
              flush=True)
        try:
            for label, sim, model, want in RELEASES:
                code, result = run_release(urls, gateway, label, sim, model)
                outcomes.append((label, want, code, result))
            readiness("after the attestations and the promoted release", gateway)
            # The gateway flushes its request log every 2 s and on shutdown.
            gw.terminate()
            gw.wait(timeout=15)
        finally:
            if gw.poll() is None:
                gw.kill()
    print("\n=== demo summary")
    ok = True
    for label, want, code, result in outcomes:
        mark = "as expected" if code == want else f"UNEXPECTED (wanted exit {want})"
        print(f"- {label}: {result.get('decision')} (exit {code}, {mark}) release {result.get('release_id')}")
        # The canary's and the eval gate's reasons say most; the housekeeping checks follow.
        reasons = sorted(result.get("reasons", []), key=lambda r: not ("canary" in r or "Eval score" in r))
        for reason in reasons[:2]:
            print(f"    {reason}")
        ok &= code == want
    print(f"\nEvidence bundles: {Path(STORE).resolve() if '://' not in STORE else STORE}/support-bot/releases/")
    print("Each bundle has decision.md, review.md, eval/, load/, drill/, readiness/, canary/ (timeline.png) and "
          "index.json.")
    audit_newest_canary_request()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
