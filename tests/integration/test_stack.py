"""A release through a real Prefect server and a separate process worker (scripts/stack.sh).

`stack.sh up` starts `prefect server` on a free loopback port (SQLite under tmp), creates the
`launchgate-process` pool, runs `prefect deploy --all` and starts a worker; `stack.sh release`
triggers the `release` deployment and waits. The flow then runs in the worker's subprocess:
the test checks that through the server's API (work pool, the worker's name, the process id
the worker recorded) and checks the evidence the run wrote.

Slow by nature (a server cold start is 15-120 s here, depending on the machine's load).
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.integration.test_prefect_deploy import check_deployments
from tests.support.moto import free_port

STACK = ROOT / "scripts" / "stack.sh"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _api(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(STACK_DIR=str(tmp_path / "stack"), STACK_PORT=str(port), STACK_TIMEOUT_S="400",
               STACK_ARTIFACTS=str(tmp_path / "store"), PREFECT_LOGGING_LEVEL="WARNING")
    try:
        up = subprocess.run([str(STACK), "up"], env=env, capture_output=True, text=True, timeout=600)
        assert up.returncode == 0, up.stderr[-3000:]
        yield env, f"http://127.0.0.1:{port}/api"
    finally:
        subprocess.run([str(STACK), "down"], env=env, capture_output=True, timeout=60)


def test_release_runs_in_the_worker_process(stack: tuple[dict[str, str], str], tmp_path: Path) -> None:
    env, api = stack
    # prefect.yaml as deployed by `stack.sh up` (prefect deploy --all): every deployment and schedule.
    check_deployments(_api(api, "/deployments/filter", {}), _api(api, "/flows/filter", {}))
    pool = _api(api, "/work_pools/launchgate-process")
    assert pool["type"] == "process"

    run = subprocess.run([str(STACK), "release"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "Completed" in run.stdout, run.stdout[-2000:]

    flow_runs = _api(api, "/flow_runs/filter", {"flow_runs": {"name": {"like_": "support-bot-"}}})
    assert len(flow_runs) == 1
    fr = flow_runs[0]
    assert fr["state"]["type"] == "COMPLETED"
    # Picked up from the pool by the worker, and run as a process it started (not by the CLI,
    # which only created the run and watched it).
    assert fr["work_pool_name"] == "launchgate-process"
    assert fr["infrastructure_pid"], fr
    worker_pid = int((Path(env["STACK_DIR"]) / "worker.pid").read_text())
    assert int(str(fr["infrastructure_pid"]).rsplit(":", 1)[-1]) not in (worker_pid, os.getpid())
    workers = _api(api, "/work_pools/launchgate-process/workers/filter", {})
    assert workers and workers[0]["status"] == "ONLINE"

    bundles = list((tmp_path / "store" / "support-bot" / "releases").iterdir())
    assert len(bundles) == 1 and bundles[0].name in fr["name"]
    decision = json.loads((bundles[0] / "decision.json").read_text())
    assert decision["decision"] == "passed" and decision["exit_code"] == 0
    index = json.loads((bundles[0] / "index.json").read_text())
    assert {"manifest.json", "eval/eval_report.json", "decision.json"} <= {a["name"] for a in index["artifacts"]}
