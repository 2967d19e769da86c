"""The CLI as a user runs it: a real process, exit codes, no tracebacks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLE


def lg(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
       timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launchgate.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    dst = tmp_path / "svc"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dst / "release.yaml"


def edit(path: Path, fn) -> None:
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))


def test_validate_ok() -> None:
    r = lg("validate", "--config", str(EXAMPLE / "release.yaml"))
    assert r.returncode == 0, r.stderr
    assert "is valid" in r.stdout and "golden cases" in r.stdout


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d["evaluation"].__setitem__("min_delta", "a lot"), "evaluation.min_delta"),
    (lambda d: d["contracts"].__setitem__("output_schema", "schemas/missing.json"), "contracts.output_schema"),
    (lambda d: d.__setitem__("canray", {"traffic": 5}), "canray"),
])
def test_bad_config_exit_2_names_field_without_traceback(cfg: Path, mutate, field: str) -> None:
    edit(cfg, mutate)
    r = lg("validate", "--config", str(cfg))
    assert r.returncode == 2
    assert field in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_release_with_bad_config_exits_2_before_prefect(cfg: Path) -> None:
    edit(cfg, lambda d: d["pricing"].__setitem__("output_per_1k", -3))
    r = lg("release", "--config", str(cfg), "--artifacts", str(cfg.parent / "store"))
    assert r.returncode == 2 and "pricing.output_per_1k" in r.stderr
    assert not (cfg.parent / "store").exists()  # nothing written for invalid input


def test_resume_of_an_unknown_or_changed_release_exits_2_before_prefect(cfg: Path) -> None:
    store = cfg.parent / "store"
    r = lg("release", "--config", str(cfg), "--artifacts", str(store), "--resume",
           "support-bot-20261122T000000Z-deadbeef")
    assert r.returncode == 2 and "no release with that id" in r.stderr and "Traceback" not in r.stderr
    assert not store.exists()

    from launchgate.release.preflight import prepare_release

    rid = prepare_release(cfg, artifacts=str(store)).release_id
    (cfg.parent / "prompts" / "v2.txt").write_text("a different candidate prompt\n")
    r = lg("release", "--config", str(cfg), "--artifacts", str(store), "--resume", rid)
    assert r.returncode == 2 and "another candidate" in r.stderr and "Traceback" not in r.stderr
    assert not (store / "support-bot" / "releases" / rid / "attempts").exists()


def test_malformed_golden_set_names_the_line(cfg: Path) -> None:
    golden = cfg.parent / "golden.jsonl"
    lines = golden.read_text().splitlines()
    lines[4] = '{"id": "x", "input": "not an object"}'
    golden.write_text("\n".join(lines) + "\n")
    r = lg("validate", "--config", str(cfg))
    assert r.returncode == 2 and "line 5" in r.stderr and "golden.jsonl" in r.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    r = lg("validate", "--config", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and "nope.yaml" in r.stderr and "Traceback" not in r.stderr


def test_gateway_with_slack_but_no_token_exits_2(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("LAUNCHGATE_SLACK_TOKEN", "SLACK_BOT_TOKEN")}
    env["LAUNCHGATE_GATEWAY_ADMIN_TOKEN"] = "a-long-enough-admin-token"
    r = lg("gateway", "--config", str(EXAMPLE / "release.yaml"), "--port", "0",
           "--set", "notifications.notifier=slack", "--set", f"artifacts.uri={tmp_path}", env=env, timeout=60)
    assert r.returncode == 2 and "LAUNCHGATE_SLACK_TOKEN" in r.stderr
    assert "Traceback" not in r.stderr
