"""The go/no-go rubric: every seed item, missing evidence, not-applicable items, the freeze file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from launchgate.config import ReleaseConfig, load_config
from launchgate.governance.rubric import FreezeState, ItemPhase, apply_rubric, freeze_state, gonogo_markdown
from launchgate.store.local import LocalStore
from launchgate.verdicts import Phase, Verdict
from tests.conftest import EXAMPLE

EV = "eval/eval_report.json"


def config(**overrides: Any) -> ReleaseConfig:
    # Start from no load test and no canary, whatever the example enables today.
    return load_config(EXAMPLE / "release.yaml", {"load_test.enabled": False, "canary.enabled": False, **overrides})


def v(check: str, phase: Phase = Phase.SUCCESSFUL, value: Any = None, evidence: str | None = EV) -> Verdict:
    return Verdict(check=check, phase=phase, value=value, reason=f"{check} is {phase.value}", evidence=evidence)


def passing_eval() -> list[Verdict]:
    return [v("eval_budget"), v("eval_errors_candidate"), v("eval_errors_stable"),
            v("eval_score", value={"candidate": 0.9, "baseline": 0.8, "delta": 0.1}),
            v("schema_validity", value=0.995), v("cost_per_request", value={"increase": 0.05}),
            v("readiness", evidence="readiness/readiness.json")]


def items(record: Any) -> dict[str, Any]:
    return {i.item: i for i in record.items}


NOT_FROZEN = FreezeState(key="support-bot/state/freeze.json")


def test_all_evidence_passing_is_go_and_says_what_did_not_apply() -> None:
    record = apply_rubric("rid", config(), passing_eval(), NOT_FROZEN)
    assert record.decision == "go", record.summary
    by = items(record)
    assert by["rollback_tested"].phase is ItemPhase.NOT_APPLICABLE
    assert "no traffic step in this run" in by["rollback_tested"].reason
    assert by["load_slo"].phase is ItemPhase.NOT_APPLICABLE
    assert by["eval_gate"].phase is ItemPhase.SUCCESSFUL and by["eval_gate"].evidence == EV
    assert by["eval_gate"].reason == "eval_score is successful"  # the headline, not the budget estimate
    assert record.verdict().phase is Phase.SUCCESSFUL and record.verdict().check == "go_no_go"
    assert "not applicable" in record.summary


@pytest.mark.parametrize("check,item", [("eval_score", "eval_gate"), ("schema_validity", "schema_validity"),
                                        ("cost_per_request", "cost_per_request")])
def test_each_failed_eval_check_blocks_its_item(check: str, item: str) -> None:
    verdicts = [x if x.check != check else v(check, Phase.FAILED, value=x.value) for x in passing_eval()]
    record = apply_rubric("rid", config(), verdicts, NOT_FROZEN)
    assert record.decision == "no_go"
    assert record.failed_items == [item]
    assert items(record)[item].evidence == EV
    assert record.verdict().phase is Phase.FAILED
    assert f"{item} (failed)" in record.summary and f"{check} is failed" in gonogo_markdown(record)


def test_schema_floor_is_the_seeds_even_when_config_is_looser() -> None:
    verdicts = [x if x.check != "schema_validity" else v("schema_validity", value=0.97) for x in passing_eval()]
    record = apply_rubric("rid", config(**{"evaluation.min_schema_valid_rate": 95}), verdicts, NOT_FROZEN)
    item = items(record)["schema_validity"]
    assert item.phase is ItemPhase.FAILED and "97.0% < 99%" in item.reason


def test_eval_error_blocks_as_error_and_missing_eval_fails() -> None:
    errored = [v("eval_budget"), v("eval_errors_candidate", Phase.ERROR), v("eval_errors_stable")]
    record = apply_rubric("rid", config(), errored, NOT_FROZEN)
    assert items(record)["eval_gate"].phase is ItemPhase.ERROR
    # The eval returned early: schema and cost were never measured, so they cannot pass.
    assert items(record)["schema_validity"].phase is ItemPhase.FAILED
    nothing = apply_rubric("rid", config(), [], NOT_FROZEN)
    assert nothing.decision == "no_go"
    assert {"eval_gate", "schema_validity", "cost_per_request"} <= set(nothing.failed_items)
    assert "cannot be verified" in items(nothing)["eval_gate"].reason
    assert "stopped at eval_errors_candidate" in items(record)["cost_per_request"].reason


def test_missing_rollback_drill_fails_only_when_canary_is_enabled() -> None:
    record = apply_rubric("rid", config(**{"canary.enabled": True}), passing_eval(), NOT_FROZEN)
    assert record.failed_items == ["rollback_tested"]
    drilled = [*passing_eval(), v("rollback_tested", evidence="drill/drill.json")]
    ok = apply_rubric("rid", config(**{"canary.enabled": True}), drilled, NOT_FROZEN)
    assert ok.decision == "go" and items(ok)["rollback_tested"].evidence == "drill/drill.json"
    failed_drill = [*passing_eval(), v("rollback_tested", Phase.FAILED, evidence="drill/drill.json")]
    assert apply_rubric("rid", config(), failed_drill, NOT_FROZEN).failed_items == ["rollback_tested"]


def test_load_slo_required_when_enabled() -> None:
    cfg = config(**{"load_test.enabled": True})
    assert apply_rubric("rid", cfg, passing_eval(), NOT_FROZEN).failed_items == ["load_slo"]
    breached = [*passing_eval(), v("load_error_rate"), v("load_p95_latency", Phase.FAILED, evidence="load/x.json")]
    record = apply_rubric("rid", cfg, breached, NOT_FROZEN)
    assert record.failed_items == ["load_slo"]
    assert items(record)["load_slo"].checks == ["load_error_rate", "load_p95_latency"]
    assert items(record)["load_slo"].evidence == "load/x.json"


def test_other_blocking_checks_are_never_hidden() -> None:
    verdicts = [v("contracts_golden_set", Phase.FAILED, evidence="contracts/report.json"), *passing_eval()]
    record = apply_rubric("rid", config(), verdicts, NOT_FROZEN)
    assert record.failed_items == ["other_checks"]
    assert items(record)["other_checks"].checks == ["contracts_golden_set"]


def test_freeze_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    missing = freeze_state(store, "support-bot")
    assert not missing.active and not missing.found and missing.error is None
    store.put("support-bot/state/freeze.json", json.dumps(
        {"active": True, "reason": "cost spike 38% week over week", "set_by": "cost-review",
         "set_at": "2026-11-20T09:00:00Z"}).encode())
    frozen = freeze_state(store, "support-bot")
    record = apply_rubric("rid", config(), passing_eval(), frozen)
    assert record.failed_items == ["release_freeze"]
    item = items(record)["release_freeze"]
    assert "cost-review" in item.reason and "cost spike" in item.reason
    assert item.evidence == "support-bot/state/freeze.json"
    assert record.freeze.active  # the snapshot survives a later unfreeze
    store.put("support-bot/state/freeze.json", json.dumps({"active": False}).encode())
    assert apply_rubric("rid", config(), passing_eval(), freeze_state(store, "support-bot")).decision == "go"
    store.put("support-bot/state/freeze.json", b"{not json")
    broken = freeze_state(store, "support-bot")
    assert broken.error
    assert items(apply_rubric("rid", config(), passing_eval(), broken))["release_freeze"].phase is ItemPhase.ERROR


def test_markdown_lists_every_item_with_evidence() -> None:
    verdicts = [x if x.check != "eval_score" else v("eval_score", Phase.FAILED) for x in passing_eval()]
    record = apply_rubric("rid", config(), verdicts, NOT_FROZEN)
    md = gonogo_markdown(record)
    assert "NO-GO" in md
    for i in record.items:
        assert i.title in md
    assert md.count(EV) >= 3


def test_a_failed_significance_check_is_quoted_by_the_eval_item() -> None:
    verdicts = [*passing_eval(), v("eval_significance", Phase.FAILED)]
    by = items(apply_rubric("rid", config(**{"evaluation.require_significance": True}), verdicts, NOT_FROZEN))
    assert by["eval_gate"].phase is ItemPhase.FAILED
    assert "eval_significance" in by["eval_gate"].checks and "eval_significance" in by["eval_gate"].reason
