"""The go/no-go rubric of the readiness seed, applied to the verdicts so far (pure).

The seed blocks a release when any of these is true: the evaluation gate failed, schema
validation is below 99%, cost per request rose beyond its threshold, the rollback plan is not
tested. launchgate adds three items the seed asks for elsewhere: the load SLO (when a load test
is configured), an active release freeze, and the readiness review (every required item of the
readiness catalogue verified, attested or signed not applicable; ``readiness.enforce``). A
catch-all item makes sure no blocking verdict of another step (contracts, a crashed step) can
hide behind a "go".

The seed's last rule drives missing evidence: "If you cannot verify an item, assume it is not
done". A required item with no verdict fails; an item that does not apply to this run says
so ("not applicable: ...") instead of silently passing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from launchgate.config import ReleaseConfig
from launchgate.errors import StoreError
from launchgate.governance import freeze
from launchgate.notify.base import Notice
from launchgate.release.preflight import ReleaseRun
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.verdicts import Phase, StepResult, Verdict, worst

GONOGO_EVIDENCE = "gonogo.json"
# The seed's floor. Config may be stricter (evaluation.min_schema_valid_rate), never looser:
# the rubric is the checklist the organisation signed, not a per-service setting.
MIN_SCHEMA_VALID = 0.99
EVAL_CHECKS = ("eval_score", "eval_significance", "eval_non_inferiority", "eval_errors_candidate",
               "eval_errors_stable", "eval_budget", "eval_gate")


class ItemPhase(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    ERROR = "error"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "not_applicable"


class RubricItem(BaseModel):
    item: str = Field(description="stable id: eval_gate, schema_validity, cost_per_request, ...")
    title: str = Field(description="the rubric line as the seed words it")
    phase: ItemPhase
    reason: str
    evidence: str | None = Field(default=None, description="artifact behind the item (bundle-relative or store key)")
    checks: list[str] = Field(default_factory=list, description="verdicts this item was judged from")

    @property
    def blocks(self) -> bool:
        return self.phase not in (ItemPhase.SUCCESSFUL, ItemPhase.NOT_APPLICABLE)


class FreezeState(BaseModel):
    """``<service>/state/freeze.json``; a missing file means not frozen."""

    active: bool = False
    reason: str | None = None
    set_by: str | None = None
    set_at: datetime | None = None
    key: str = ""
    found: bool = False
    error: str | None = Field(default=None, description="the file exists but could not be read or parsed")


class GoNoGo(BaseModel):
    release_id: str
    service: str
    decision: Literal["go", "no_go"]
    summary: str
    items: list[RubricItem]
    failed_items: list[str]
    freeze: FreezeState = Field(description="snapshot: the state file may change after this decision")
    verdicts_considered: list[str]
    decided_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def verdict(self) -> Verdict:
        """The one verdict the flow appends: the rubric's own checks are already in the list."""
        blocking = [i for i in self.items if i.blocks]
        phase = worst([_as_phase(i.phase) for i in blocking]) if blocking else Phase.SUCCESSFUL
        return Verdict(check="go_no_go", phase=phase, value=self.decision, threshold="every rubric item passes",
                       reason=self.summary, evidence=GONOGO_EVIDENCE)


