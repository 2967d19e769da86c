"""prefect.yaml: the work pool is defined once and reused, and what `prefect deploy --all` registers
on a real server has the cron schedules the reviews promise.

The deploy itself runs once, in tests/integration/test_stack.py (`stack.sh up` deploys to a real
`prefect server`), which reads the deployments back through the API and checks them with
``check_deployments`` below: one server start instead of two in the suite.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import ROOT

POOL = "launchgate-process"
EXPECTED = {  # deployment -> (flow name, cron or None)
    "release": ("release", None),
    "weekly-drift": ("drift-review", "0 9 * * 1"),
    "monthly-cost": ("cost-review", "0 9 1 * *"),
    "post-launch-review": ("post-launch-review", "0 10 * * *"),
    "rollback-drill": ("rollback-drill", "0 11 * * 3"),
    "retention": ("retention", "0 3 * * *"),
    "readiness-review": ("readiness-review", "0 8 * * 1"),
    "extended-eval": ("extended-eval", "0 7 1 * *"),
    "compact-logs": ("compact-logs", "20 * * * *"),
    "rollback": ("rollback", None),
}


def test_work_pool_is_defined_once_and_reused() -> None:
    text = (ROOT / "prefect.yaml").read_text()
    assert text.count(f"name: {POOL}") == 1 and text.count("work_pool: *process_pool") == len(EXPECTED)
    deployments = yaml.safe_load(text)["deployments"]
    assert {d["name"] for d in deployments} == set(EXPECTED)
    assert all(d["work_pool"]["name"] == POOL for d in deployments)


def check_deployments(deployments: list[dict[str, Any]], flows: list[dict[str, Any]]) -> None:
    """What the Prefect API returns for /deployments/filter and /flows/filter after `deploy --all`."""
    flow_names = {f["id"]: f["name"] for f in flows}
    found = {d["name"]: d for d in deployments}
    assert set(found) == set(EXPECTED)
    for name, (flow_name, cron) in EXPECTED.items():
        d = found[name]
        assert flow_names[d["flow_id"]] == flow_name, name
        assert d["work_pool_name"] == POOL and d["work_queue_name"] == "default"
        crons = [s["schedule"].get("cron") for s in d["schedules"]]
        assert crons == ([cron] if cron else []), (name, d["schedules"])
        if cron:
            assert d["schedules"][0]["schedule"]["timezone"] == "UTC" and d["schedules"][0]["active"]
    assert found["weekly-drift"]["parameters"] == {"config": "examples/support-bot/release.yaml"}
    assert found["release"]["parameters"]["config"] == "examples/support-bot/release.yaml"
    assert set(found["weekly-drift"]["parameter_openapi_schema"]["properties"]) == {"config", "week",
                                                                                   "artifacts"}
    assert "resume" in found["release"]["parameter_openapi_schema"]["properties"]  # --resume via the deployment
