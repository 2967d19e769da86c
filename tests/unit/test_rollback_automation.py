"""The automation that protects users when a release run dies on a router without a lease.

prefect.yaml gives the ``rollback`` deployment an event trigger; `prefect deploy` turns it into an
automation with a RunDeployment action. Here it goes through Prefect's own models (the same
translation `prefect deploy` and `serve` do) without a server; benchmarks/crash_rollback.py runs it
on a real Prefect server and HAProxy and measures crash -> candidate 0.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import yaml
from prefect.events.actions import RunDeployment
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from pydantic import TypeAdapter

from tests.conftest import ROOT


def _rollback() -> dict[str, Any]:
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    return next(d for d in deployments if d["name"] == "rollback")


def test_rollback_deployment_runs_the_rollback_flow_with_the_release_parameter() -> None:
    d = _rollback()
    assert d["entrypoint"] == "flows/rollback.py:rollback"
    release = next(x for x in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
                   if x["name"] == "release")
    assert set(d["parameters"]) == {"config"} and d["work_pool"] == release["work_pool"]


def test_trigger_becomes_an_automation_that_runs_rollback_on_a_crashed_or_failed_release() -> None:
    (spec,) = _rollback()["triggers"]
    trigger = TypeAdapter(DeploymentTriggerTypes).validate_python(spec)
    rollback_id = uuid4()
    trigger.set_deployment_id(rollback_id)
    automation = trigger.as_automation()
    assert automation.name == "launchgate-rollback-on-release-crash" and automation.enabled
    t = automation.trigger
    assert isinstance(t, EventTrigger) and t.posture is Posture.Reactive and t.threshold == 1
    assert t.expect == {"prefect.flow-run.Crashed", "prefect.flow-run.Failed"}
    assert t.match_related.model_dump() == {"prefect.resource.role": "deployment",  # type: ignore[union-attr]
                                            "prefect.resource.name": "release"}
    assert t.for_each == {"prefect.resource.id"}  # every crashed run fires on its own
    (action,) = automation.actions
    assert isinstance(action, RunDeployment) and action.deployment_id == rollback_id
    assert action.parameters is not None
    assert action.parameters["config"] == "{{ flow_run.parameters.config }}"  # the crashed run's service
