"""The core/Prefect boundary (pyproject's [tool.importlinter]): kept today, and broken by one stray import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([LINT, "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120)


def _copy(tmp: Path) -> Path:
    for name in ("launchgate", "tasks", "flows"):
        shutil.copytree(ROOT / name, tmp / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def test_the_core_imports_no_prefect_tasks_or_flows() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_the_contract_fails_when_a_core_module_imports_prefect(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    with (tree / "launchgate" / "privacy" / "redact.py").open("a") as f:
        f.write("\nfrom prefect import get_run_logger  # noqa: E402,F401\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "launchgate.privacy.redact -> prefect" in result.stdout


def test_the_contract_fails_when_a_core_module_imports_a_task(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    with (tree / "launchgate" / "canary" / "judge.py").open("a") as f:
        f.write("\nimport tasks.notify  # noqa: E402,F401\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "launchgate.canary.judge -> tasks.notify" in result.stdout
