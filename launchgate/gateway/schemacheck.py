"""``schema_ok`` for every answer the gateway relays, fast enough to run per request.

Python's jsonschema costs ~25-60 us per answer on these machines, a tenth of the gateway's whole
per-request budget, so the check runs on jsonschema-rs (a compiled, complete JSON Schema
implementation): ~0.3 us to validate the example's output schema, ~3-5 us per answer with the
JSON parse. Being complete, it gives the same verdict as the jsonschema used by eval and
preflight for any schema, not only for a subset (tests/unit/test_gateway_schema.py compares the
two on generated instances); the draft comes from ``$schema`` (2020-12 without one), as there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema_rs

Check = Callable[[Any], bool]


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # Python's json reads NaN and Infinity; JSON has neither


_DECODER = json.JSONDecoder(parse_constant=_not_json)


def compile_schema(schema: Any) -> Check:
    """A predicate equivalent to validating against ``schema``.

    Raises ``jsonschema_rs.ValidationError`` (a ValueError) when ``schema`` is not a valid schema,
    so a broken contract stops the gateway at start-up rather than failing every answer. Remote
    ``$ref`` documents are never fetched (``offline``): the gateway validates against what it was
    given, as jsonschema does by default.
    """
    return jsonschema_rs.validator_for(schema, offline=True).is_valid


class SchemaChecker:
    """``schema_ok`` of an answer: its content parses as JSON and validates against the output schema."""

    def __init__(self, schema: dict[str, Any] | None) -> None:
        self.compiled: Check | None = None if schema is None else compile_schema(schema)

    @property
    def enabled(self) -> bool:
        return self.compiled is not None

    def check(self, content: str | None) -> bool | None:
        if self.compiled is None or content is None:
            return None
        try:
            parsed = _DECODER.decode(content)
        except (ValueError, TypeError, RecursionError):  # RecursionError: nesting deeper than json can read
            return False
        return self.compiled(parsed)
