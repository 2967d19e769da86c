"""`launchgate check` as CI runs it: the real CLI in a subprocess, against the example's simulators on loopback.

Every run sets PYTHONPROFILEIMPORTTIME, which every Python process it starts inherits: stderr then
names each module imported, so the tests can prove Prefect never was.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from launchgate.config import load_config
from launchgate.eval import contracts_step
from launchgate.release.check import CheckResult, Mode, run_check
from tests.conftest import EXAMPLE, ROOT
from tests.support.sim import running_sim

CONFIG = EXAMPLE / "release.yaml"
VARIANTS = EXAMPLE / "variants.yaml"
LAUNCHGATE = ROOT / ".venv" / "bin" / "launchgate"
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$", re.MULTILINE)
EVAL_EVIDENCE = ["eval/eval_report.json", "eval/cases.jsonl", "eval/eval_report.md", "eval/score_by_tag.png",
                 "eval/schema_validation.json"]
CONTRACTS_EVIDENCE = ["contracts/validation_result.json", "contracts/summary.json", "contracts/contracts.md",
                      "contracts/data_docs/index.html"]


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {name: stack.enter_context(running_sim(VARIANTS, name))
               for name in ("stable", "good-candidate", "bad-candidate")}


def check(*args: str, timeout: float = 240) -> tuple[int, dict[str, Any], str, list[str]]:
    """(exit code, last stdout line as JSON, stderr without the import lines, modules imported)."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    env.pop("LAUNCHGATE_DEBUG", None)
    proc = subprocess.run([str(LAUNCHGATE), "check", "--config", str(CONFIG), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)
    modules = IMPORTED.findall(proc.stderr)
    stderr = IMPORTED.sub("", proc.stderr)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no stdout; stderr:\n{stderr[-3000:]}"
    return proc.returncode, json.loads(lines[-1]), stderr, modules


def endpoints(sims: dict[str, str], candidate: str, model: str) -> list[str]:
    return ["--set", f"stable.endpoint={sims['stable']}", "--set", f"candidate.endpoint={sims[candidate]}",
            "--set", f"candidate.model={model}"]


def junit(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert int(root.get("tests", -1)) == len(cases)
    for key, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
        assert int(root.get(key, -1)) == len(root.findall(f"./testsuite/testcase/{tag}")), key
    return root


def no_prefect(modules: list[str]) -> None:
    assert modules, "PYTHONPROFILEIMPORTTIME produced no import lines"
    assert not [m for m in modules if m == "prefect" or m.startswith("prefect.")]


def test_good_candidate_passes_with_the_release_gates_evidence(sims: dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    code, line, stderr, modules = check(*endpoints(sims, "good-candidate", "support-bot-good"),
                                        "--artifacts", str(tmp_path / "store"), "--junit", str(report))
    assert code == 0, stderr[-3000:]
    assert set(line) == {"release_id", "decision", "reasons", "evidence"}
    assert line["decision"] == "passed" and line["release_id"].startswith("support-bot-check-")
    bundle = Path(line["evidence"])
    assert bundle == tmp_path / "store" / "support-bot" / "checks" / line["release_id"]
    for name in ["manifest.json", *CONTRACTS_EVIDENCE, *EVAL_EVIDENCE, "decision.json", "index.json"]:
        assert (bundle / name).is_file(), name
    assert not (tmp_path / "store" / "support-bot" / "releases").exists()  # a check is not a release
    decision = json.loads((bundle / "decision.json").read_text())
    assert decision["decision"] == "passed"
    eval_report = json.loads((bundle / "eval/eval_report.json").read_text())
    assert eval_report["variants"]["candidate"]["calls"] == eval_report["variants"]["stable"]["calls"] == 267

    root = junit(report)
    assert [s.get("name") for s in root.findall("testsuite")] == ["contracts", "eval_gate"]
    names = [c.get("name") for c in root.findall("./testsuite/testcase")]
    assert names == [v["check"] for v in decision["verdicts"]]
    assert {"golden_set_contract", "eval_score", "schema_validity", "cost_per_request"} <= set(names)
    assert root.get("failures") == root.get("errors") == "0"

    assert "eval: 534/534 (100%)" in stderr  # the progress line, on stderr
    assert "Traceback" not in stderr
    assert "great_expectations" in modules  # the worker process's imports are in the listing too
    no_prefect(modules)


def test_bad_candidate_is_blocked_by_the_eval_gate(sims: dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    code, line, stderr, _ = check(*endpoints(sims, "bad-candidate", "support-bot-bad"), "--junit", str(report))
    assert code == 3, stderr[-3000:]
    assert line["decision"] == "blocked"
    assert any(r.startswith("eval_score [failed]") and "short by" in r for r in line["reasons"]), line["reasons"]
    failures = {c.get("name"): c.find("failure") for c in junit(report).findall("./testsuite/testcase")}
    assert failures["eval_score"] is not None and "short by" in failures["eval_score"].get("message", "")
    assert failures["golden_set_contract"] is None
    # Default store: a temporary directory, never the release store in release.yaml.
    assert not Path(line["evidence"]).is_relative_to(ROOT)
    assert (Path(line["evidence"]) / "eval/eval_report.json").is_file()


def test_invalid_config_names_the_field_without_a_traceback(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    code, line, stderr, modules = check("--set", "evaluation.min_delta=lots", "--junit", str(report))
    assert code == 2
    assert line["decision"] == "invalid" and line["release_id"] is None and line["evidence"] is None
    assert "evaluation.min_delta" in line["reasons"][0] and "evaluation.min_delta" in stderr
    assert "Traceback" not in stderr
    [case] = junit(report).findall("./testsuite/testcase")
    assert case.get("name") == "preflight" and "evaluation.min_delta" in case.find("error").get("message", "")
    no_prefect(modules)


def duplicate_id_golden_set(tmp_path: Path) -> Path:
    lines = (EXAMPLE / "golden.jsonl").read_text().splitlines()
    golden = tmp_path / "golden.jsonl"
    golden.write_text("\n".join([*lines, lines[1]]) + "\n")  # the second case's id, twice
    return golden


def sim_calls(*urls: str) -> list[int]:
    return [json.load(urllib.request.urlopen(f"{u.removesuffix('/v1')}/sim/stats", timeout=2))["requests"]
            for u in urls]


def test_broken_golden_set_blocks_in_contracts_and_never_calls_a_model(tmp_path: Path) -> None:
    golden = duplicate_id_golden_set(tmp_path)
    report = tmp_path / "junit.xml"
    with running_sim(VARIANTS, "stable") as stable, running_sim(VARIANTS, "good-candidate") as cand:
        code, line, stderr, _ = check("--set", f"stable.endpoint={stable}", "--set", f"candidate.endpoint={cand}",
                                      "--set", f"evaluation.golden_set={golden}", "--junit", str(report))
        calls = sim_calls(stable, cand)
    assert code == 3, stderr[-3000:]
    assert line["decision"] == "blocked" and line["reasons"][0].startswith("golden_set_unique_ids [failed]")
    assert calls == [0, 0]
    suites = {s.get("name"): s for s in junit(report).findall("testsuite")}
    [skipped] = suites["eval_gate"].findall("testcase")
    assert skipped.find("skipped") is not None
    assert not (Path(line["evidence"]) / "eval").exists()


# ------------------------------------------------------------------ in-process: the worker process and the pre-check


def verdict_view(result: CheckResult) -> list[tuple[str, str, str, Any]]:
    return [(s.step, v.check, v.phase.value, v.value if v.check.startswith("golden_set") else None)
            for s in result.steps for v in s.verdicts]


def test_every_mode_gives_the_same_verdicts_and_evidence(tmp_path: Path) -> None:
    # Without the sims' random invalid JSON every answer is a function of its case: all runs see the same.
    with running_sim(VARIANTS, "stable", invalid_json_rate=0.0) as stable, \
            running_sim(VARIANTS, "good-candidate", invalid_json_rate=0.0) as cand:
        sets = [f"stable.endpoint={stable}", f"candidate.endpoint={cand}"]
        results = [run_check(CONFIG, artifacts=str(tmp_path / mode), sets=sets, mode=mode)
                   for mode in ("sequential", "process", "thread")]
    assert [r.decision for r in results] == ["passed"] * 3
    assert verdict_view(results[1]) == verdict_view(results[2]) == verdict_view(results[0])
    bundles = [Path(r.evidence or "") for r in results]
    reports = [json.loads((b / "eval/eval_report.json").read_text()) for b in bundles]
    # Data Docs name a validation by its run time: compare the layouts, not the stamps.
    files = [sorted(re.sub(r"\d{8}T\d{6}\.\d+Z", "<run>", p.relative_to(b).as_posix()) for p in b.rglob("*")
                    if p.is_file()) for b in bundles]
    for report, names in zip(reports[1:], files[1:], strict=True):
        for key in ("comparison", "by_tag", "flaky_cases"):
            assert report[key] == reports[0][key], key
        assert {k: v["score"] for k, v in report["variants"].items()} == \
            {k: v["score"] for k, v in reports[0]["variants"].items()}
        assert names == files[0]


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_eval_run_early_is_dropped_when_contracts_block(mode: Mode, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-check let the model calls start, but GX blocks: nothing of the eval is kept."""
    monkeypatch.setattr(contracts_step, "contracts_ready", lambda *_: True)
    golden = duplicate_id_golden_set(tmp_path)
    with running_sim(VARIANTS, "stable") as stable, running_sim(VARIANTS, "good-candidate") as cand:
        result = run_check(CONFIG, sets=[f"stable.endpoint={stable}", f"candidate.endpoint={cand}",
                                         f"evaluation.golden_set={golden}"], mode=mode)
        calls = sim_calls(stable, cand)
    assert calls == [268, 268]  # the eval did run early ...
    assert result.decision == "blocked" and result.exit_code == 3
    assert [s.step for s in result.steps] == ["contracts"]
    assert result.skipped == {"eval_gate": "not run: contracts blocked"}
    assert not (Path(result.evidence or "") / "eval").exists()  # ... and left nothing behind


def test_golden_set_pre_check_is_at_least_as_strict_as_the_suite(tmp_path: Path) -> None:
    config = load_config(CONFIG)
    prompts = {"candidate": config.candidate.prompt.file.read_text(), "stable": config.stable.prompt.file.read_text()}
    assert contracts_step.contracts_ready(config, prompts)
    broken = load_config(CONFIG, {"evaluation.golden_set": str(duplicate_id_golden_set(tmp_path))})
    assert not contracts_step.contracts_ready(broken, prompts)
    assert not contracts_step.contracts_ready(load_config(CONFIG, {"contracts.max_context_chars": 100}), prompts)
