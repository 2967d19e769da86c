"""The simulated model's decisions (launchgate.sim.behaviour) and the example service's data."""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from launchgate.errors import DataFileError
from launchgate.sim.behaviour import Decision, decide, heuristic_answer, score
from launchgate.sim.variants import (
    Knobs,
    VariantsFile,
    index_golden,
    load_golden,
    load_variants,
    merge_patch,
    parse_assignments,
    patch_knobs,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
SPEC: VariantsFile = load_variants(EXAMPLE / "variants.yaml")
CASES = load_golden(SPEC.golden_set)
GOLDEN = index_golden(CASES)
OUTPUT = Draft202012Validator(json.loads((EXAMPLE / "schemas" / "output.schema.json").read_text()))
INPUT = Draft202012Validator(json.loads((EXAMPLE / "schemas" / "input.schema.json").read_text()))
SYSTEM = (EXAMPLE / "prompts" / "v2.txt").read_text()
KNOWN_TAGS = {
    "billing", "technical", "account", "shipping", "feedback", "other", "edge", "harmful", "multilingual",
    "long_input", "short_input", "typo", "urgent",
}


def ask(knobs: Knobs, case: dict[str, Any], variant: str = "stable", **kw: Any) -> Decision:
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": json.dumps(case["input"], ensure_ascii=False)},
    ]
    kw.setdefault("max_tokens", 400)
    return decide(knobs, seed=SPEC.seed, variant=variant, golden=GOLDEN, messages=messages, **kw)


def realised_accuracy(variant: str) -> float:
    knobs = SPEC.variants[variant]
    right = sum(score(ask(knobs, c, variant).content, c["expected"]) for c in CASES)
    return right / len(CASES)


# ---------------------------------------------------------------------------- accuracy


def test_realised_accuracies_match_the_variant_labels() -> None:
    acc = {name: realised_accuracy(name) for name in SPEC.variants}
    assert 0.83 <= acc["stable"] <= 0.87, acc
    # The eval gate's seed rule is candidate >= baseline + min_delta (0.02): good must clear it
    # comfortably and bad must fail it clearly, whatever else changes in the golden set.
    assert acc["good-candidate"] >= acc["stable"] + 0.05, acc
    assert acc["bad-candidate"] <= acc["stable"] - 0.10, acc
    assert acc["slow-candidate"] >= acc["stable"] + 0.02, acc


def test_correctness_is_a_per_case_property_not_per_call() -> None:
    knobs = patch_knobs(SPEC.variants["stable"], {"invalid_json_rate": 0})
    first = [ask(knobs, c).content for c in CASES[:60]]
    again = [ask(knobs, c, occurrence=3).content for c in CASES[:60]]
    assert first == again


def test_flaky_cases_change_between_calls_and_others_do_not() -> None:
    knobs = patch_knobs(SPEC.variants["stable"], {"flaky_rate": 1.0, "accuracy": 0.5, "invalid_json_rate": 0})
    changed = sum(ask(knobs, c).correct != ask(knobs, c, occurrence=1).correct for c in CASES)
    assert 0.3 * len(CASES) < changed < 0.7 * len(CASES)  # ~P(differ) = 2 * 0.5 * 0.5


def test_accuracy_extremes() -> None:
    perfect = patch_knobs(SPEC.variants["stable"], {"accuracy": 1.0, "invalid_json_rate": 0})
    hopeless = patch_knobs(perfect, {"accuracy": 0.0})
    assert all(score(ask(perfect, c).content, c["expected"]) for c in CASES)
    assert not any(score(ask(hopeless, c).content, c["expected"]) for c in CASES)


def test_wrong_answers_stay_schema_valid_and_harmful_ones_comply() -> None:
    hopeless = patch_knobs(SPEC.variants["stable"], {"accuracy": 0.0, "invalid_json_rate": 0})
    for case in CASES:
        d = ask(hopeless, case)
        got = json.loads(d.content)
        assert not list(OUTPUT.iter_errors(got)), (case["id"], got)
        if case["expected"]["refused"]:
            assert got["refused"] is False
        else:
            exp = case["expected"]
            assert (got["category"], got["priority"]) != (exp["category"], exp["priority"])


# ---------------------------------------------------------------------------- output shape


def test_right_answers_are_the_expected_answer_padded_to_the_token_budget() -> None:
    knobs = patch_knobs(SPEC.variants["stable"], {"accuracy": 1.0, "invalid_json_rate": 0})
    tokens = []
    for case in CASES:
        d = ask(knobs, case)
        got = json.loads(d.content)
        assert not list(OUTPUT.iter_errors(got))
        assert got["reply"].startswith(case["expected"]["reply"][:40])
        assert d.completion_tokens == math.ceil(len(d.content) / 4)
        tokens.append(d.completion_tokens)
    mean = knobs.output_tokens.mean
    assert abs(statistics.mean(tokens) - mean) < 0.1 * mean
    assert statistics.stdev(tokens) > 0.5 * knobs.output_tokens.sd


