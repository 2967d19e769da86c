"""The simulator's variants YAML and golden set, as pydantic models.

    seed: 7
    golden_set: golden.jsonl          # relative to this YAML file
    variants:
      stable:
        model: support-bot-stable
        accuracy: 0.85
        latency_ms: {median: 40, p95: 120}
        ...

Every knob has a default except ``model`` and ``accuracy``, and unknown keys are rejected, so
a typo in a knob name fails loudly instead of silently simulating the default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from launchgate.config.files import parse_yaml, read_text, read_yaml
from launchgate.errors import DataFileError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LatencySpec(_Strict):
    """Lognormal total latency of a successful response, given by its median and p95."""

    median: float = Field(gt=0)
    p95: float = Field(gt=0)

    @model_validator(mode="after")
    def _p95_not_below_median(self) -> LatencySpec:
        if self.p95 < self.median:
            raise ValueError(f"p95 ({self.p95}) must be >= median ({self.median})")
        return self


class TtftSpec(_Strict):
    """Time to first token: a fraction of the total latency, or its own lognormal median (ms).

    With ``median`` the spread is fixed (p95 = 2 x median) and TTFT never exceeds the total latency.
    """

    fraction: float | None = Field(default=None, gt=0, le=1)
    median: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> TtftSpec:
        if (self.fraction is None) == (self.median is None):
            raise ValueError("give exactly one of 'fraction' or 'median'")
        return self


class TokenSpec(_Strict):
    """Completion tokens per answer: normal(mean, sd), clipped to what a 2000-char reply allows."""

    mean: float = Field(gt=0, le=500)
    sd: float = Field(default=0.0, ge=0)


class FaultSpec(_Strict):
    """A fault that switches on ``after_s`` seconds after the server started and stays on."""

    after_s: float = Field(ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    extra_latency_ms: float = Field(default=0.0, ge=0)
    invalid_json_rate: float = Field(default=0.0, ge=0, le=1)
    schema_violation_rate: float = Field(default=0.0, ge=0, le=1)


class JudgeSpec(_Strict):
    """Judge mode: the server answers as an LLM judge, by a rule, so judge tests run over real HTTP.

    A pairwise request (user content ``{"TICKET", "A", "B"}``) gets the answer that does not contain
    ``dislike`` (a tie when both or neither do); a grading request (``{"ANSWER", "REFERENCE"}``) gets
    score 0 when the answer contains it, else 1.
    """

    dislike: str = Field(min_length=1, max_length=200)


class Knobs(_Strict):
    """How one variant behaves. Rates are per request, except accuracy and flaky_rate (per case)."""

    model: str = Field(min_length=1)
    accuracy: float = Field(ge=0, le=1)
    flaky_rate: float = Field(default=0.0, ge=0, le=1)
    latency_ms: LatencySpec = LatencySpec(median=40, p95=120)
    ttft_ms: TtftSpec = TtftSpec(fraction=0.25)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1)
    retry_after_s: float = Field(default=1.0, ge=0)
    invalid_json_rate: float = Field(default=0.0, ge=0, le=1)
    schema_violation_rate: float = Field(default=0.0, ge=0, le=1)
    # Per request: a valid answer whose category is another one (silent quality loss, for shadow tests).
    category_flip_rate: float = Field(default=0.0, ge=0, le=1)
    output_tokens: TokenSpec = TokenSpec(mean=90, sd=25)
    fault: FaultSpec | None = None
    # Appended to every answer's reply: a leaked key or harmful text, for the gateway's output filter.
    reply_suffix: str = Field(default="", max_length=2000)
    # Answer as an LLM judge instead of the support bot (errors and latency still as the knobs say).
    judge: JudgeSpec | None = None


class VariantsFile(_Strict):
    seed: int = 0
    golden_set: Path
    variants: dict[str, Knobs] = Field(min_length=1)


def _describe(exc: ValidationError) -> str:
    # "variants.stable.latency_ms.p95: Input should be greater than 0" names the exact field.
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
    )


def load_variants(path: Path) -> VariantsFile:
    """Read and validate a variants YAML; golden_set comes back resolved against its folder."""
    path = Path(path)
    raw = read_yaml(path, "variants file")
    if not isinstance(raw, dict):
        raise DataFileError(str(path), "expected a mapping with 'seed', 'golden_set' and 'variants'")
    try:
        spec = VariantsFile.model_validate(raw)
    except ValidationError as exc:
        raise DataFileError(str(path), _describe(exc)) from exc
    if not spec.golden_set.is_absolute():
        spec.golden_set = (path.parent / spec.golden_set).resolve()
    return spec


def merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch: nested mappings merge, ``None`` removes a key (= default)."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = value
    return out


def patch_knobs(knobs: Knobs, patch: Mapping[str, Any], source: str = "knob patch") -> Knobs:
    """Return new knobs with ``patch`` applied; a bad patch raises DataFileError naming the field."""
    current = knobs.model_dump(exclude_none=True)
    if isinstance(patch.get("ttft_ms"), Mapping):
        # fraction and median are alternatives: setting one replaces the other, not merges with it.
        current.pop("ttft_ms", None)
    merged = merge_patch(current, patch)
    try:
        return Knobs.model_validate(merged)
    except ValidationError as exc:
        raise DataFileError(source, _describe(exc)) from exc


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``["error_rate=0.5", "fault.after_s=30"]`` -> a knob patch (values parsed as YAML scalars)."""
    patch: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KNOB=VALUE, got {item!r}")
        *parents, leaf = key.strip().split(".")
        node = patch
        for part in parents:
            node = node.setdefault(part, {})
        try:
            node[leaf] = parse_yaml(raw, "--set", f"the value of {key.strip()}")
        except DataFileError as exc:
            raise ValueError(exc.problem) from None
    return patch


def canonical_input(obj: Any) -> str:
    """The lookup key for a case input: key order and whitespace do not matter."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def load_golden(path: Path) -> list[dict[str, Any]]:
    """Read a golden.jsonl; each line needs an ``id``, an ``input`` object and an ``expected`` object."""
    path = Path(path)
    text = read_text(path, "golden set")
    cases: list[dict[str, Any]] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFileError(str(path), f"line {lineno}: not valid JSON ({exc.msg})") from exc
        if not isinstance(case, dict):
            raise DataFileError(str(path), f"line {lineno}: expected a JSON object")
        for field, kind in (("id", str), ("input", dict), ("expected", dict)):
            if not isinstance(case.get(field), kind):
                problem = f"line {lineno}: field '{field}' missing or not a {kind.__name__}"
                raise DataFileError(str(path), problem)
        if case["id"] in seen:
            raise DataFileError(str(path), f"line {lineno}: duplicate id {case['id']!r}")
        seen.add(case["id"])
        cases.append(case)
    if not cases:
        raise DataFileError(str(path), "golden set is empty")
    return cases


def index_golden(cases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Map canonical input -> case, which is how the simulator recognises a golden request."""
    return {canonical_input(case["input"]): case for case in cases}
