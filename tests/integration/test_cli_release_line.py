"""`launchgate release` keeps its promise for every exit code: the last stdout line is one JSON object
{"release_id", "decision", "reasons", "evidence"}.

The flow's own decisions (passed, blocked, rolled back) are tested end to end elsewhere
(tests/flows/, test_cli_release_s3.py); here the flow is replaced so that each exit path of the
command itself is exercised in a second.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from launchgate.cli import main
from launchgate.errors import ConfigError, StoreError
from tests.conftest import EXAMPLE

KEYS = {"release_id", "decision", "reasons", "evidence"}


def last_line(out: Result | subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = out.stdout.strip().splitlines()
    assert lines, f"no stdout at all; stderr: {out.stderr}"
    line = json.loads(lines[-1])
    assert set(line) == KEYS, line
    return line


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    dst = tmp_path / "svc"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dst / "release.yaml"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["release", *args])


def invalid(line: dict[str, Any]) -> None:
    assert line["decision"] == "invalid" and line["release_id"] is None and line["evidence"] is None, line
    assert line["reasons"] and all(isinstance(r, str) and r for r in line["reasons"]), line


def test_invalid_config_exit_2(cfg: Path) -> None:
    cfg.write_text(cfg.read_text().replace("multiplier: 2.0", "multiplier: 1e308"))
    out = run("--config", str(cfg), "--artifacts", str(cfg.parent / "store"))
    assert out.exit_code == 2, out.output
    line = last_line(out)
    invalid(line)
    assert any("load_test.multiplier" in r for r in line["reasons"]), line


def test_bad_input_file_exit_2(cfg: Path) -> None:
    (cfg.parent / "prompts" / "v2.txt").write_bytes(b"\xff\xfe\x00")
    out = run("--config", str(cfg))
    assert out.exit_code == 2
    invalid(last_line(out))


@pytest.mark.parametrize("args", [
    [],                                            # --config missing
    ["--config", str(EXAMPLE)],                    # a directory
    ["--config", str(EXAMPLE / "release.yaml"), "--set", "no-equals-sign"],
    ["--config", str(EXAMPLE / "release.yaml"), "--no-such-flag"],
])
def test_usage_errors_exit_2(args: list[str]) -> None:
    out = run(*args)
    assert out.exit_code == 2, out.output
    invalid(last_line(out))


def _flow(monkeypatch: pytest.MonkeyPatch, fn: Any) -> None:
    import flows.release

    monkeypatch.setattr(flows.release, "release", fn)


@pytest.mark.parametrize(("decision", "code"), [("passed", 0), ("promoted", 0), ("blocked", 3), ("rolled_back", 4)])
def test_decisions_exit_0_3_4(monkeypatch: pytest.MonkeyPatch, decision: str, code: int) -> None:
    def fake(**_: Any) -> dict[str, Any]:
        return {"release_id": "support-bot-20261122T030000Z-1a2b3c4d", "decision": decision, "exit_code": code,
                "reasons": [f"why {decision}"], "evidence": "/store/support-bot/releases/x/", "summary": "s"}

    _flow(monkeypatch, fake)
    out = run("--config", str(EXAMPLE / "release.yaml"))
    assert out.exit_code == code, out.output
    line = last_line(out)
    assert (line["decision"], line["reasons"]) == (decision, [f"why {decision}"])


@pytest.mark.parametrize(("exc", "code", "decision"), [
    (ConfigError("release.yaml", ["service: changed under the running release"]), 2, "invalid"),
    (StoreError("bucket gone"), 1, "error"),
    (RuntimeError("a bug"), 1, "error"),
])
def test_raised_from_the_flow(monkeypatch: pytest.MonkeyPatch, exc: Exception, code: int, decision: str) -> None:
    def fake(**_: Any) -> dict[str, Any]:
        raise exc

    _flow(monkeypatch, fake)
    monkeypatch.delenv("LAUNCHGATE_DEBUG", raising=False)
    out = run("--config", str(EXAMPLE / "release.yaml"))
    assert out.exit_code == code, out.output
    line = last_line(out)
    assert line["decision"] == decision and line["reasons"], line
    assert "Traceback" not in out.output


def test_a_real_process_prints_the_line_on_invalid_input(cfg: Path) -> None:
    cfg.write_text(cfg.read_text().replace("expected_peak_rps: 5", "expected_peak_rps: 1e308"))
    r = subprocess.run([sys.executable, "-m", "launchgate.cli", "release", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    invalid(last_line(r))
    assert "load_test.expected_peak_rps" in r.stderr
