"""Verdicts as a JUnit XML report, the format CI systems (GitHub, GitLab, Jenkins) display per test.

One ``<testsuite>`` per step, one ``<testcase>`` per verdict. A FAILED or INCONCLUSIVE verdict
is a ``<failure>`` (both block a release), an ERROR verdict (the measuring broke) an ``<error>``;
the message is the verdict's reason. A step that did not run is one ``<skipped>`` case, a step
that could not run (invalid input, a crash) one ``<error>`` case, so CI never shows green for it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from launchgate.verdicts import Phase, Verdict

KIND = {Phase.FAILED: "failure", Phase.INCONCLUSIVE: "failure", Phase.ERROR: "error"}


@dataclass
class Suite:
    """One step's verdicts, or why the step has none."""

    name: str
    verdicts: list[Verdict] = field(default_factory=list)
    time_s: float = 0.0
    skipped: str | None = None  # the step did not run, and why
    error: str | None = None  # the step could not run (bad input, a crash), and why


def _detail(v: Verdict) -> str:
    def plain(x: Any) -> str:
        return x if isinstance(x, str) else json.dumps(x, sort_keys=True, default=str)

    lines = [v.reason, f"phase: {v.phase.value}"]
    lines += [f"{k}: {plain(x)}" for k, x in (("value", v.value), ("threshold", v.threshold),
                                              ("evidence", v.evidence)) if x is not None]
    return "\n".join(lines)


def _suite(parent: ET.Element, suite: Suite, properties: dict[str, str]) -> dict[str, int]:
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    el = ET.SubElement(parent, "testsuite", name=suite.name, time=f"{suite.time_s:.3f}")
    if properties:
        props = ET.SubElement(el, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=key, value=value)
    classname = f"launchgate.{suite.name}"
    for v in suite.verdicts:
        case = ET.SubElement(el, "testcase", classname=classname, name=v.check)
        counts["tests"] += 1
        if v.blocks:
            kind = KIND[v.phase]
            bad = ET.SubElement(case, kind, message=v.reason, type=v.phase.value)
            bad.text = _detail(v)
            counts["failures" if kind == "failure" else "errors"] += 1
    if suite.skipped is not None or suite.error is not None:
        case = ET.SubElement(el, "testcase", classname=classname, name=suite.name)
        counts["tests"] += 1
        if suite.error is not None:
            ET.SubElement(case, "error", message=suite.error, type="error").text = suite.error
            counts["errors"] += 1
        else:
            ET.SubElement(case, "skipped", message=suite.skipped or "")
            counts["skipped"] += 1
    for key, n in counts.items():
        el.set(key, str(n))
    return counts


def junit_xml(suites: list[Suite], *, name: str, properties: dict[str, str] | None = None) -> bytes:
    """The report as UTF-8 XML bytes (with declaration), ready to write to the CI's report path."""
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    time_s = 0.0
    for suite in suites:
        for key, n in _suite(root, suite, properties or {}).items():
            totals[key] += n
        time_s += suite.time_s
    for key, n in totals.items():
        root.set(key, str(n))
    root.set("time", f"{time_s:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
