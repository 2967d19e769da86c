"""Every number in release.yaml has a range the steps can compute with; validate names field and range."""

from __future__ import annotations

import math
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types as at
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from launchgate.config import ReleaseConfig, load_config
from launchgate.errors import ConfigError
from tests.conftest import EXAMPLE


def _numeric_leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, type, list[Any]]]:
    """(dotted path, int/float, constraints) of every number a config may hold, however nested."""
    out: list[tuple[str, type, list[Any]]] = []

    def walk(path: str, tp: Any, meta: list[Any]) -> None:
        origin = get_origin(tp)
        if origin is Annotated:
            base, *extra = get_args(tp)
            found = list(meta)
            for m in extra:
                found += m.metadata if isinstance(m, FieldInfo) else [m]
            walk(path, base, found)
        elif origin in (Union, types.UnionType):
            for arg in get_args(tp):
                if arg is not type(None):
                    walk(path, arg, meta)
        elif origin is list:
            walk(f"{path}[]", get_args(tp)[0], [])
        elif origin is dict:
            walk(f"{path}{{}}", get_args(tp)[1], [])
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            out.extend(_numeric_leaves(tp, f"{path}."))
        elif tp in (int, float):
            out.append((path, tp, meta))

    for name, info in model.model_fields.items():
        walk(prefix + name, info.annotation, list(info.metadata))
    return out


LEAVES = _numeric_leaves(ReleaseConfig)


def test_the_walk_sees_the_numbers() -> None:
    paths = {p for p, _, _ in LEAVES}
    assert {"load_test.expected_peak_rps", "load_test.multiplier", "canary.steps[]", "pricing.input_per_1k",
            "drift_review.psi_threshold", "cost_review.spike_factor", "load_test.seed"} <= paths
    assert len(LEAVES) > 60


@pytest.mark.parametrize(("path", "kind", "meta"), LEAVES, ids=[p for p, _, _ in LEAVES])
def test_every_number_has_a_lower_and_an_upper_bound(path: str, kind: type, meta: list[Any]) -> None:
    lower = [m for m in meta if isinstance(m, at.Gt | at.Ge)]
    upper = [m for m in meta if isinstance(m, at.Lt | at.Le)]
    assert lower and upper, f"{path} ({kind.__name__}) needs Field(ge=/gt=, le=/lt=), has {meta}"


def _example_with(tmp_path: Path, dotted: str, value: str) -> Path:
    text = (EXAMPLE / "release.yaml").read_text()
    section, key = dotted.split(".")
    # Replace the value in place so the YAML stays one document with no duplicate keys.
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{section}:"))
    idx = next(i for i in range(start + 1, len(lines)) if lines[i].strip().startswith(f"{key}:"))
    indent = lines[idx][: len(lines[idx]) - len(lines[idx].lstrip())]
    lines[idx] = f"{indent}{key}: {value}"
    out = tmp_path / "release.yaml"
    out.write_text("\n".join(lines) + "\n")
    for sub in ("prompts", "schemas"):
        (tmp_path / sub).symlink_to(EXAMPLE / sub)
    (tmp_path / "golden.jsonl").symlink_to(EXAMPLE / "golden.jsonl")
    return out


@pytest.mark.parametrize(("field", "value"), [
    ("load_test.expected_peak_rps", "1e308"), ("load_test.multiplier", "1e308"), ("load_test.duration_s", ".inf"),
    ("load_test.expected_peak_rps", ".nan"), ("evaluation.budget_usd", "1e999"), ("canary.lease_ttl_s", "86400"),
    ("canary.interval_s", "-2"), ("budget.daily_usd", "1e12"), ("contracts.max_context_chars", "10" + "0" * 30),
])
def test_out_of_range_numbers_are_refused_naming_field_and_range(tmp_path: Path, field: str, value: str) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config(_example_with(tmp_path, field, value))
    (msg,) = [e for e in ei.value.errors if e.startswith(field)]
    assert "allowed" in msg and ("<=" in msg or "<" in msg), msg


def test_in_range_example_still_loads() -> None:
    cfg = load_config(EXAMPLE / "release.yaml")
    assert math.isfinite(cfg.load_test.expected_peak_rps * cfg.load_test.multiplier * cfg.load_test.duration_s)
