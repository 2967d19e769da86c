"""The JUnit report of `launchgate check`, parsed back the way a CI system reads it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from launchgate.release.junit import Suite, junit_xml
from launchgate.verdicts import Phase, Verdict


def verdict(check: str, phase: Phase, reason: str = "why") -> Verdict:
    return Verdict(check=check, phase=phase, reason=reason, value={"rate": 0.5}, threshold=0.9,
                   evidence="eval/eval_report.json")


def test_each_phase_maps_to_what_ci_shows() -> None:
    suites = [
        Suite("contracts", [verdict("golden_set_contract", Phase.SUCCESSFUL)], time_s=1.5),
        Suite("eval_gate", [verdict("eval_score", Phase.FAILED, "short by 0.1 <&> \"quoted\""),
                            verdict("eval_errors_stable", Phase.ERROR),
                            verdict("schema_validity", Phase.INCONCLUSIVE)]),
        Suite("load_test", skipped="not run: eval_gate blocked"),
    ]
    data = junit_xml(suites, name="launchgate check", properties={"release_id": "svc-check-1"})
    assert data.startswith(b"<?xml")
    root = ET.fromstring(data)
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "5", "failures": "2", "errors": "1", "skipped": "1"}
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert list(cases["golden_set_contract"]) == []
    failure = cases["eval_score"].find("failure")
    assert failure is not None and failure.get("message") == "short by 0.1 <&> \"quoted\""
    assert failure.get("type") == "failed" and "threshold: 0.9" in (failure.text or "")
    assert cases["eval_errors_stable"].find("error") is not None
    assert cases["schema_validity"].find("failure").get("type") == "inconclusive"
    assert cases["load_test"].find("skipped").get("message") == "not run: eval_gate blocked"
    contracts = root.find("testsuite[@name='contracts']")
    assert contracts.get("time") == "1.500" and contracts.get("tests") == "1"
    assert contracts.find("properties/property[@name='release_id']").get("value") == "svc-check-1"


def test_a_step_that_could_not_run_is_an_error_not_a_pass() -> None:
    root = ET.fromstring(junit_xml([Suite("preflight", error="release.yaml: evaluation.min_delta: not a number")],
                                   name="launchgate check"))
    [case] = root.iter("testcase")
    assert case.find("error").get("message").startswith("release.yaml")
    assert root.get("errors") == "1" and root.get("tests") == "1"