def freeze_state(store: ArtifactStore, service: str) -> FreezeState:
    """The freeze flag as the rubric sees it. An unreadable or malformed file is an error, never "not frozen"."""
    key = layout.freeze(service)
    try:
        record = freeze.read_freeze(store, service)
    except StoreError as exc:
        return FreezeState(key=key, found=True, error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    if record is None:
        return FreezeState(key=key)
    return FreezeState(active=record.active, reason=record.reason, set_by=record.set_by, set_at=record.set_at,
                       key=key, found=True)


def _as_phase(phase: ItemPhase) -> Phase:
    return Phase.SUCCESSFUL if phase is ItemPhase.NOT_APPLICABLE else Phase(phase.value)


def _from_verdicts(item: str, title: str, found: list[Verdict], primary: str | None = None) -> RubricItem:
    """Judge an item from its verdicts: the worst phase wins, its reason and evidence are quoted.

    When all pass, the ``primary`` check's reason is the headline (the eval score, not its
    budget estimate); without one every reason is quoted, a reviewer wants every number.
    """
    phase = worst([v.phase for v in found])
    head = next((v for v in found if v.check == primary), None) if phase is Phase.SUCCESSFUL else None
    pick = head or next((v for v in found if v.phase is phase), found[0])
    reason = pick.reason if head or phase is not Phase.SUCCESSFUL else " ".join(v.reason for v in found)
    evidence = pick.evidence or next((v.evidence for v in found if v.evidence), None)
    return RubricItem(item=item, title=title, phase=ItemPhase(phase.value), reason=reason,
                      evidence=evidence, checks=[v.check for v in found])


def _missing(item: str, title: str, what: str, verdicts: list[Verdict] | None = None) -> RubricItem:
    # When the eval stopped early (budget, endpoint errors) say so, rather than a generic "missing".
    stopped = next((v for v in verdicts or [] if v.check in EVAL_CHECKS and v.blocks), None)
    if stopped is not None:
        why = f"Not measured: the eval gate stopped at {stopped.check} before measuring it."
    else:
        why = f"No {what} verdict in this run. Run the step, or fix why it did not run."
    return RubricItem(item=item, title=title, phase=ItemPhase.FAILED,
                      reason=f"{why} An item that cannot be verified counts as not done.")


def _eval_gate(verdicts: list[Verdict], _cfg: ReleaseConfig) -> RubricItem:
    title = "Evaluation gate passed"
    found = [v for v in verdicts if v.check in EVAL_CHECKS]
    if not any(v.check in ("eval_score", "eval_gate") for v in found) and not any(v.blocks for v in found):
        return _missing("eval_gate", title, "eval_score")
    return _from_verdicts("eval_gate", title, found, primary="eval_score")


def _schema_validity(verdicts: list[Verdict], _cfg: ReleaseConfig) -> RubricItem:
    title = "Schema validation rate >= 99%"
    found = [v for v in verdicts if v.check == "schema_validity"]
    if not found:
        return _missing("schema_validity", title, "schema_validity", verdicts)
    item = _from_verdicts("schema_validity", title, found)
    value = found[0].value
    # A config that lowered the eval's floor below the seed's does not lower the rubric's.
    if item.phase is ItemPhase.SUCCESSFUL and isinstance(value, int | float) and value < MIN_SCHEMA_VALID:
        item.phase = ItemPhase.FAILED
        item.reason = (f"Schema validation rate {value:.1%} < 99%, the rubric's floor (the eval gate's configured "
                       f"floor was lower): make the prompt enforce the output schema.")
    return item


def _cost(verdicts: list[Verdict], _cfg: ReleaseConfig) -> RubricItem:
    title = "Cost per request within threshold"
    found = [v for v in verdicts if v.check == "cost_per_request"]
    if not found:
        return _missing("cost_per_request", title, "cost_per_request", verdicts)
    return _from_verdicts("cost_per_request", title, found)


def _rollback(verdicts: list[Verdict], cfg: ReleaseConfig) -> RubricItem:
    title = "Rollback plan tested"
    found = [v for v in verdicts if v.check == "rollback_tested"]
    if found:
        return _from_verdicts("rollback_tested", title, found)
    if cfg.canary.enabled and cfg.canary.strategy != "shadow":  # shadow alone shifts no traffic
        return RubricItem(item="rollback_tested", title=title, phase=ItemPhase.FAILED,
                          reason="No rollback_tested verdict, and this run shifts canary traffic: prove the "
                                 "rollback with the rollback drill before any user sees the candidate.")
    return RubricItem(item="rollback_tested", title=title, phase=ItemPhase.NOT_APPLICABLE,
                      reason="Not applicable: no traffic step in this run (canary.enabled is false), so there is "
                             "nothing to roll back. It is required before the candidate serves traffic.")


def _load(verdicts: list[Verdict], cfg: ReleaseConfig) -> RubricItem:
    title = "Load SLO met"
    found = [v for v in verdicts if v.check.startswith("load_")]
    if found:
        return _from_verdicts("load_slo", title, found)
    if cfg.load_test.enabled:
        return _missing("load_slo", title, "load_*")
    return RubricItem(item="load_slo", title=title, phase=ItemPhase.NOT_APPLICABLE,
                      reason="Not applicable: load_test.enabled is false, so no SLO was measured for this run.")


def _freeze_item(verdicts: list[Verdict], freeze: FreezeState) -> RubricItem:
    title = "No release freeze active"
    found = [v for v in verdicts if v.check == "release_freeze"]
    if freeze.error:
        return RubricItem(item="release_freeze", title=title, phase=ItemPhase.ERROR, evidence=freeze.key,
                          reason=f"Cannot tell whether releases are frozen: {freeze.key} is unreadable "
                                 f"({freeze.error}). Fix or remove the file.", checks=[v.check for v in found])
    if freeze.active:
        by = f" by {freeze.set_by}" if freeze.set_by else ""
        at = f" at {freeze.set_at:%Y-%m-%d %H:%M}Z" if freeze.set_at else ""
        why = freeze.reason or "no reason given"
        return RubricItem(item="release_freeze", title=title, phase=ItemPhase.FAILED, evidence=freeze.key,
                          reason=f"Releases are frozen{by}{at}: {why}. Lift the freeze after the mitigation "
                                 f"lands, then rerun.", checks=[v.check for v in found])
    if found and any(v.blocks for v in found):
        return _from_verdicts("release_freeze", title, found)
    state = "inactive" if freeze.found else "absent"
    return RubricItem(item="release_freeze", title=title, phase=ItemPhase.SUCCESSFUL, evidence=freeze.key,
                      reason=f"No release freeze: {freeze.key} is {state}.", checks=[v.check for v in found])


def _others(verdicts: list[Verdict], claimed: set[str]) -> RubricItem:
    title = "Every other gate check passed"
    rest = [v for v in verdicts if v.check not in claimed and v.check != "go_no_go"]
    if not rest:
        return RubricItem(item="other_checks", title=title, phase=ItemPhase.SUCCESSFUL,
                          reason="No other checks ran.")
    blocking = [v for v in rest if v.blocks]
    if not blocking:
        return RubricItem(item="other_checks", title=title, phase=ItemPhase.SUCCESSFUL,
                          reason=f"{len(rest)} other check(s) passed: {', '.join(v.check for v in rest)}.",
                          checks=[v.check for v in rest])
    return _from_verdicts("other_checks", title, blocking)


def _readiness(verdicts: list[Verdict], cfg: ReleaseConfig) -> RubricItem:
    title = "Every required readiness item verified, attested or not applicable"
    found = [v for v in verdicts if v.check == "readiness"]
    if found:
        return _from_verdicts("readiness", title, found)
    if cfg.readiness.enforce == "warn":
        return RubricItem(item="readiness", title=title, phase=ItemPhase.NOT_APPLICABLE,
                          reason="Not judged: no readiness verdict, and readiness.enforce is warn.")
    return _missing("readiness", title, "readiness")


def _shadow(verdicts: list[Verdict], cfg: ReleaseConfig) -> list[RubricItem]:
    """Only for a release whose canary.strategy uses shadow mode (the default canary adds no item)."""
    if not cfg.canary.enabled or cfg.canary.strategy == "canary":
        return []
    title = "Not worse than stable on shadowed live traffic"
    found = [v for v in verdicts if v.check == "shadow_quality"]
    if not found:
        return [_missing("shadow_quality", title, "shadow_quality")]
    return [_from_verdicts("shadow_quality", title, found)]


Rule = Callable[[list[Verdict], ReleaseConfig], RubricItem]
RULES: list[Rule] = [_eval_gate, _schema_validity, _cost, _rollback, _load, _readiness]


def apply_rubric(release_id: str, config: ReleaseConfig, verdicts: list[Verdict], freeze: FreezeState) -> GoNoGo:
    items = [rule(verdicts, config) for rule in RULES] + _shadow(verdicts, config)
    items.append(_freeze_item(verdicts, freeze))
    claimed = {c for i in items for c in i.checks}
    items.append(_others(verdicts, claimed))
    failed = [i for i in items if i.blocks]
    if failed:
        names = ", ".join(f"{i.item} ({i.phase.value})" for i in failed)
        # Short on purpose: each item's reason is in the record, and the eval's reasons are
        # already verdicts of their own in the decision.
        summary = f"No-go on {len(failed)} of {len(items)} rubric items: {names}; reasons and evidence in gonogo.md."
    else:
        na = [i.item for i in items if i.phase is ItemPhase.NOT_APPLICABLE]
        tail = f" ({', '.join(na)} not applicable to this run)" if na else ""
        summary = f"Go: every rubric item passed{tail}."
    return GoNoGo(
        release_id=release_id, service=config.service, decision="no_go" if failed else "go", summary=summary,
        items=items, failed_items=[i.item for i in failed], freeze=freeze,
        verdicts_considered=[v.check for v in verdicts],
    )


ITEM_MARK = {ItemPhase.SUCCESSFUL: "✅", ItemPhase.FAILED: "❌", ItemPhase.ERROR: "⚠️",
         ItemPhase.INCONCLUSIVE: "❔", ItemPhase.NOT_APPLICABLE: "➖"}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def gonogo_markdown(record: GoNoGo) -> str:
    head = "GO" if record.decision == "go" else "NO-GO"
    lines = [f"# Go / no-go: {head}", "", f"Release `{record.release_id}` ({record.service}), decided "
             f"{record.decided_at:%Y-%m-%d %H:%M:%S}Z.", "", record.summary, "",
             "| item | phase | reason | evidence |", "|---|---|---|---|"]
    for i in record.items:
        lines.append(f"| {_cell(i.title)} | {ITEM_MARK[i.phase]} {i.phase.value.replace('_', ' ')} | {_cell(i.reason)} "
                     f"| {_cell(i.evidence or '-')} |")
    return "\n".join(lines) + "\n"


def gonogo_step(run: ReleaseRun, verdicts: list[Verdict]) -> tuple[GoNoGo, StepResult]:
    """Apply the rubric to every verdict so far; write gonogo.json + gonogo.md; tell engineering."""
    # Read at decision time: a freeze set while the eval ran still stops this release.
    record = apply_rubric(run.release_id, run.config, list(verdicts), freeze_state(run.store, run.config.service))
    md = gonogo_markdown(record)
    run.bundle.put_json("gonogo.json", record)
    run.bundle.put_text("gonogo.md", md, "text/markdown")
    go = record.decision == "go"
    run.dispatcher.send(Notice(
        event="go_no_go", role="engineering", service=run.config.service, release_id=run.release_id,
        status="passed" if go else "blocked", text=record.summary, link=run.evidence_uri,
        title="Go/no-go: go" if go else f"Go/no-go: no-go on {', '.join(record.failed_items)}"))
    return record, StepResult(step="go_no_go", verdicts=[record.verdict()], evidence=["gonogo.json", "gonogo.md"],
                              summary=record.summary, markdown=md)
