"""The readiness probe against a real gateway on loopback: the admin API refuses a request without a
token (401), /metrics has histograms, and the input guard refuses a request one character over
max_context_chars (413) before any model is called. Without guardrails the cap is not probed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from launchgate.access.registry import create_key
from launchgate.access.tokens import CLIENT_KEY_ENV
from launchgate.config import load_config
from launchgate.config.access import Access
from launchgate.readiness.checks import CHECKS
from launchgate.readiness.evidence import Evidence
from launchgate.readiness.models import Status
from launchgate.readiness.probe import probe_gateway
from launchgate.store import LocalStore
from tests.conftest import EXAMPLE
from tests.support.gateway import running_gateway
from tests.support.sim import running_sim

CFG = load_config(EXAMPLE / "release.yaml", check_files=False)
CAP = CFG.contracts.max_context_chars


def judge(url: str, context_chars: int | None) -> dict[str, Status]:
    ev = Evidence(config=CFG, now=datetime.now(UTC), probe=probe_gateway(url, context_chars))
    return {n: CHECKS[n](ev).status for n in ("admin_token", "metrics_endpoint", "context_capped")}


def test_a_guarded_gateway_verifies_token_metrics_and_the_context_cap(tmp_path: Path) -> None:
    with running_sim(EXAMPLE / "variants.yaml", "stable") as stable, \
            running_gateway(stable, None, str(tmp_path), guardrails=CFG.guardrails, max_context_chars=CAP) as (url, _):
        assert judge(url, CAP + 1) == {"admin_token": Status.VERIFIED, "metrics_endpoint": Status.VERIFIED,
                                       "context_capped": Status.VERIFIED}
        assert probe_gateway(url, CAP + 1).request_id_returned is True
        # A plain proxy (no guardrails) passes the long request to the model: the cap is not enforced.
    with running_sim(EXAMPLE / "variants.yaml", "stable") as stable, \
            running_gateway(stable, None, str(tmp_path / "plain")) as (url, _):
        assert judge(url, CAP + 1)["context_capped"] is Status.FAILED
        assert judge(url, None)["context_capped"] is Status.MISSING


def test_behind_api_keys_the_probe_sends_the_client_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, token = create_key(LocalStore(tmp_path), CFG, by="alice", tenant="acme", models=[])
    monkeypatch.delenv(CLIENT_KEY_ENV, raising=False)
    with running_sim(EXAMPLE / "variants.yaml", "stable") as stable, \
            running_gateway(stable, None, str(tmp_path), guardrails=CFG.guardrails, max_context_chars=CAP,
                            access=Access(required=True)) as (url, _):
        assert probe_gateway(url, CAP + 1).context_status == 401  # keyless: refused before the guard
        monkeypatch.setenv(CLIENT_KEY_ENV, token)
        assert judge(url, CAP + 1)["context_capped"] is Status.VERIFIED


def test_no_gateway_on_loopback_is_missing_never_verified() -> None:
    statuses = judge("http://127.0.0.1:9", CAP + 1)
    assert set(statuses.values()) == {Status.MISSING}
    assert probe_gateway("http://10.0.0.7:8300").error is not None  # never probed off loopback


def test_alert_rules_are_read_from_a_real_prometheus(tmp_path: Path) -> None:
    import yaml

    from launchgate.observability.rules import rules_file
    from launchgate.readiness.probe import probe_prometheus
    from tests.support.prometheus import running_prometheus

    config = {"global": {"evaluation_interval": "1s"}, "rule_files": ["rules.yml"]}
    with running_prometheus(config, tmp_path / "p", files={"rules.yml": yaml.safe_dump(rules_file(CFG))}) as prom:
        names, note = probe_prometheus(prom.url)
        assert note is None and names is not None
        cfg = CFG.model_copy(update={"observability": CFG.observability.model_copy(
            update={"prometheus_url": prom.url})})
        ev = Evidence(config=cfg, now=datetime.now(UTC), alert_names=names)
        assert CHECKS["alert_rules"](ev).status is Status.VERIFIED
    with running_prometheus({"global": {"evaluation_interval": "1s"}}, tmp_path / "bare") as bare:
        names, _ = probe_prometheus(bare.url)
        ev = Evidence(config=cfg, now=datetime.now(UTC), alert_names=names)
        assert names == [] and CHECKS["alert_rules"](ev).status is Status.FAILED
