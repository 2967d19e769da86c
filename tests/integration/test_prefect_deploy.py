"""prefect.yaml against a real local Prefect server: `prefect deploy --all` registers every deployment,
and the cron schedules read back through the Prefect API are the ones the reviews promise.

Slower than the rest (~15 s for the server, a few seconds per CLI call) but in the default suite:
a broken prefect.yaml is only found by deploying it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import ROOT
from tests.support.moto import free_port

pytestmark = pytest.mark.slow

PREFECT = str(Path(sys.executable).parent / "prefect")
POOL = "launchgate-process"
EXPECTED = {  # deployment -> (flow name, cron or None)
    "release": ("release", None),
    "weekly-drift": ("drift-review", "0 9 * * 1"),
    "monthly-cost": ("cost-review", "0 9 1 * *"),
    "post-launch-review": ("post-launch-review", "0 10 * * *"),
    "rollback-drill": ("rollback-drill", "0 11 * * 3"),
}


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_API_HOST": "127.0.0.1",
           "PREFECT_SERVER_API_PORT": str(port), "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_CLI_COLORS": "false"}
    env.pop("PREFECT_API_KEY", None)
    log = (home / "server.log").open("wb")
    # No UI and no background services: the API is what is under test, and they cost seconds on 2 cores.
    proc = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui",
                             "--no-services"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=home)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start: {(home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.25)
        yield api, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PREFECT, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_work_pool_is_defined_once_and_reused() -> None:
    text = (ROOT / "prefect.yaml").read_text()
    assert text.count(f"name: {POOL}") == 1 and text.count("work_pool: *process_pool") == len(EXPECTED)
    deployments = yaml.safe_load(text)["deployments"]
    assert {d["name"] for d in deployments} == set(EXPECTED)
    assert all(d["work_pool"]["name"] == POOL for d in deployments)


def test_deploy_all_registers_deployments_with_their_cron_schedules(prefect_server: tuple[str, dict[str, str]]) -> None:
    api, env = prefect_server
    run(env, "work-pool", "create", POOL, "--type", "process")
    run(env, "--no-prompt", "deploy", "--all")
    with httpx.Client(base_url=api, timeout=10) as client:
        flows = {f["id"]: f["name"] for f in client.post("/flows/filter", json={}).json()}
        found = {d["name"]: d for d in client.post("/deployments/filter", json={}).json()}
    assert set(found) == set(EXPECTED)
    for name, (flow_name, cron) in EXPECTED.items():
        d = found[name]
        assert flows[d["flow_id"]] == flow_name, name
        assert d["work_pool_name"] == POOL and d["work_queue_name"] == "default"
        crons = [s["schedule"].get("cron") for s in d["schedules"]]
        assert crons == ([cron] if cron else []), (name, d["schedules"])
        if cron:
            assert d["schedules"][0]["schedule"]["timezone"] == "UTC" and d["schedules"][0]["active"]
    assert found["weekly-drift"]["parameters"] == {"service_config": "examples/support-bot/release.yaml"}
    assert found["release"]["parameters"]["config"] == "examples/support-bot/release.yaml"
    assert set(found["weekly-drift"]["parameter_openapi_schema"]["properties"]) == {"service_config", "week",
                                                                                   "artifacts"}
