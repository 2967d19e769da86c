"""The tree keeps its shape: thin tasks and flows over the core, and only the shared core at launchgate/'s top."""

from __future__ import annotations

from tests.conftest import ROOT

SHARED_CORE = {"__init__.py", "errors.py", "settings.py", "verdicts.py"}  # config/ and cli/ are packages


def _lines(path: object) -> int:
    return len(path.read_text().splitlines())  # type: ignore[attr-defined]


def test_every_task_file_is_under_100_lines() -> None:
    long = {p.name: _lines(p) for p in (ROOT / "tasks").glob("*.py") if _lines(p) >= 100}
    assert not long, f"tasks/ only adds retries, timeouts, artifacts and progress: move logic to launchgate/ {long}"


def test_every_flow_is_under_200_lines() -> None:
    long = {p.name: _lines(p) for p in (ROOT / "flows").glob("*.py") if _lines(p) >= 200}
    assert not long, f"one thin file per deployment: {long}"


def test_launchgate_top_level_holds_only_the_shared_core_and_packages() -> None:
    modules = {p.name for p in (ROOT / "launchgate").glob("*.py")}
    assert modules <= SHARED_CORE, f"put these in a package: {sorted(modules - SHARED_CORE)}"
