"""Fuzz: generated malformed release.yaml files all end as exit 2 naming the field or file, never a traceback.

Eight kinds of damage, 16 seeded cases each: truncated YAML, binary bytes, wrong types, a key given
twice, huge/negative/non-finite numbers, unknown keys, missing files, directories in place of files.
Every case runs `launchgate validate` in-process (CliRunner); a sample also runs as a real process,
and `launchgate release` on a sample must exit 2 with its JSON line before Prefect starts.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from launchgate.cli import main
from tests.conftest import EXAMPLE

PER_KIND = 16
TEXT = (EXAMPLE / "release.yaml").read_text()
DATA: dict[str, Any] = yaml.safe_load(TEXT)
FILE_FIELDS = ["candidate.prompt.file", "stable.prompt.file", "contracts.input_schema", "contracts.output_schema",
               "evaluation.golden_set"]
# Sections that are pydantic models (a stray key there is "unknown"); approvers, mute, fields are free maps.
MODEL_SECTIONS = ["", "candidate", "stable", "candidate.prompt", "contracts", "evaluation", "load_test",
                  "load_test.slo", "canary", "rollback", "budget", "pricing", "owners", "approvals", "artifacts",
                  "notifications"]
FREE_MAPS = ("approvals.approvers", "notifications.mute", "evaluation.fields")


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    needles: tuple[str, ...]  # every one must appear in the output (the field or file, and the fault)


def _leaves(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        if path in FREE_MAPS:
            return [(path, node)]
        return [leaf for k, v in node.items() for leaf in _leaves(v, f"{path}.{k}" if path else str(k))]
    return [(path, node)]


LEAVES = _leaves(DATA)
NUMERIC = [(p, v) for p, v in LEAVES if isinstance(v, int | float) and not isinstance(v, bool)]


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(data))
    node = out
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    return out


def _dump(data: dict[str, Any]) -> bytes:
    return yaml.safe_dump(data, sort_keys=False).encode()


def truncated(rng: random.Random, i: int) -> Case:
    # Cut before the last required line (pricing.output_per_1k): whatever remains cannot be a full config.
    cut = rng.randrange(1, TEXT.index("  output_per_1k:"))
    return Case(f"truncated-{i}", TEXT[:cut].encode(), ())


def binary(rng: random.Random, i: int) -> Case:
    body = bytes(rng.randrange(256) for _ in range(rng.randrange(20, 400)))
    pos = rng.randrange(len(body))
    body = body[:pos] + b"\xff" + body[pos:]  # never valid UTF-8
    return Case(f"binary-{i}", body, ("not UTF-8",))


def wrong_type(rng: random.Random, i: int) -> Case:
    path, value = rng.choice(LEAVES)
    bad: Any = {"nested": [1, 2]} if not isinstance(value, dict) else "a string"
    return Case(f"wrong-type-{i}", _dump(_set(DATA, path, bad)), (path,))


def duplicate_key(rng: random.Random, i: int) -> Case:
    lines = TEXT.splitlines()
    # Lines holding one whole key (not the start of a flow list continued on the next line).
    keyed = [n for n, line in enumerate(lines) if ":" in line and not line.lstrip().startswith(("#", "-"))
             and line.split(":")[0].strip() and line.count("[") == line.count("]")]
    n = rng.choice(keyed)
    key = lines[n].split(":")[0].strip()
    if not lines[n].startswith(" "):  # a top-level section: a second one at the end, as people do
        lines += ["", f"{key}: {{}}"]
        second = len(lines)
    else:  # a nested key: repeated right under the first
        lines.insert(n + 1, lines[n])
        second = n + 2
    return Case(f"duplicate-{i}", ("\n".join(lines) + "\n").encode(),
                (f"'{key}' appears twice", f"line {n + 1} and line {second}"))


def bad_number(rng: random.Random, i: int) -> Case:
    path, _ = rng.choice(NUMERIC)
    raw = rng.choice(["1e308", "-1e308", ".inf", "-.inf", ".nan", "1" + "0" * 40, "-1e9"])
    text = _dump(_set(DATA, path, "@@")).decode().replace("'@@'", raw)
    return Case(f"number-{i}", text.encode(), (path, "allowed:"))


def unknown_key(rng: random.Random, i: int) -> Case:
    section = rng.choice(MODEL_SECTIONS)
    key = f"zz_{rng.randrange(10**6)}"
    path = f"{section}.{key}" if section else key
    return Case(f"unknown-{i}", _dump(_set(DATA, path, rng.choice([1, "x", [1], {"a": 1}]))),
                (path, "unknown key"))


def missing_file(rng: random.Random, i: int) -> Case:
    field = rng.choice(FILE_FIELDS)
    name = f"nope-{rng.randrange(10**6)}.txt"
    return Case(f"missing-{i}", _dump(_set(DATA, field, f"gone/{name}")), (field, name, "not found"))


def directory(rng: random.Random, i: int) -> Case:
    field = rng.choice(FILE_FIELDS)
    where = rng.choice(["prompts", "schemas", "."])
    return Case(f"directory-{i}", _dump(_set(DATA, field, where)), (field, "is a directory"))


KINDS: list[Callable[[random.Random, int], Case]] = [truncated, binary, wrong_type, duplicate_key, bad_number,
                                                     unknown_key, missing_file, directory]


def _cases() -> list[Case]:
    rng = random.Random(20261122)
    return [kind(rng, i) for kind in KINDS for i in range(PER_KIND)]


CASES = _cases()


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder with the example's prompts, schemas and golden set, and every case's config."""
    root = tmp_path_factory.mktemp("fuzz")
    for name in ("prompts", "schemas", "golden.jsonl"):
        (root / name).symlink_to(EXAMPLE / name)
    for case in CASES:
        (root / f"{case.name}.yaml").write_bytes(case.body)
    return root


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 100 and len({c.name for c in CASES}) == len(CASES)


