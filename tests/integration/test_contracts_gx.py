"""The contracts step's Great Expectations suite on real golden-set files (GX imported once per session)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launchgate.errors import DataFileError
from launchgate.eval.contracts import (
    GoldenRules,
    contract_verdicts,
    expect_schema_valid,
    golden_set_ready,
    schema_verdicts,
    validate_golden_set,
)
from launchgate.eval.golden import read_json_file
from launchgate.verdicts import Phase
from tests.conftest import EXAMPLE

GOLDEN = EXAMPLE / "golden.jsonl"
KNOWN_TAGS = ["account", "billing", "edge", "feedback", "harmful", "long_input", "multilingual", "other", "shipping",
              "short_input", "technical", "typo", "urgent"]


def rules(**kw) -> GoldenRules:
    base = dict(
        output_schema=read_json_file(EXAMPLE / "schemas" / "output.schema.json", "output schema"),
        input_schema=read_json_file(EXAMPLE / "schemas" / "input.schema.json", "input schema"),
        prompts=[(EXAMPLE / "prompts" / "v1.txt").read_text(), (EXAMPLE / "prompts" / "v2.txt").read_text()],
        max_context_chars=12000,
    )
    return GoldenRules(**{**base, **kw})


@pytest.fixture(scope="module")
def bad_golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lines 1-4 fine; 5 repeats line 2's id; 6 has a 13000-char body; 7 lacks expected; 8 has a bogus tag."""
    lines = GOLDEN.read_text().splitlines()[:4]
    dup = json.loads(lines[1])
    long = json.loads(lines[2])
    long["id"], long["input"]["body"] = "case-long", "x" * 13000
    no_expected = {k: v for k, v in json.loads(lines[3]).items() if k != "expected"} | {"id": "case-noexp"}
    bogus = json.loads(lines[0]) | {"id": "case-tag", "tags": ["technical", "urgnet"]}
    path = tmp_path_factory.mktemp("golden") / "bad.jsonl"
    path.write_text("\n".join([*lines, json.dumps(dup), json.dumps(long), json.dumps(no_expected),
                               json.dumps(bogus)]) + "\n")
    return path


def test_example_golden_set_meets_every_expectation_and_builds_data_docs() -> None:
    report = validate_golden_set(GOLDEN, rules(known_tags=KNOWN_TAGS))
    assert report.success and report.rows == 267, [(o.name, o.rows[:3]) for o in report.failed]
    assert {o.name for o in report.outcomes} >= {"unique_ids", "input_length", "expected_schema", "tags",
                                                 "required_id", "required_input", "required_expected"}
    assert "index.html" in report.docs and any(k.startswith("validations/") for k in report.docs)
    assert not any(k.endswith(".gif") for k in report.docs)
    json.dumps(report.validation_result)  # evidence must serialise as is
    [v] = contract_verdicts(report, GOLDEN)
    assert v.phase is Phase.SUCCESSFUL and "267 cases" in v.reason


def test_duplicate_ids_and_overlong_inputs_are_named_by_row(bad_golden: Path) -> None:
    report = validate_golden_set(bad_golden, rules(known_tags=KNOWN_TAGS), data_docs=False)
    assert not report.success
    verdicts = {v.check: v for v in contract_verdicts(report, bad_golden)}
    assert all(v.phase is Phase.FAILED for v in verdicts.values())

    dup = verdicts["golden_set_unique_ids"]
    second_id = json.loads(GOLDEN.read_text().splitlines()[1])["id"]
    assert f"line 2 ({second_id})" in dup.reason and f"line 5 ({second_id})" in dup.reason
    assert "expect_column_values_to_be_unique(id)" in dup.reason
    assert {r["line"] for r in dup.value["rows"]} == {2, 5}

    long = verdicts["golden_set_input_length"]
    assert "line 6 (case-long)" in long.reason and "12000" in long.reason
    assert "expect_column_values_to_be_between(rendered_chars)" in long.reason

    assert "line 7 (case-noexp)" in verdicts["golden_set_required_expected"].reason
    assert "line 8 (case-tag)" in verdicts["golden_set_tags"].reason
    # Rows that are fine are never blamed.
    assert all(r["line"] not in (1, 3, 4) for v in verdicts.values() for r in v.value["rows"])