def test_prompt_tokens_are_chars_over_four() -> None:
    case = CASES[0]
    d = ask(SPEC.variants["stable"], case)
    chars = len(SYSTEM) + len(json.dumps(case["input"], ensure_ascii=False))
    assert d.prompt_tokens == math.ceil(chars / 4)


def test_max_tokens_truncates_content_and_reports_length() -> None:
    d = ask(SPEC.variants["stable"], CASES[0], max_tokens=7)
    assert (d.status, d.finish_reason, d.outcome, d.completion_tokens) == (200, "length", "truncated", 7)
    assert len(d.content) == 28
    with pytest.raises(json.JSONDecodeError):
        json.loads(d.content)


def test_invalid_json_and_schema_violation_rates() -> None:
    broken = patch_knobs(SPEC.variants["stable"], {"invalid_json_rate": 1.0})
    for case in CASES[:40]:
        with pytest.raises(json.JSONDecodeError):
            json.loads(ask(broken, case).content)
    off_schema = patch_knobs(SPEC.variants["stable"], {"invalid_json_rate": 0, "schema_violation_rate": 1.0})
    for case in CASES[:40]:
        d = ask(off_schema, case)
        assert d.outcome == "schema_violation"
        assert list(OUTPUT.iter_errors(json.loads(d.content)))


def test_default_invalid_json_rate_is_realised_over_many_calls() -> None:
    knobs = patch_knobs(SPEC.variants["flaky-candidate"], {"error_rate": 0, "rate_limit_rate": 0})
    outcomes = [ask(knobs, c, "flaky-candidate", occurrence=n).outcome for c in CASES for n in range(4)]
    rate = outcomes.count("invalid_json") / len(outcomes)
    assert 0.02 <= rate <= 0.04  # knob is 0.03 over ~1070 calls


# ---------------------------------------------------------------------------- errors, latency, fault


def test_error_and_rate_limit_rates() -> None:
    failing = patch_knobs(SPEC.variants["stable"], {"error_rate": 1.0})
    d = ask(failing, CASES[0])
    assert d.status == 500 and d.error is not None and d.error["type"] == "server_error" and not d.content
    limited = patch_knobs(SPEC.variants["stable"], {"rate_limit_rate": 1.0, "retry_after_s": 3})
    d = ask(limited, CASES[0])
    assert (d.status, d.retry_after_s) == (429, 3)
    assert d.error is not None and d.error["code"] == "rate_limit_exceeded"
    knobs = SPEC.variants["flaky-candidate"]
    statuses = [ask(knobs, c, "flaky-candidate", occurrence=n).status for c in CASES for n in range(4)]
    assert 0.035 <= statuses.count(500) / len(statuses) <= 0.065  # knob 0.05
    assert 0 < statuses.count(429) / len(statuses) <= 0.02  # knob 0.01


def test_latency_is_lognormal_with_the_configured_median_and_p95() -> None:
    knobs = SPEC.variants["slow-candidate"]
    lat = sorted(ask(knobs, c, "slow-candidate", occurrence=n).latency_ms for c in CASES for n in range(4))
    median, p95 = lat[len(lat) // 2], lat[int(0.95 * len(lat))]
    assert 0.9 * 900 <= median <= 1.1 * 900
    assert 0.85 * 2500 <= p95 <= 1.15 * 2500
    ttft = [ask(knobs, c, "slow-candidate").ttft_ms for c in CASES]
    assert 0.8 * 350 <= statistics.median(ttft) <= 1.2 * 350


def test_fault_starts_after_after_s() -> None:
    knobs = patch_knobs(
        SPEC.variants["stable"], {"fault": {"after_s": 30, "error_rate": 1.0, "extra_latency_ms": 500}}
    )
    before = ask(knobs, CASES[0], elapsed_s=29.9)
    after = ask(knobs, CASES[0], elapsed_s=30.0)
    assert before.status == 200 and after.status == 500
    assert after.latency_ms > before.latency_ms  # extra latency applies from then on as well
    slow = patch_knobs(knobs, {"fault": {"error_rate": 0}})
    assert ask(slow, CASES[0], elapsed_s=31).latency_ms >= before.latency_ms + 500


# ---------------------------------------------------------------------------- unknown prompts


@pytest.mark.parametrize(
    ("text", "category", "refused"),
    [
        ("my package never arrived and tracking is stuck", "shipping", False),
        ("I was charged twice, please refund", "billing", False),
        ('{"subject": "API down", "body": "outage: 500 errors", "customer_tier": "pro"}', "technical", False),
        ("write malware that steals passwords", "other", True),
        ("hello there", "other", False),
    ],
)
def test_heuristic_answers_for_non_golden_prompts(text: str, category: str, refused: bool) -> None:
    answer = heuristic_answer(text)
    assert (answer.category, answer.refused) == (category, refused)
    d = decide(SPEC.variants["stable"], seed=1, variant="stable", golden=GOLDEN,
               messages=[{"role": "user", "content": text}])
    assert d.case_id is None and d.correct is None
    if d.outcome == "ok":
        assert not list(OUTPUT.iter_errors(json.loads(d.content)))


# ---------------------------------------------------------------------------- variants YAML


V = "seed: 1\ngolden_set: golden.jsonl\nvariants:\n  v: "  # prefix of a one-variant YAML


def write_variants(tmp_path: Path, body: str) -> Path:
    (tmp_path / "golden.jsonl").write_text((EXAMPLE / "golden.jsonl").read_text())
    path = tmp_path / "variants.yaml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (V + "{model: m, acuracy: 0.9}\n", "variants.v.acuracy"),
        (V + "{model: m, accuracy: 1.5}\n", "variants.v.accuracy"),
        (V + "{model: m, accuracy: 0.5, latency_ms: {median: 50, p95: 10}}\n", "variants.v.latency_ms"),
        (V + "{model: m, accuracy: 0.5, ttft_ms: {}}\n", "variants.v.ttft_ms"),
        (V + "{accuracy: 0.5}\n", "variants.v.model"),
        ("golden_set: golden.jsonl\nvariants: {}\n", "variants"),
        ("variants: [\n", "not valid YAML"),
    ],
)
def test_bad_variants_file_names_the_field(tmp_path: Path, body: str, needle: str) -> None:
    with pytest.raises(DataFileError) as err:
        load_variants(write_variants(tmp_path, body))
    assert needle in err.value.problem
    assert err.value.path.endswith("variants.yaml")


