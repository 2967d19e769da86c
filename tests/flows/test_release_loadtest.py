"""The load-test step inside the release flow: it runs after the eval gate and a breached SLO blocks (exit 3).

The passing path runs in test_release_flow.py, whose good candidate uses the example release.yaml (load test on).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from flows.release import planned_steps, release
from launchgate.loadtest.engine import find_engine
from launchgate.settings import get_settings
from tests.conftest import EXAMPLE
from tests.support.sim import running_sim

CONFIG = str(EXAMPLE / "release.yaml")
VARIANTS = EXAMPLE / "variants.yaml"
pytestmark = pytest.mark.skipif(find_engine(get_settings().aiperf_bin) is None,
                                reason="aiperf venv missing: run `make aiperf` (`make test` does)")


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {name: stack.enter_context(running_sim(VARIANTS, name)) for name in ("stable", "good-candidate")}


def overrides(sims: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"stable.endpoint": sims["stable"], "candidate.endpoint": sims["good-candidate"],
            "candidate.model": "support-bot-good", "load_test.enabled": True, "load_test.duration_s": 4,
            "load_test.expected_peak_rps": 5, "load_test.arrival": "constant", **extra}


def test_planned_steps_list_the_load_test_only_when_enabled() -> None:
    assert "load_test" not in planned_steps({"load_test.enabled": False}, CONFIG)
    steps = planned_steps({"load_test.enabled": True}, CONFIG)
    assert steps.index("load_test") == steps.index("eval_gate") + 1
    assert "load_test" not in planned_steps({"load_test.enabled": True}, "/no/such/release.yaml")


def test_breached_slo_blocks_the_release_with_numbers_and_evidence(sims: dict[str, str], tmp_path: Path) -> None:
    # good-candidate answers in ~40 ms (p95 ~110 ms): an SLO of 30 ms must block it.
    result = release(config=CONFIG, artifacts=str(tmp_path), auto_approve=True,
                     overrides=overrides(sims, **{"load_test.slo.p95_ms": 30}))
    assert result["decision"] == "blocked" and result["exit_code"] == 3, result["reasons"]
    assert re.match(r"load_p95 \[failed\]: p95 latency at (9\.\d|10\.0) req/s \d+ ms > 30 ms over \d+ requests",
                    result["reasons"][0]), result["reasons"]
    d = tmp_path / "support-bot" / "releases" / result["release_id"]
    for name in ("load/loadtest_report.json", "load/loadtest_report.md", "load/latency_throughput.png",
                 "load/aiperf/profile_export_aiperf.json", "load/aiperf/profile_export.jsonl"):
        assert (d / name).is_file(), name
    report = json.loads((d / "load/loadtest_report.json").read_text())
    assert report["report"]["target_rps"] == 10 and report["report"]["engine"]["version"] == "0.13.0"
    assert report["phase"] == "failed" and report["cost_estimate"]["usd"] > 0
    assert "load_test" in json.loads((d / "manifest.json").read_text())["steps"]
    notes = [json.loads(x) for x in (d / "notifications.jsonl").read_text().splitlines()]
    assert any(n["event"] == "load_test" and n["role"] == "operations" for n in notes)
    # nothing after the gate ran: no sign-off was asked for a release that failed its SLO
    assert not any(v["check"] == "approval" for v in result["verdicts"])
    assert progress_artifacts() and max(a.data for a in progress_artifacts()) == 100.0  # followed to the end


def progress_artifacts() -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, TaskRunFilter
    from prefect.client.schemas.sorting import ArtifactSort

    async def read() -> list[Any]:
        async with get_client() as client:  # every parameter explicit: this server rejects nulls
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["load-test-progress"])),
                flow_run_filter=FlowRunFilter(), task_run_filter=TaskRunFilter(), sort=ArtifactSort.CREATED_DESC,
                limit=50, offset=0)

    return asyncio.run(read())