def test_tags_are_only_checked_against_a_configured_set(bad_golden: Path) -> None:
    report = validate_golden_set(bad_golden, rules(known_tags=None), data_docs=False)
    assert "tags" not in {o.name for o in report.failed}


def test_expected_outputs_must_match_the_output_schema(tmp_path: Path) -> None:
    row = json.loads(GOLDEN.read_text().splitlines()[0])
    row["expected"]["priority"] = "whenever"
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps(row) + "\n")
    report = validate_golden_set(path, rules(), data_docs=False)
    assert [o.name for o in report.failed] == ["expected_schema"]
    assert report.failed[0].rows == [{"line": 1, "id": row["id"]}]


def test_invalid_schemas_are_failed_verdicts(tmp_path: Path) -> None:
    good = read_json_file(EXAMPLE / "schemas" / "output.schema.json", "s")
    vs = {v.check: v for v in schema_verdicts({"output": (Path("out.json"), good),
                                               "input": (Path("in.json"), {"type": "no-such-type"})})}
    assert vs["output_schema_valid"].phase is Phase.SUCCESSFUL
    assert vs["input_schema_valid"].phase is Phase.FAILED and "in.json" in vs["input_schema_valid"].reason


def test_unreadable_golden_set_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError):
        validate_golden_set(tmp_path / "missing.jsonl", rules())
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"id": "caf\xe9"}\n')
    with pytest.raises(DataFileError, match="UTF-8"):
        validate_golden_set(bad, rules())


def test_schema_validity_expectation_uses_mostly() -> None:
    ok = expect_schema_valid([(f"c{i}", True) for i in range(99)] + [("bad", False)], 0.99)
    assert ok["success"] and ok["observed"] == pytest.approx(0.99) and ok["failing_cases"] == ["bad"]
    low = expect_schema_valid([(f"c{i}", True) for i in range(98)] + [("b1", False), ("b2", False)], 0.99)
    assert not low["success"] and low["failing_cases"] == ["b1", "b2"]


@pytest.mark.parametrize("defect", ["duplicate_id", "long_input", "no_expected", "unknown_tag", "bad_expected",
                                    "not_an_object", "no_id"])
def test_the_pre_check_refuses_whatever_the_suite_fails(defect: str, tmp_path: Path) -> None:
    """golden_set_ready lets model calls start before GX answers: it must never pass a set GX fails."""
    lines = GOLDEN.read_text().splitlines()[:3]
    row = json.loads(lines[0])
    broken = {
        "duplicate_id": json.dumps(json.loads(lines[1])),
        "long_input": json.dumps(row | {"id": "long", "input": {**row["input"], "body": "x" * 13000}}),
        "no_expected": json.dumps({k: v for k, v in row.items() if k != "expected"} | {"id": "noexp"}),
        "unknown_tag": json.dumps(row | {"id": "tag", "tags": ["urgnet"]}),
        "bad_expected": json.dumps(row | {"id": "exp", "expected": {**row["expected"], "priority": "whenever"}}),
        "not_an_object": "[1, 2]",
        "no_id": json.dumps({k: v for k, v in row.items() if k != "id"}),
    }[defect]
    path = tmp_path / "g.jsonl"
    path.write_text("\n".join([*lines, broken]) + "\n")
    assert not validate_golden_set(path, rules(known_tags=KNOWN_TAGS), data_docs=False).success
    assert not golden_set_ready(path, rules(known_tags=KNOWN_TAGS))
    assert golden_set_ready(GOLDEN, rules(known_tags=KNOWN_TAGS))
