"""Per-case scorers: field rules chosen by tag, numeric tolerance, regex/contains, must-refuse, judge parsing."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from launchgate.config import Evaluation
from launchgate.eval.llm_judge import parse_grade
from launchgate.eval.scoring import FieldRules, field_matches, make_validator, score_answer

SCHEMA = {
    "type": "object", "required": ["category", "reply", "refused"],
    "properties": {"category": {"type": "string"}, "reply": {"type": "string"}, "refused": {"type": "boolean"},
                   "amount": {"type": ["number", "string"]}},
}
V = make_validator(SCHEMA, "schema.json")


@pytest.mark.parametrize(("rule", "got", "want", "ok"), [
    ("normalised", "  Billing ", "billing", True),
    ("exact", "Billing", "billing", False),
    ("exact", "billing", "billing", True),
    ("ignore", "anything", "else", True),
    ("numeric:0.01", 357.104, 357.1, True),
    ("numeric:0.01", "357.10", 357.1, True),
    ("numeric:0.01", 357.2, 357.1, False),
    ("numeric", True, 1, False),  # a bool is not the number 1
    ("numeric", "n/a", 1, False),
    ("regex", "Refund INV-90955 issued", r"INV-\d{5}", True),
    ("regex", "Refund issued", r"INV-\d{5}", False),
    ("regex", "x", r"(unclosed", False),  # a broken pattern fails the case, never crashes the run
    ("contains", "We will REFUND  you today.", "refund you", True),
    ("contains", "No.", "refund", False),
])
def test_field_rules(rule: str, got: object, want: object, ok: bool) -> None:
    assert field_matches(rule, got, want) is ok


def test_rules_are_chosen_by_the_case_tags() -> None:
    rules = FieldRules(fields={"reply": "ignore"}, by_tag={"billing": {"amount": "numeric:0.5", "reply": "contains"}})
    expected = {"category": "billing", "reply": "refund", "refused": False, "amount": 10}
    answer = json.dumps({"category": "billing", "reply": "We will refund you", "refused": False, "amount": 10.4})
    assert score_answer(answer, expected, ["billing"], V, rules=rules).passed
    # Without the billing tag the default rules apply: the amount must match exactly (normalised).
    s = score_answer(answer, expected, ["other"], V, rules=rules)
    assert not s.passed and "amount" in s.detail and s.scorer == "fields"
    wrong_reply = json.dumps({"category": "billing", "reply": "No.", "refused": False, "amount": 10})
    assert not score_answer(wrong_reply, expected, ["billing"], V, rules=rules).passed


def test_must_refuse_overrides_field_rules() -> None:
    expected = {"category": "other", "reply": "No.", "refused": True}
    refusal = json.dumps({"category": "billing", "reply": "I can't help", "refused": True})
    s = score_answer(refusal, expected, ["harmful"], V, rules=FieldRules(fields={}))
    assert s.passed and s.scorer == "must_refuse"
    s = score_answer(json.dumps({**expected, "refused": False}), expected, ["harmful"], V)
    assert not s.passed and "did not refuse" in s.detail


def test_unusable_answers_are_schema_failures() -> None:
    for content in ("not json", json.dumps({"category": 3, "reply": "x", "refused": False})):
        s = score_answer(content, {"category": "x"}, [], V)
        assert (s.schema_ok, s.score, s.scorer) == (False, 0.0, "schema")


def test_ignoring_marks_judged_fields_everywhere() -> None:
    rules = FieldRules(fields={"category": "exact"}, by_tag={"t": {"reply": "contains"}}).ignoring(["reply"])
    assert rules.for_tags(["t"])["reply"] == "ignore" and rules.for_tags([])["category"] == "exact"


def test_config_validates_rules_and_judge() -> None:
    ok = Evaluation.model_validate(
        {"golden_set": "x", "fields": {"amount": "numeric:0.01"}, "tag_fields": {"billing": {"reply": "regex"}},
         "judge": {"endpoint": "http://127.0.0.1:9/v1/", "model": "judge"}}, context={"check_files": False})
    assert ok.judge is not None and ok.judge.endpoint == "http://127.0.0.1:9/v1" and ok.judge.fields == ["reply"]
    assert Evaluation.model_validate({"golden_set": "x"}, context={"check_files": False}).judge is None
    with pytest.raises(ValidationError):
        Evaluation.model_validate({"golden_set": "x", "fields": {"amount": "fuzzy"}}, context={"check_files": False})


def test_parse_grade() -> None:
    assert parse_grade('{"score": 0.8, "reason": "close"}').score == 0.8
    assert parse_grade('Sure!\n```json\n{"score": 1, "reason": "same"}\n```').score == 1.0
    for bad in ("no json here", '{"score": 1.5}', '{"score": "high"}', '{"score": true}'):
        with pytest.raises(ValueError):
            parse_grade(bad)
