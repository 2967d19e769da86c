"""``schema_ok`` for every answer the gateway relays, fast enough to run per request.

jsonschema's validator costs ~80-160 us per answer on these machines, a tenth of the gateway's
whole per-request budget. Output schemas of LLM services are nearly always plain records
(types, enums, required keys, lengths), so ``compile_schema`` turns such a schema into nested
Python checks (~5 us). Any keyword outside that subset makes it return None and the checker
falls back to jsonschema, so the answer is the same either way (tests/unit/test_gateway_schema.py
compares the two on generated instances).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default", "examples",
                          "deprecated", "readOnly", "writeOnly"})
_SUPPORTED = _ANNOTATIONS | {"type", "enum", "const", "required", "properties", "additionalProperties", "minLength",
                             "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items",
                             "minItems", "maxItems", "pattern"}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "number": _is_number,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's, true != 1 and false != 0 (1 == 1.0 still holds)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def compile_schema(schema: Any) -> Check | None:
    """A predicate equivalent to validating against ``schema``, or None if it uses other keywords."""
    if schema is True or schema == {}:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, dict) or not set(schema) <= _SUPPORTED:
        return None
    checks: list[Check] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not all(n in _TYPES for n in names):
            return None
        preds = [_TYPES[n] for n in names]
        checks.append(preds[0] if len(preds) == 1 else (lambda v, ps=preds: any(p(v) for p in ps)))
    if "enum" in schema:
        options = schema["enum"]
        if isinstance(options, list) and options and all(isinstance(o, str) for o in options):
            # The usual enum (labels): a set lookup. Only a string can equal a string in JSON.
            labels = frozenset(options)
            checks.append(lambda v: isinstance(v, str) and v in labels)
        else:
            checks.append(lambda v: any(_json_equal(v, o) for o in options))
    if "const" in schema:
        const = schema["const"]
        checks.append(lambda v: _json_equal(v, const))
    if not _add_string_checks(schema, checks) or not _add_number_checks(schema, checks):
        return None
    if not _add_object_checks(schema, checks) or not _add_array_checks(schema, checks):
        return None
    return _all_of(checks)


def _all_of(checks: list[Check]) -> Check:
    # Most schema nodes carry one or two checks: spare them a generator per value.
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    return lambda v: all(check(v) for check in checks)


def _add_string_checks(schema: dict[str, Any], checks: list[Check]) -> bool:
    lo, hi, pattern = schema.get("minLength"), schema.get("maxLength"), schema.get("pattern")
    if lo is not None:
        checks.append(lambda v: not isinstance(v, str) or len(v) >= lo)
    if hi is not None:
        checks.append(lambda v: not isinstance(v, str) or len(v) <= hi)
    if pattern is not None:
        try:
            rx = re.compile(pattern)
        except re.error:
            return False  # ECMA-262 syntax Python cannot read: let jsonschema decide
        checks.append(lambda v: not isinstance(v, str) or rx.search(v) is not None)
    return True


def _add_number_checks(schema: dict[str, Any], checks: list[Check]) -> bool:
    bounds = [("minimum", lambda v, b: v >= b), ("maximum", lambda v, b: v <= b),
              ("exclusiveMinimum", lambda v, b: v > b), ("exclusiveMaximum", lambda v, b: v < b)]
    for key, ok in bounds:
        if key in schema:
            bound = schema[key]
            if not _is_number(bound):
                return False
            checks.append(lambda v, b=bound, ok=ok: not _is_number(v) or ok(v, b))
    return True


def _add_object_checks(schema: dict[str, Any], checks: list[Check]) -> bool:
    required = schema.get("required", [])
    props_schema = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    props = {name: compile_schema(sub) for name, sub in props_schema.items()}
    extra_check = compile_schema(extra)
    if any(c is None for c in props.values()) or extra_check is None:
        return False

    def check_object(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for name in required:
            if name not in v:
                return False
        for key, value in v.items():
            sub = props.get(key)
            if sub is not None:
                if not sub(value):
                    return False
            elif not extra_check(value):  # type: ignore[misc]
                return False
        return True

    if required or props or extra is not True:
        checks.append(check_object)
    return True


def _add_array_checks(schema: dict[str, Any], checks: list[Check]) -> bool:
    if "items" in schema:
        item = compile_schema(schema["items"])
        if item is None:
            return False
        checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
    lo, hi = schema.get("minItems"), schema.get("maxItems")
    if lo is not None:
        checks.append(lambda v: not isinstance(v, list) or len(v) >= lo)
    if hi is not None:
        checks.append(lambda v: not isinstance(v, list) or len(v) <= hi)
    return True


class SchemaChecker:
    """``schema_ok`` of an answer: its content parses as JSON and validates against the output schema."""

    def __init__(self, schema: dict[str, Any] | None) -> None:
        self.compiled: Check | None = None
        self.validator: Draft202012Validator | None = None
        if schema is not None:
            self.compiled = compile_schema(schema)
            if self.compiled is None:
                self.validator = Draft202012Validator(schema)

    @property
    def enabled(self) -> bool:
        return self.compiled is not None or self.validator is not None

    def check(self, content: str | None) -> bool | None:
        if not self.enabled or content is None:
            return None
        try:
            parsed = json.loads(content)
        except (json.JSONDecodeError, TypeError):
            return False
        if self.compiled is not None:
            return self.compiled(parsed)
        assert self.validator is not None
        return bool(self.validator.is_valid(parsed))
