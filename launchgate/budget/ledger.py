"""The daily budget ledger: one state file per service and UTC day, and the pipeline's cap on it.

State lives in the store at ``<service>/state/budget/<yyyy-mm-dd>.json`` (UTC day), so a restarted
gateway neither forgets the day's spend nor alerts twice. One file holds both ledgers:

* ``gateway``: the service's spend on user traffic, written by the gateway's budget guard
  (launchgate/gateway/budget.py: alert at ``alert_usd``, stop at ``daily_usd``);
* ``pipeline``: launchgate's own spend (evals, load tests) per release and step, written by
  ``record_pipeline_spend`` and capped by ``budget.pipeline_daily_usd``.

Both write through ``update_state``, a conditional update of the store (``ArtifactStore.update``):
each writer's change is applied to the file as it is at the moment of writing, so the gateway's
periodic persist and a release booking its spend never overwrite each other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field, ValidationError

from launchgate.config import Budget
from launchgate.errors import MalformedObjectError, StoreError
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSON_TYPE
from launchgate.store.jsonio import parse_json
from launchgate.verdicts import Phase, Verdict

# The error code the gateway answers while the day's budget is spent; the request log records it,
# and the reviews leave such requests out of their statistics.
BUDGET_EXCEEDED = "budget_exceeded"
PIPELINE_CHECK = "pipeline_budget"


class BudgetEvent(BaseModel):
    kind: Literal["alert", "stop", "pipeline_refused"]
    at: datetime
    spend_usd: float
    threshold_usd: float
    notified: list[str] = Field(default_factory=list, description="roles the notice reached")
    errors: list[str] = Field(default_factory=list)


class PipelineSpend(BaseModel):
    release_id: str
    step: str
    usd: float
    at: datetime
    estimated: bool = False


class GatewayLedger(BaseModel):
    spend_usd: float = 0.0
    requests: int = 0
    updated_at: datetime | None = None
    alerted_at: datetime | None = None
    stopped_at: datetime | None = None


class BudgetState(BaseModel):
    service: str
    day: date
    daily_usd: float
    alert_usd: float
    pipeline_daily_usd: float
    gateway: GatewayLedger = Field(default_factory=GatewayLedger)
    pipeline: list[PipelineSpend] = Field(default_factory=list)
    events: list[BudgetEvent] = Field(default_factory=list)

    @property
    def pipeline_spend_usd(self) -> float:
        return round(sum(p.usd for p in self.pipeline), 8)



def _parse(store: ArtifactStore, key: str, data: bytes) -> BudgetState:
    parsed = parse_json(data, store.location(key))
    try:
        return BudgetState.model_validate(parsed)
    except ValidationError as exc:
        raise MalformedObjectError(f"{store.location(key)} is not a valid budget state file: {str(exc)[:200]}"
                                   ) from exc


def read_state(store: ArtifactStore, service: str, day: date) -> BudgetState | None:
    key = layout.budget_day(service, day)
    if not store.exists(key):
        return None
    return _parse(store, key, store.get(key))


def update_state(store: ArtifactStore, service: str, day: date, budget: Budget,
                 change: Callable[[BudgetState], None]) -> BudgetState:
    """Apply ``change`` to the day's state (started if absent) as stored right now, with the current
    limits, and write it back only if nobody wrote it in between (else the store re-reads and
    ``change`` runs again, so it must depend on nothing but the state it gets)."""
    key = layout.budget_day(service, day)
    made: dict[bytes, BudgetState] = {}  # what apply built, so the result needs no second parse

    def apply(current: bytes | None) -> bytes:
        state = _parse(store, key, current) if current is not None else BudgetState(
            service=service, day=day, daily_usd=budget.daily_usd, alert_usd=budget.alert_usd,
            pipeline_daily_usd=budget.pipeline_daily_usd)
        state.daily_usd, state.alert_usd = budget.daily_usd, budget.alert_usd
        state.pipeline_daily_usd = budget.pipeline_daily_usd
        change(state)
        data = _encode(state)
        made[data] = state
        return data

    written = store.update(key, apply, JSON_TYPE)
    return made.get(written) or _parse(store, key, written)


def _encode(state: BudgetState) -> bytes:
    # pydantic's own encoder: the day file is rewritten on every booking and every gateway persist,
    # and the json module's indenting encoder (pure Python) costs ~7x more on a busy day's file.
    return state.model_dump_json(indent=2).encode("utf-8") + b"\n"


# -------------------------------------------------------------------------------- pipeline cap


class _HasBudget(Protocol):
    budget: Budget


def _budget_of(cfg: _HasBudget | Budget) -> Budget:
    return cfg if isinstance(cfg, Budget) else cfg.budget


def pipeline_spent_usd(store: ArtifactStore, service: str, day: date) -> float:
    state = read_state(store, service, day)
    return state.pipeline_spend_usd if state else 0.0


def pipeline_remaining_usd(store: ArtifactStore, service: str, cfg: _HasBudget | Budget,
                           now: datetime | None = None) -> float:
    """What today's pipeline budget still allows (can be negative). Spend of the running release is
    booked when its gates end (budget/release_spend.py), so a step inside it subtracts its own release's spend."""
    now = now or datetime.now(UTC)
    return _budget_of(cfg).pipeline_daily_usd - pipeline_spent_usd(store, service, now.date())


