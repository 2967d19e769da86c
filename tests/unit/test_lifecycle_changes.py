"""Change management at the release's first gate: a breaking output-schema change blocks the release,
the same change with a compatibility note and a deprecation window passes; the config's sha256 is
recorded and its diff since the last promoted release (secrets masked) reaches the release review."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from launchgate.governance.release_freeze import freeze_step
from launchgate.governance.release_review import build_review
from launchgate.lifecycle.changes import config_diff
from launchgate.release.preflight import prepare_release
from launchgate.release.promotion import write_last_known_good
from launchgate.release.records import decide
from launchgate.store import LocalStore, layout
from tests.conftest import EXAMPLE

SVC = "support-bot"


@pytest.fixture
def service(tmp_path: Path) -> Path:
    """A copy of the example service whose output schema and config the test edits."""
    folder = tmp_path / "svc"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("*.pyc"))
    return folder


def _release(folder: Path, store: Path, now: datetime) -> Any:
    run = prepare_release(folder / "release.yaml", artifacts=str(store), now=now)
    return run, freeze_step(run)


def _widen_enum(folder: Path) -> None:
    path = folder / "schemas" / "output.schema.json"
    schema = json.loads(path.read_text())
    schema["properties"]["category"]["enum"].append("legal")  # old consumers reject "legal": breaking
    path.write_text(json.dumps(schema))


def _set(folder: Path, text: str) -> None:
    with (folder / "release.yaml").open("a") as fh:
        fh.write(text)


def test_breaking_schema_change_blocks_and_a_compatibility_note_lets_it_pass(service: Path, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    first, result = _release(service, store_dir, t0)
    assert not result.blocks, result.summary
    write_last_known_good(first.store, SVC, first.release_id, {})

    _widen_enum(service)
    cfg = service / "release.yaml"
    cfg.write_text(cfg.read_text().replace("  daily_usd: 50\n", "  daily_usd: 60\n", 1))
    run, result = _release(service, store_dir, t0 + timedelta(hours=1))
    verdict = next(v for v in result.verdicts if v.check == "output_schema_compatible")
    assert result.blocks and verdict.phase.value == "failed", verdict.reason
    assert first.release_id in verdict.reason and "data.output_schema_change" in verdict.reason
    decision = decide(run.release_id, SVC, result.verdicts, run.evidence_uri)
    assert decision.exit_code == 3

    # The review lists what changed in the config since the promoted release.
    review = build_review(run.bundle, decision)
    line = next(x for x in review.lines if x.label == "Config changes")
    assert "budget.daily_usd: 50.0 -> 60.0" in line.value and first.release_id in line.value

    until = (datetime.now(UTC) + timedelta(days=60)).date()
    _set(service, f"\ndata:\n  output_schema_change:\n    note: 'category may be legal; map it to other'\n"
                  f"    deprecation_until: {until}\n")
    _, result = _release(service, store_dir, t0 + timedelta(hours=2))
    verdict = next(v for v in result.verdicts if v.check == "output_schema_compatible")
    assert not result.blocks and verdict.phase.value == "successful" and "map it to other" in verdict.reason

    audit = [json.loads(x) for x in LocalStore(store_dir).get(layout.config_audit(SVC)).splitlines()]
    assert [a["event"] for a in audit] == ["release"] * 3
    assert len({a["config_sha256"] for a in audit}) == 3  # three different release.yaml contents


def test_a_compatible_change_passes_without_a_note(service: Path, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    first, _ = _release(service, store_dir, t0)
    write_last_known_good(first.store, SVC, first.release_id, {})
    path = service / "schemas" / "output.schema.json"
    schema = json.loads(path.read_text())
    schema["properties"]["category"]["enum"].remove("other")  # narrower: every new answer is an old one
    path.write_text(json.dumps(schema))
    _, result = _release(service, store_dir, t0 + timedelta(hours=1))
    verdict = next(v for v in result.verdicts if v.check == "output_schema_compatible")
    assert verdict.phase.value == "successful" and "backward-compatible" in verdict.reason


def test_config_diff_masks_secrets() -> None:
    old = {"gateway": {"admin_token_env": "A", "token": "s3cr3t"}, "canary": {"gateway_url": "http://u:pw@h"}}
    new = {"gateway": {"admin_token_env": "B", "token": "n3w"}, "canary": {"gateway_url": "http://u:pw2@h"}}
    lines = config_diff(old, new)
    assert 'gateway.admin_token_env: "A" -> "B"' in lines  # an env var's name is not a secret
    assert 'gateway.token: "***" -> "***"' in lines
    assert all("pw" not in x and "s3cr3t" not in x for x in lines)
