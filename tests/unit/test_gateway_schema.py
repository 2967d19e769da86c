"""The gateway's schema check (jsonschema-rs) gives jsonschema's verdicts, and refuses what is not JSON."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from jsonschema import Draft202012Validator

from launchgate.gateway.schemacheck import SchemaChecker, compile_schema

OUTPUT_SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "examples" / "support-bot" / "schemas"
                            / "output.schema.json").read_text())
SCHEMAS: list[dict[str, Any]] = [
    OUTPUT_SCHEMA,
    {"type": "object", "required": ["n", "tags"], "properties": {
        "n": {"type": "integer", "minimum": 0, "exclusiveMaximum": 10},
        "x": {"type": ["number", "null"], "maximum": 2.5},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}, "minItems": 1, "maxItems": 3},
        "kind": {"const": "a"}, "flag": {"enum": [True, 0, "yes"]},
    }, "additionalProperties": {"type": "string", "minLength": 2}},
    {"type": "array", "items": {"type": "object", "properties": {"v": {"type": "boolean"}}}},
]
POOL: list[Any] = [None, True, False, 0, 1, 1.0, 2.5, 7, 10, -1, 3.7, "", "a", "ab", "abc", "Zz", "yes", "billing",
                   "urgent", "low", "x" * 2001, [], ["a"], ["a", "b", "c", "d"], ["A1"], [{"v": True}], [{"v": 1}], {}]
KEYS = ["category", "priority", "reply", "refused", "n", "x", "tags", "kind", "flag", "v", "extra"]


def _instance(rng: random.Random, depth: int = 0) -> Any:
    if depth < 2 and rng.random() < 0.5:
        return {k: _instance(rng, depth + 1) for k in rng.sample(KEYS, rng.randint(0, 6))}
    if depth < 2 and rng.random() < 0.15:
        return [_instance(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(POOL)


SEEDS: list[Any] = [
    {"category": "billing", "priority": "low", "reply": "ok", "refused": False},
    {"category": "other", "priority": "urgent", "reply": "", "refused": True},
    {"n": 3, "tags": ["ab"], "kind": "a", "flag": 0, "extra": "zz"},
    {"n": 0, "tags": ["a", "b"], "x": None},
    [{"v": True}, {}],
]


def _near_valid(rng: random.Random) -> Any:
    """A valid seed, often with one value swapped: instances right at the edge of validity."""
    seed = json.loads(json.dumps(rng.choice(SEEDS)))
    if isinstance(seed, dict) and rng.random() < 0.6:
        seed[rng.choice([*seed, "extra"])] = rng.choice(POOL)
    return seed


@pytest.mark.parametrize("index", range(len(SCHEMAS)))
def test_compiled_check_agrees_with_jsonschema(index: int) -> None:
    schema = SCHEMAS[index]
    compiled = compile_schema(schema)
    reference = Draft202012Validator(schema)
    rng = random.Random(index)
    instances = [_instance(rng) for _ in range(3000)] + [_near_valid(rng) for _ in range(1000)]
    verdicts = [reference.is_valid(x) for x in instances]
    assert any(verdicts) and not all(verdicts)  # the sample exercises both outcomes
    disagree = [x for x, want in zip(instances, verdicts, strict=True) if compiled(x) != want]
    assert not disagree, disagree[:3]


def test_any_keyword_is_checked_not_only_a_subset() -> None:
    schema = {"$defs": {"label": {"type": "string", "pattern": "^[a-z]+$"}}, "type": "object",
              "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
              "properties": {"a": {"$ref": "#/$defs/label"}, "b": {"type": "array", "uniqueItems": True}}}
    checker = SchemaChecker(schema)
    assert checker.check('{"a": "ok"}') is True
    assert checker.check('{"a": "ok", "b": []}') is False  # oneOf: both match
    assert checker.check('{"a": "Not ok"}') is False  # through the $ref
    assert checker.check('{"b": [1, 1]}') is False


def test_checker_parses_content() -> None:
    checker = SchemaChecker(OUTPUT_SCHEMA)
    assert checker.enabled
    assert checker.check(json.dumps({"category": "billing", "priority": "low", "reply": "hi", "refused": False}))
    assert checker.check("{'category': 'billing'}") is False  # not JSON
    assert checker.check(None) is None
    assert SchemaChecker(None).check("{}") is None and not SchemaChecker(None).enabled


def test_what_is_not_json_fails_the_check_instead_of_raising() -> None:
    checker = SchemaChecker({"type": ["number", "array"]})
    assert checker.check("1.5") is True
    assert checker.check("NaN") is False and checker.check("[-Infinity]") is False  # Python reads these; JSON has none
    assert checker.check("[" * 100_000 + "]" * 100_000) is False  # deeper than json can parse


def test_an_invalid_schema_fails_at_start_and_remote_refs_are_not_fetched() -> None:
    with pytest.raises(jsonschema_rs.ValidationError):
        SchemaChecker({"type": "bogus"})
    with pytest.raises(jsonschema_rs.ValidationError):
        SchemaChecker({"$ref": "https://launchgate.invalid/never-fetched.json"})
