"""The paired shadow judge (pure): per-pair scoring, the sequential test's decisions, the verdict, the rubric."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from launchgate.config import load_config
from launchgate.config.shadow import Shadow
from launchgate.governance.rubric import FreezeState, ItemPhase, apply_rubric
from launchgate.shadow.judge import (
    Decision,
    PairScore,
    SequentialConfig,
    SequentialTest,
    decide,
    judge_pairs,
    ratios,
    score_pair,
    verdict,
)
from launchgate.verdicts import Phase, Verdict
from tests.conftest import EXAMPLE

FIELDS = ["category", "priority"]


def side(category: str = "billing", priority: str = "high", status: int = 200, schema_ok: bool | None = True,
         **kw: Any) -> dict[str, Any]:
    return {"status": status, "schema_ok": schema_ok, "parsed": {"category": category, "priority": priority,
                                                                 "reply": "x"}, **kw}


def test_pair_scores_with_stable_as_reference() -> None:
    assert score_pair(side(), side(), FIELDS).kind == "both"
    s = score_pair(side(), side(category="Billing "), FIELDS)  # the eval gate's normalised rule
    assert s.kind == "both"
    s = score_pair(side(), side(category="technical"), FIELDS)
    assert s.kind == "stable_only" and s.disagreed == ("category",)
    assert score_pair(side(), side(schema_ok=False), FIELDS).kind == "stable_only"
    assert score_pair(side(), side(status=500, schema_ok=None), FIELDS).kind == "stable_only"
    assert score_pair(side(status=502, schema_ok=None), side(), FIELDS).kind == "candidate_only"
    assert score_pair(side(status=502, schema_ok=None), None, FIELDS).kind == "neither"
    # the LLM judge's preference decides a pair it names a winner for
    assert score_pair(side(), side(category="technical"), FIELDS, preference="candidate").kind == "candidate_only"
    assert score_pair(side(), side(), FIELDS, preference="stable").kind == "stable_only"
    assert score_pair(side(), side(), FIELDS, preference="tie").kind == "both"


def test_decisions() -> None:
    cfg = SequentialConfig()
    assert decide(0, 0, 0, cfg).decision is Decision.WATCHING
    # every disagreement lost by the candidate: ln(2 q1) = ln 1.5 each; ln(1/0.005) = 5.3 needs 14
    assert decide(20, 13, 0, cfg).decision is Decision.WATCHING
    assert decide(20, 14, 0, cfg).decision is Decision.WORSE  # before min_pairs: blocking needs no minimum
    # a candidate that never loses passes on the loss-rate test, but not before min_pairs
    assert decide(99, 0, 0, cfg).decision is Decision.WATCHING
    assert decide(180, 0, 0, cfg).decision is Decision.NOT_WORSE
    # discordant pairs split evenly pass through the worse test's lower boundary
    assert decide(300, 12, 12, cfg).decision is Decision.WATCHING
    assert decide(400, 17, 17, cfg).decision is Decision.NOT_WORSE
    assert decide(5000, 200, 115, cfg).decision is Decision.INCONCLUSIVE


def test_sequential_test_stops_at_its_first_decision() -> None:
    test = SequentialTest(SequentialConfig())
    lose = PairScore(True, False, ("category",), "")
    for _ in range(14):
        test.add(lose)
    assert test.state.decision is Decision.WORSE and test.decided_at == 14
    test.add(PairScore(False, True, (), ""))  # later pairs cannot undo a decision
    assert test.state.pairs == 14


def test_judge_pairs_and_ratios() -> None:
    pairs = [{"stable": side(latency_ms=100, output_tokens=50, cost_usd=0.001),
              "candidate": side(category="other", latency_ms=150, output_tokens=100, cost_usd=0.002)}] * 3
    test, scores = judge_pairs(pairs, FIELDS, SequentialConfig())
    assert [s.kind for s in scores] == ["stable_only"] * 3 and test.state.stable_only == 3
    assert ratios(pairs) == {"latency_p50": 1.5, "output_tokens_p50": 2.0, "cost_p50": 2.0}


def test_verdicts_say_what_to_do() -> None:
    cfg = SequentialConfig()
    worse = verdict(decide(20, 14, 0, cfg), cfg)
    assert worse.phase is Phase.FAILED and "Do not shift traffic" in worse.reason
    assert verdict(decide(180, 0, 0, cfg), cfg).phase is Phase.SUCCESSFUL
    watching = verdict(decide(10, 0, 0, cfg), cfg, capped=True)
    assert watching.phase is Phase.INCONCLUSIVE and "daily_cost_usd" in watching.reason


def test_config_rejects_a_margin_above_the_discordance() -> None:
    with pytest.raises(ValidationError, match="margin"):
        Shadow(margin=0.2, expected_discordance=0.1)
    assert SequentialConfig.from_config(Shadow()).q1 == pytest.approx(0.75)


def _v(check: str, phase: Phase = Phase.SUCCESSFUL) -> Verdict:
    return Verdict(check=check, phase=phase, reason=f"{check} {phase.value}", evidence="x")


def test_rubric_reads_the_shadow_result_only_when_the_strategy_uses_it() -> None:
    base = [_v("eval_score"), _v("schema_validity"), _v("cost_per_request"), _v("readiness"), _v("rollback_tested")]
    freeze = FreezeState(key="k")

    def cfg(strategy: str) -> Any:
        return load_config(EXAMPLE / "release.yaml", {"load_test.enabled": False, "canary.enabled": True,
                                                      "canary.strategy": strategy})

    assert "shadow_quality" not in {i.item for i in apply_rubric("r", cfg("canary"), base, freeze).items}
    record = apply_rubric("r", cfg("shadow_then_canary"), base, freeze)
    assert "shadow_quality" in record.failed_items  # not run: not verified
    record = apply_rubric("r", cfg("shadow_then_canary"), [*base, _v("shadow_quality", Phase.FAILED)], freeze)
    assert record.failed_items == ["shadow_quality"]
    # shadow alone shifts no traffic: no rollback drill is required
    record = apply_rubric("r", cfg("shadow"), [b for b in base if b.check != "rollback_tested"]
                          + [_v("shadow_quality")], freeze)
    assert record.decision == "go", record.summary
    assert {i.item: i.phase for i in record.items}["rollback_tested"] is ItemPhase.NOT_APPLICABLE


def test_readiness_canary_defined_reads_the_shadow_result() -> None:
    from datetime import UTC, datetime

    from launchgate.readiness.checks_release import canary_defined
    from launchgate.readiness.evidence import Evidence

    cfg = load_config(EXAMPLE / "release.yaml", {"canary.enabled": True, "canary.strategy": "shadow_then_canary"})
    ev = Evidence(config=cfg, now=datetime.now(UTC), verdicts=[_v("shadow_quality", Phase.FAILED)])
    result = canary_defined(ev)
    assert "shadow on 20% of live requests" in result.reason and "shadow: failed" in result.reason
    assert result.evidence == "shadow/shadow_summary.json"


def test_llm_judge_preferences_and_failures_in_the_pair_score() -> None:
    from launchgate.eval.llm_judge import parse_preference

    assert parse_preference('```json\n{"preference": "b", "reason": "clearer"}\n```') == ("B", "clearer")
    assert parse_preference('{"preference": "TIE"}')[0] == "tie"
    with pytest.raises(ValueError):
        parse_preference('{"preference": "both"}')
    same = side()
    assert score_pair(same, same, FIELDS, preference="stable").kind == "stable_only"
    assert score_pair(same, same, FIELDS, preference="tie").kind == "both"
    failed = score_pair(same, same, FIELDS, preference="judge_failed")
    assert failed.kind == "stable_only" and "judge failed" in failed.reason  # never a pass for the candidate
    cfg = SequentialConfig()
    broken = verdict(decide(12, 0, 0, cfg), cfg, judge={"asked": 12, "failed": 12, "broken": True})
    assert broken.phase is Phase.ERROR and "fix shadow.llm_judge" in broken.reason
    counted = verdict(decide(200, 30, 2, cfg), cfg, judge={"asked": 200, "failed": 3, "broken": False})
    assert counted.phase is Phase.FAILED and "3 of 200 LLM judgements failed" in counted.reason


def test_the_simulators_judge_mode_follows_its_rule() -> None:
    import json

    from launchgate.sim.behaviour import judge_content

    def ask(payload: dict[str, Any]) -> dict[str, Any]:
        return json.loads(judge_content("BAD", [{"role": "user", "content": json.dumps(payload)}]))

    assert ask({"TICKET": "t", "A": {"reply": "ok BAD"}, "B": {"reply": "ok"}})["preference"] == "B"
    assert ask({"TICKET": "t", "A": {"reply": "ok"}, "B": {"reply": "ok"}})["preference"] == "tie"
    assert ask({"ANSWER": {"reply": "BAD"}, "REFERENCE": {}})["score"] == 0.0