def record_pipeline_spend(store: ArtifactStore, service: str, cfg: _HasBudget | Budget, *, usd: float,
                          release_id: str, step: str, estimated: bool = False,
                          now: datetime | None = None) -> BudgetState:
    """Book a pipeline step's spend on today's ledger. Idempotent per (release, step): a rerun
    replaces the entry instead of counting it twice."""
    now = now or datetime.now(UTC)
    entry = PipelineSpend(release_id=release_id, step=step, usd=round(max(usd, 0.0), 8), at=now,
                          estimated=estimated)

    def change(state: BudgetState) -> None:
        state.pipeline = [p for p in state.pipeline if (p.release_id, p.step) != (release_id, step)]
        state.pipeline.append(entry)

    return update_state(store, service, now.date(), _budget_of(cfg), change)


def pipeline_budget_verdict(store: ArtifactStore, service: str, cfg: _HasBudget | Budget, estimate_usd: float,
                            *, now: datetime | None = None, what: str = "the next step") -> Verdict:
    """``pipeline_budget``: may ``what`` spend up to ``estimate_usd`` more today? Unreadable state is an error."""
    budget = _budget_of(cfg)
    now = now or datetime.now(UTC)
    key = layout.budget_day(service, now.date())
    try:
        spent = pipeline_spent_usd(store, service, now.date())
    except (StoreError, OSError) as exc:
        return Verdict(check=PIPELINE_CHECK, phase=Phase.ERROR, evidence=key,
                       reason=f"Cannot read today's pipeline spend ({exc}); fix or remove {key} and rerun.")
    cap = budget.pipeline_daily_usd
    value = {"spent_usd": round(spent, 6), "estimate_usd": round(estimate_usd, 6), "cap_usd": cap}
    if spent + estimate_usd > cap:
        return Verdict(check=PIPELINE_CHECK, phase=Phase.FAILED, value=value, threshold=cap, evidence=key,
                       reason=f"The pipeline already spent ${spent:.2f} of its ${cap:.2f} daily budget "
                              f"(budget.pipeline_daily_usd) and {what} may spend up to ${estimate_usd:.2f}: wait "
                              f"for tomorrow (00:00 UTC), lower the step's cap, or raise pipeline_daily_usd.")
    return Verdict(check=PIPELINE_CHECK, phase=Phase.SUCCESSFUL, value=value, threshold=cap, evidence=key,
                   reason=f"Pipeline spend ${spent:.2f} + up to ${estimate_usd:.2f} for {what} fits the "
                          f"${cap:.2f} daily budget.")