def test_every_case_exits_2_naming_what_is_wrong(svc: Path) -> None:
    runner = CliRunner()
    failures = []
    for case in CASES:
        path = svc / f"{case.name}.yaml"
        out = runner.invoke(main, ["validate", "--config", str(path)])
        text = out.output
        problems = []
        if out.exit_code != 2:
            problems.append(f"exit {out.exit_code}")
        if out.exception is not None and not isinstance(out.exception, SystemExit):
            problems.append(f"raised {type(out.exception).__name__}: {out.exception}")
        if "Traceback" in text:
            problems.append("traceback")
        if path.name not in text:  # the config file is always named, and so is the field or file
            problems.append("config file not named")
        problems += [f"missing {n!r}" for n in case.needles if n not in text]
        if problems:
            failures.append(f"{case.name}: {', '.join(problems)}\n    {text.strip()[:300]}")
    assert not failures, f"{len(failures)} of {len(CASES)} cases:\n" + "\n".join(failures)


def _first(prefix: str) -> Case:
    return next(c for c in CASES if c.name.startswith(prefix))


def _spawn(*args: str) -> subprocess.Popen[str]:
    # An unreachable Prefect API: had release started Prefect, it would fail there with exit 1, not 2.
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api", "LAUNCHGATE_DEBUG": ""}
    return subprocess.Popen([sys.executable, "-m", "launchgate.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_real_processes_validate_and_release_exit_2_before_prefect(svc: Path) -> None:
    # A few kinds each (real processes cost ~2 s apiece here); in parallel.
    procs = []
    for prefix in ("binary", "duplicate", "directory"):
        case = _first(prefix)
        procs.append((case, "validate", _spawn("validate", "--config", str(svc / f"{case.name}.yaml"))))
    for prefix in ("truncated", "number", "missing"):
        case = _first(prefix)
        procs.append((case, "release", _spawn("release", "--config", str(svc / f"{case.name}.yaml"),
                                              "--artifacts", str(svc / "store"))))
    for case, command, proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2, f"{command} {case.name}: exit {proc.returncode}\n{stderr[-2000:]}"
        assert "Traceback" not in stdout + stderr, f"{command} {case.name}: {stderr[-2000:]}"
        assert f"{case.name}.yaml" in stderr and all(n in stderr for n in case.needles), f"{command}: {stderr}"
        if command == "release":
            line = json.loads(stdout.strip().splitlines()[-1])
            assert line["decision"] == "invalid" and line["release_id"] is None and line["reasons"], line
            assert "prefect" not in stderr.lower(), stderr
    assert not (svc / "store").exists()  # nothing was written for invalid input
