"""Every file a config names is read through one reader: each defect is exit 2 naming the file and the fault."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from launchgate.cli import main
from launchgate.errors import DataFileError
from launchgate.sim.variants import load_golden, load_variants
from tests.conftest import EXAMPLE

# The files release.yaml names (field -> path relative to it).
NAMED = {
    "candidate.prompt.file": "prompts/v2.txt",
    "stable.prompt.file": "prompts/v1.txt",
    "contracts.input_schema": "schemas/input.schema.json",
    "contracts.output_schema": "schemas/output.schema.json",
    "evaluation.golden_set": "golden.jsonl",
}


def _binary(p: Path) -> None:
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")


def _directory(p: Path) -> None:
    p.unlink()
    p.mkdir()


def _missing(p: Path) -> None:
    p.unlink()


def _nul(p: Path) -> None:
    p.write_bytes(b"valid utf-8 but \x00 binary\n")


# defect -> (how to make it, words the message must carry)
DEFECTS: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "binary": (_binary, ("not UTF-8",)),
    "nul": (_nul, ("NUL",)),
    "directory": (_directory, ("is a directory",)),
    "missing": (_missing, ("not found",)),
}


@pytest.fixture
def svc(tmp_path: Path) -> Path:
    dst = tmp_path / "svc"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dst / "release.yaml"


@pytest.mark.parametrize("defect", sorted(DEFECTS))
@pytest.mark.parametrize("field", sorted(NAMED))
def test_validate_names_the_file_and_the_fault(svc: Path, field: str, defect: str) -> None:
    make, words = DEFECTS[defect]
    target = svc.parent / NAMED[field]
    make(target)
    out = CliRunner().invoke(main, ["validate", "--config", str(svc)])
    assert out.exit_code == 2, out.output
    assert out.exception is None or isinstance(out.exception, SystemExit), out.exception
    assert target.name in out.output and field in out.output, out.output
    assert all(w in out.output for w in words), out.output


def test_release_refuses_a_binary_prompt_before_prefect(svc: Path) -> None:
    _binary(svc.parent / "prompts" / "v2.txt")
    out = CliRunner().invoke(main, ["release", "--config", str(svc), "--artifacts", str(svc.parent / "store")])
    assert out.exit_code == 2, out.output
    assert "v2.txt" in out.output and "not UTF-8" in out.output
    assert not (svc.parent / "store").exists()


@pytest.mark.parametrize("body", ['{"type": "object",\n  "properties": {\n}', "[1, 2,,]"])
def test_malformed_schema_names_the_line(svc: Path, body: str) -> None:
    (svc.parent / "schemas" / "output.schema.json").write_text(body)
    out = CliRunner().invoke(main, ["validate", "--config", str(svc)])
    assert out.exit_code == 2 and "output.schema.json" in out.output and "line " in out.output, out.output


def test_the_reader_helpers(tmp_path: Path) -> None:
    from launchgate.config.files import read_json, read_text, read_yaml

    p = tmp_path / "x.txt"
    p.write_bytes(b"ok\n\xe9t\xe9\n")  # latin-1
    with pytest.raises(DataFileError, match=r"prompt is not UTF-8 text \(byte 0xe9 at line 2"):
        read_text(p, "prompt")
    p.write_bytes(b"\xef\xbb\xbf{\"a\": 1}")  # a BOM, as some editors write
    assert read_json(p, "schema") == {"a": 1}
    p.write_text('{"a": 1,\n "b": }')
    with pytest.raises(DataFileError, match="schema is not valid JSON: line 2, column 7"):
        read_json(p, "schema")
    p.write_text("a: [1,\nb: 2\n")
    with pytest.raises(DataFileError, match=r"not valid YAML.*line \d"):
        read_yaml(p, "config")
    with pytest.raises(DataFileError, match="is not a regular file"):
        read_text(Path("/dev/null"), "prompt")
    p.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(DataFileError, match="nested"):
        read_yaml(p, "config")


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_simulator_files_too(tmp_path: Path, defect: str) -> None:
    variants = tmp_path / "variants.yaml"
    shutil.copy(EXAMPLE / "variants.yaml", variants)
    shutil.copy(EXAMPLE / "golden.jsonl", tmp_path / "golden.jsonl")
    make, words = DEFECTS[defect]
    make(variants)
    with pytest.raises(DataFileError) as err:
        load_variants(variants)
    assert err.value.path.endswith("variants.yaml") and all(w in err.value.problem for w in words)
    golden = tmp_path / "golden.jsonl"
    make(golden)
    with pytest.raises(DataFileError) as err:
        load_golden(golden)
    assert err.value.path.endswith("golden.jsonl") and all(w in err.value.problem for w in words)


def test_sim_command_exits_2_on_a_binary_variants_file(tmp_path: Path) -> None:
    variants = tmp_path / "variants.yaml"
    _binary(variants)
    out = CliRunner().invoke(main, ["sim", "--variants", str(variants), "--variant", "stable", "--port", "0"])
    assert out.exit_code == 2 and "variants.yaml" in out.output and "not UTF-8" in out.output, out.output