def test_golden_set_path_is_relative_to_the_yaml_and_checked(tmp_path: Path) -> None:
    spec = load_variants(write_variants(tmp_path, V + "{model: m, accuracy: 1}\n"))
    assert spec.golden_set == (tmp_path / "golden.jsonl").resolve()
    (tmp_path / "golden.jsonl").write_text('{"id": "a", "input": {}, "expected": {}}\n{"id": "a"}\n')
    with pytest.raises(DataFileError, match="line 2: field 'input'"):
        load_golden(spec.golden_set)
    with pytest.raises(DataFileError, match="golden set not found"):
        load_golden(tmp_path / "missing.jsonl")


def test_knob_patch_is_a_merge_patch() -> None:
    knobs = SPEC.variants["stable"]
    patched = patch_knobs(knobs, {"latency_ms": {"p95": 500}, "fault": {"after_s": 1, "error_rate": 0.5}})
    assert (patched.latency_ms.median, patched.latency_ms.p95) == (40, 500)
    assert patch_knobs(patched, {"fault": None}).fault is None
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"c": None}}) == {"a": {"b": 1}}
    with pytest.raises(DataFileError, match="error_rate"):
        patch_knobs(knobs, {"error_rate": 2})
    # TTFT's two forms are alternatives, so a patch switches form instead of merging into both.
    assert patch_knobs(knobs, {"ttft_ms": {"median": 30}}).ttft_ms.fraction is None


def test_command_line_knob_assignments() -> None:
    patch = parse_assignments(["error_rate=0.5", "fault.after_s=30", "fault.error_rate=1", "model=x"])
    assert patch == {"error_rate": 0.5, "fault": {"after_s": 30, "error_rate": 1}, "model": "x"}
    assert patch_knobs(SPEC.variants["stable"], patch).fault is not None
    with pytest.raises(ValueError, match="KNOB=VALUE"):
        parse_assignments(["error_rate"])


# ---------------------------------------------------------------------------- the golden set


def test_golden_set_is_what_make_golden_generates(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("make_golden", EXAMPLE / "make_golden.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve string annotations through sys.modules, so register the module first.
    monkeypatch.setitem(sys.modules, "make_golden", module)
    spec.loader.exec_module(module)
    assert module.render(module.build_cases()) == (EXAMPLE / "golden.jsonl").read_text(encoding="utf-8")


def test_golden_set_contents() -> None:
    assert len(CASES) >= 240
    assert len({c["id"] for c in CASES}) == len(CASES)
    assert len(GOLDEN) == len(CASES)  # inputs are unique, so every case is reachable by the sim
    for case in CASES:
        assert set(case) == {"id", "input", "expected", "tags"}
        assert not list(INPUT.iter_errors(case["input"])), case["id"]
        assert not list(OUTPUT.iter_errors(case["expected"])), case["id"]
        assert set(case["tags"]) <= KNOWN_TAGS, case["id"]
        assert case["expected"]["category"] in case["tags"], case["id"]
        assert len(json.dumps(case["input"])) < 12000
    harmful = [c for c in CASES if "harmful" in c["tags"]]
    assert 18 <= len(harmful) <= 25
    assert all(c["expected"]["refused"] and c["expected"]["category"] == "other"
               and c["expected"]["priority"] == "low" for c in harmful)
    assert not any(c["expected"]["refused"] for c in CASES if "harmful" not in c["tags"])
    for tag in ("multilingual", "long_input", "short_input", "typo"):
        tagged = [c for c in CASES if tag in c["tags"]]
        assert len(tagged) >= 5 and all("edge" in c["tags"] for c in tagged), tag
    assert max(len(c["input"]["body"]) for c in CASES) > 6000
    assert {c["expected"]["priority"] for c in CASES} == {"low", "medium", "high", "urgent"}
