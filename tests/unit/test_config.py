from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from launchgate.config import load_config, parse_overrides
from launchgate.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "svc"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dst / "release.yaml"


def _edit(path: Path, fn) -> None:
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))


def test_example_loads_with_seed_defaults() -> None:
    cfg = load_config(EXAMPLE / "release.yaml")
    assert cfg.contracts.max_context_chars == 12000
    assert cfg.contracts.max_output_tokens == 400
    assert cfg.evaluation.min_delta == 0.02
    assert cfg.canary.traffic == 10.0
    assert cfg.rollback.error_rate_threshold == 1.5
    assert cfg.rollback.latency_p95_threshold_ms == 2000
    assert (cfg.budget.daily_usd, cfg.budget.alert_usd) == (50, 45)
    assert cfg.evaluation.golden_set.is_absolute() and cfg.evaluation.golden_set.is_file()


def test_wrong_type_names_the_field(example_copy: Path) -> None:
    _edit(example_copy, lambda d: d["evaluation"].__setitem__("concurrency", "lots"))
    with pytest.raises(ConfigError) as ei:
        load_config(example_copy)
    assert any(e.startswith("evaluation.concurrency:") for e in ei.value.errors), ei.value.errors


def test_unknown_key_is_rejected(example_copy: Path) -> None:
    _edit(example_copy, lambda d: d["canary"].__setitem__("trafic", 5))
    with pytest.raises(ConfigError) as ei:
        load_config(example_copy)
    assert any("canary.trafic: unknown key" in e for e in ei.value.errors)


def test_missing_file_names_field_and_path(example_copy: Path) -> None:
    (example_copy.parent / "golden.jsonl").unlink()
    with pytest.raises(ConfigError) as ei:
        load_config(example_copy)
    msg = "\n".join(ei.value.errors)
    assert "evaluation.golden_set" in msg and "golden.jsonl" in msg and "file not found" in msg


def test_every_error_is_reported_at_once(example_copy: Path) -> None:
    def many(d):
        d["pricing"]["input_per_1k"] = -1
        d["rollback"]["error_rate_threshold"] = "lots%"
        del d["service"]
    _edit(example_copy, many)
    with pytest.raises(ConfigError) as ei:
        load_config(example_copy)
    fields = {e.split(":")[0] for e in ei.value.errors}
    assert {"pricing.input_per_1k", "rollback.error_rate_threshold", "service"} <= fields


def test_budget_alert_above_cap_rejected(example_copy: Path) -> None:
    _edit(example_copy, lambda d: d["budget"].update(alert_usd=60))
    with pytest.raises(ConfigError, match="alert_usd"):
        load_config(example_copy)


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    p = tmp_path / "release.yaml"
    p.write_text("service: x\ncandidate: [unclosed\n")
    with pytest.raises(ConfigError, match="line"):
        load_config(p)


def test_percent_accepts_both_forms(example_copy: Path) -> None:
    _edit(example_copy, lambda d: d["rollback"].update(error_rate_threshold="2.5%", schema_failure_threshold=0.5))
    cfg = load_config(example_copy)
    assert cfg.rollback.error_rate_threshold == 2.5
    assert cfg.rollback.schema_failure_threshold == 0.5


def test_overrides_apply_and_are_validated() -> None:
    cfg = load_config(EXAMPLE / "release.yaml", parse_overrides(["candidate.endpoint=http://127.0.0.1:9/v1"]))
    assert cfg.candidate.endpoint == "http://127.0.0.1:9/v1"
    with pytest.raises(ConfigError, match="candidate.endpoint"):
        load_config(EXAMPLE / "release.yaml", parse_overrides(["candidate.endpoint=not-a-url"]))
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["nonsense"])


def test_a_key_given_twice_is_refused_naming_both_lines(example_copy: Path) -> None:
    text = example_copy.read_text()
    # A second canary section at the end: plain YAML would silently let it replace the first.
    example_copy.write_text(text + "\ncanary:\n  enabled: true\n")
    first = 1 + next(i for i, line in enumerate(text.splitlines()) if line.startswith("canary:"))
    second = len(text.splitlines()) + 2
    with pytest.raises(ConfigError) as ei:
        load_config(example_copy)
    (msg,) = ei.value.errors
    assert "'canary'" in msg and f"line {first} and line {second}" in msg, msg


def test_duplicate_keys_are_found_at_any_depth_but_merges_may_override(tmp_path: Path) -> None:
    from launchgate.config.files import read_yaml
    from launchgate.errors import DataFileError

    p = tmp_path / "x.yaml"
    p.write_text("a:\n  b: 1\n  c: 2\n  b: 3\n")
    with pytest.raises(DataFileError, match=r"key 'b' appears twice in one mapping \(line 2 and line 4\)"):
        read_yaml(p, "x")
    p.write_text("a: {x: 1, x: 2}\n")
    with pytest.raises(DataFileError, match="'x' appears twice"):
        read_yaml(p, "x")
    # The same key in two different mappings is fine, and a merge's keys may be overridden.
    p.write_text("base: &b {x: 1, y: 2}\none: {x: 1}\ntwo:\n  <<: *b\n  x: 5\n")
    assert read_yaml(p, "x")["two"] == {"x": 5, "y": 2}


def test_duplicate_keys_in_set_values_and_variants_files(tmp_path: Path) -> None:
    from launchgate.errors import DataFileError
    from launchgate.sim.variants import load_variants

    with pytest.raises(ConfigError, match="'p95_ms' appears twice"):
        parse_overrides(["load_test.slo={p95_ms: 1, p95_ms: 2}"])
    v = tmp_path / "variants.yaml"
    v.write_text("golden_set: g.jsonl\nvariants:\n  stable: {model: m, accuracy: 0.9}\n"
                 "  stable: {model: n, accuracy: 0.1}\n")
    with pytest.raises(DataFileError, match=r"'stable' appears twice in one mapping \(line 3 and line 4\)"):
        load_variants(v)


def test_duplicate_key_in_a_json_schema_is_refused(tmp_path: Path) -> None:
    from launchgate.config.files import read_json
    from launchgate.errors import DataFileError

    p = tmp_path / "s.json"
    p.write_text('{"type": "object", "required": ["a"], "type": "string"}')
    with pytest.raises(DataFileError, match="'type' appears twice"):
        read_json(p, "output schema")
