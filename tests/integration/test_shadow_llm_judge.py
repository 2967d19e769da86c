"""The shadow step with its optional LLM judge, over real HTTP: the gateway mirrors live traffic, a judge
model (the simulator's judge mode: it dislikes answers containing a marker) compares the free text.

A candidate that agrees with stable on every structured field but whose reply the judge dislikes is
blocked; a judge that fails is counted and stops the shadow with an error, never passing the candidate;
a judge field the output schema does not have is bad input (exit 2) before anything runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from launchgate.cli import main
from launchgate.release.preflight import prepare_release
from launchgate.shadow.step import shadow_step
from launchgate.verdicts import Phase, StepResult
from tests.conftest import EXAMPLE
from tests.support.gateway import running_gateway
from tests.support.sim import EXAMPLE_VARIANTS, running_sim

CONFIG = str(EXAMPLE / "release.yaml")
TOKEN_ENV = "LAUNCHGATE_TEST_GATEWAY_TOKEN"
MARK = "Kind regards, the UNHELPFUL bot."


@contextmanager
def shadow_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cand: dict[str, Any],
                   judge: dict[str, Any]) -> Iterator[tuple[StepResult, dict[str, Any]]]:
    with running_sim(EXAMPLE_VARIANTS, "stable", invalid_json_rate=0.0) as stable, \
         running_sim(EXAMPLE_VARIANTS, "stable", invalid_json_rate=0.0, **cand) as cand_url, \
         running_sim(EXAMPLE_VARIANTS, "stable", judge={"dislike": "UNHELPFUL"}, **judge) as judge_url, \
         running_gateway(stable, None, str(tmp_path / "gw-store")) as (base, token):
        monkeypatch.setenv(TOKEN_ENV, token)
        run = prepare_release(CONFIG, artifacts=str(tmp_path / "store"), overrides={
            "stable.endpoint": stable, "candidate.endpoint": cand_url, "candidate.model": "support-bot-stable",
            "canary.strategy": "shadow", "canary.gateway_url": base, "canary.gateway_token_env": TOKEN_ENV,
            "canary.demo_traffic_rps": 60, "shadow.sample": 1.0, "shadow.interval_s": 0.5, "shadow.duration_s": 15,
            "shadow.llm_judge": {"endpoint": judge_url, "model": "judge-sim", "max_retries": 0, "timeout_s": 5}})
        result = shadow_step(run)
        summary = json.loads(run.bundle.store.get(run.bundle.key("shadow/shadow_summary.json")))
        yield result, summary


def test_a_candidate_whose_free_text_the_judge_dislikes_is_blocked(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with shadow_release(tmp_path, monkeypatch, {"reply_suffix": " " + MARK}, {}) as (result, summary):
        [v] = result.verdicts
        assert v.phase is Phase.FAILED and "worse than stable" in v.reason, v.reason
        judge = summary["llm_judge"]
        assert judge["failed"] == 0 and judge["preferred"].get("stable", 0) >= summary["test"]["stable_only"] > 0
        assert summary["disagreements"] == {}  # every structured field agreed: only the judge saw the difference
        assert "## LLM judge (free text)" in result.markdown


def test_a_failing_judge_is_counted_and_never_passes_the_candidate(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with shadow_release(tmp_path, monkeypatch, {}, {"error_rate": 1.0}) as (result, summary):
        [v] = result.verdicts
        assert v.phase is Phase.ERROR and "The LLM judge failed on" in v.reason, v.reason
        judge = summary["llm_judge"]
        assert judge["broken"] and judge["failed"] == judge["asked"] >= 10 and judge["preferred"] == {}
        assert "HTTP 500" in judge["errors"][0] or "500" in judge["errors"][0]


@pytest.mark.parametrize(("setting", "named"), [
    ("shadow.llm_judge.fields=[rply]", "shadow.llm_judge.fields: 'rply' is not a field of the output schema"),
    ("shadow.llm_judge.modle=x", "shadow.llm_judge.modle"),
])
def test_bad_judge_config_exits_2_naming_the_field(tmp_path: Path, setting: str, named: str) -> None:
    out = CliRunner().invoke(main, [
        "release", "--config", CONFIG, "--artifacts", str(tmp_path), "--set", "canary.strategy=shadow",
        "--set", "shadow.llm_judge.endpoint=http://127.0.0.1:9/v1", "--set", "shadow.llm_judge.model=j",
        "--set", setting])
    assert out.exit_code == 2, out.output
    assert named in out.output
