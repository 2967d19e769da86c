"""Crash of a release run -> candidate weight 0 in HAProxy, through the Prefect automation.

HAProxy has no lease: when the release process dies mid-canary, the weights stay where it left
them. What returns traffic to stable is the trigger prefect.yaml gives the ``rollback``
deployment (run it when a run of ``release`` crashes or fails). This measures that path for real:

* a real HAProxy (tests/support/haproxy.py) with 10% on the candidate server;
* a real Prefect server with its event and trigger services (``prefect_test_harness``);
* a serve process (a Prefect runner, polling every second like a worker at
  ``PREFECT_WORKER_QUERY_SECONDS=1``) serving ``release`` and ``rollback`` from their real
  entrypoints, the rollback with the trigger read from prefect.yaml;
* a run of ``release`` is started and its process SIGKILLed as soon as it runs: the runner reports
  the run Crashed, the server's trigger fires, the rollback run starts in a new process and sets
  the candidate weight to 0 through the runtime API.

``crash_to_stable_s`` = SIGKILL -> HAProxy reports candidate weight 0 (polled every 20 ms), the
median of ``RUNS`` crashes on one server; the line also splits the median run into crash
reported, rollback run created, rollback run started, and gives the load average (2 shared
cores: the rollback's new Python process is what contention slows). Prints one JSON line.
~80 s including the Prefect server's start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.haproxy import running_haproxy  # noqa: E402

TIMEOUT_S = 300.0
RUNS = 3


def rollback_triggers() -> list[dict[str, Any]]:
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    return next(d for d in deployments if d["name"] == "rollback")["triggers"]


def serve(config: str) -> None:
    """The worker stand-in: serves release and rollback, the rollback with prefect.yaml's trigger."""
    from prefect import serve as prefect_serve
    from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
    from pydantic import TypeAdapter

    from flows.release import release
    from flows.rollback import rollback

    triggers = [TypeAdapter(DeploymentTriggerTypes).validate_python(t) for t in rollback_triggers()]
    prefect_serve(release.to_deployment(name="release", parameters={"config": config}),
                  rollback.to_deployment(name="rollback", parameters={"config": config}, triggers=triggers),
                  print_starting_message=False)


def write_config(tmp: Path, socket_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "examples" / "support-bot" / "release.yaml").read_text())
    data["canary"].update(enabled=True, router="haproxy", steps=[], traffic=10, haproxy={
        "admin_socket": str(socket_path), "backend": "models", "stable_server": "stable",
        "candidate_server": "candidate"})
    data.setdefault("observability", {}).update(canary_metrics="prometheus", prometheus_url="http://127.0.0.1:9")
    data["artifacts"] = {"uri": str(tmp / "store")}
    path = tmp / "release.yaml"  # the rollback reads only canary and artifacts (no prompt or golden set)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def flow_run_pid(flow_run_id: str) -> int | None:
    """The process the runner started for this flow run (its environment names the run)."""
    needle = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if needle in (proc / "environ").read_bytes().split(b"\0"):
                    return int(proc.name)
            except OSError:
                continue
    return None


def main() -> dict[str, Any]:
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    tmp = Path(tempfile.mkdtemp(prefix="lg-crash-"))
    servers = {"stable": "127.0.0.1:9", "candidate": "127.0.0.1:9"}  # weights only: nothing is proxied here
    with running_haproxy(servers, tmp / "haproxy", weights={"stable": 90, "candidate": 10}) as hap, \
            prefect_test_harness(server_startup_timeout=90):
        config = write_config(tmp, hap.socket_path)
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_RUNNER_POLL_FREQUENCY": "1",
               "PYTHONPATH": str(ROOT)}
        log = (tmp / "serve.log").open("wb")
        worker = subprocess.Popen([sys.executable, __file__, "--serve", str(config)], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return _measure(get_client(sync_client=True), hap, worker, tmp)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)


def _measure(client: Any, hap: Any, worker: subprocess.Popen[bytes], tmp: Path) -> dict[str, Any]:
    with client:
        deadline = time.monotonic() + TIMEOUT_S
        release = rollback = None
        while release is None or rollback is None:  # the serve process registers both deployments
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve process never registered the deployments:\n{_tail(tmp / 'serve.log')}")
            try:
                release = client.read_deployment_by_name("release/release")
                rollback = client.read_deployment_by_name("rollback/rollback")
            except Exception:  # noqa: BLE001 - not registered yet
                time.sleep(0.2)
        automations = client.read_automations_by_name("launchgate-rollback-on-release-crash")
        assert automations, "prefect.yaml's trigger created no automation"
        time.sleep(2.0)  # the trigger service loads new automations periodically
        runs = [_one_crash(client, hap, release.id, rollback.id, deadline, tmp) for _ in range(RUNS)]
    key = sorted(runs, key=lambda r: r["crash_to_stable_s"])[len(runs) // 2]  # the median run
    return {
        "crash_to_stable_s": key["crash_to_stable_s"],
        "crash_to_stable_runs_s": [r["crash_to_stable_s"] for r in runs],
        **{k: v for k, v in key.items() if k != "crash_to_stable_s"},
        "runner_poll_s": 1, "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
    }


def _one_crash(client: Any, hap: Any, release_id: Any, rollback_id: Any, deadline: float,
               tmp: Path) -> dict[str, Any]:
    hap.set_weight("stable", 90)
    hap.set_weight("candidate", 10)  # a canary in flight
    before = {r.id for r in client.read_flow_runs()}
    run = client.create_flow_run_from_deployment(release_id)
    pid = None
    while pid is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the release run never started:\n{_tail(tmp / 'serve.log')}")
        pid = flow_run_pid(str(run.id))
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)  # the controller dies mid-release
    t_kill = time.time()
    while hap.weights()["candidate"] != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"candidate weight never reached 0:\n{_tail(tmp / 'serve.log')}")
        time.sleep(0.02)
    t_stable = time.time()
    crashed = client.read_flow_run(run.id).state
    rb = next((r for r in client.read_flow_runs() if r.deployment_id == rollback_id and r.id not in before), None)
    while rb is not None and not (rb.state and rb.state.is_final()):  # let it finish before the next crash
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
        rb = client.read_flow_run(rb.id)
    return {
        "crash_to_stable_s": round(t_stable - t_kill, 2),
        "crash_state": crashed.type.value if crashed else None,
        "crash_reported_s": round(crashed.timestamp.timestamp() - t_kill, 2) if crashed else None,
        "rollback_run_created_s": round(rb.created.timestamp() - t_kill, 2) if rb and rb.created else None,
        "rollback_run_started_s": round(rb.start_time.timestamp() - t_kill, 2) if rb and rb.start_time else None,
        "rollback_run_state": rb.state.type.value if rb and rb.state else None,
    }


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        print(json.dumps(main()))
