"""Decisions are data: Measurement, Phase, Verdict and the pure functions that make them.

Modelled on Argo Rollouts' analysis package. Only FAILED means "the candidate is bad";
ERROR (the measuring broke) and INCONCLUSIVE (too little data) never promote either,
so ``blocks`` is true for every phase but SUCCESSFUL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Phase(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    ERROR = "error"
    INCONCLUSIVE = "inconclusive"


class Measurement(BaseModel):
    name: str
    value: float | None
    phase: Phase
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    message: str = ""


class Verdict(BaseModel):
    """The shared verdict shape: {check, phase, value, threshold, reason, evidence}."""

    check: str
    phase: Phase
    value: Any = None
    threshold: Any = None
    reason: str
    evidence: str | None = None
    measurements: list[Measurement] = Field(default_factory=list)

    @property
    def blocks(self) -> bool:
        return self.phase is not Phase.SUCCESSFUL


def pct(x: float) -> str:
    """0.0312 -> '3.1%' (rates are fractions in code, percents in config and prose)."""
    return f"{x * 100:.1f}%"


def _bounded(
    check: str, value: float | None, bound: float, *, upper: bool, what: str, fmt: Any, n: int | None,
    min_n: int, evidence: str | None, fix: str, unit: str,
) -> Verdict:
    over = f" over {n} {unit}" if n is not None else ""
    common = {"check": check, "value": value, "threshold": bound, "evidence": evidence}
    if value is None or (n is not None and n < min_n):
        return Verdict(**common, phase=Phase.INCONCLUSIVE,
                       reason=f"{what} could not be judged: {n or 0} observations, need at least {min_n}.")
    breached = value > bound if upper else value < bound
    if breached:
        op, tail = (">" if upper else "<"), (f" {fix}" if fix else "")
        return Verdict(**common, phase=Phase.FAILED, reason=f"{what} {fmt(value)} {op} {fmt(bound)}{over}.{tail}")
    op = "<=" if upper else ">="
    return Verdict(**common, phase=Phase.SUCCESSFUL, reason=f"{what} {fmt(value)} {op} {fmt(bound)}{over}.")


def at_most(
    check: str, value: float | None, limit: float, *, what: str, fmt: Any = pct, n: int | None = None,
    min_n: int = 1, evidence: str | None = None, fix: str = "",
) -> Verdict:
    """Successful when ``value <= limit``; inconclusive when fewer than ``min_n`` observations."""
    return _bounded(check, value, limit, upper=True, what=what, fmt=fmt, n=n, min_n=min_n, evidence=evidence,
                    fix=fix, unit="requests")


def at_least(
    check: str, value: float | None, floor: float, *, what: str, fmt: Any = pct, n: int | None = None,
    min_n: int = 1, evidence: str | None = None, fix: str = "",
) -> Verdict:
    """Successful when ``value >= floor``; inconclusive when fewer than ``min_n`` observations."""
    return _bounded(check, value, floor, upper=False, what=what, fmt=fmt, n=n, min_n=min_n, evidence=evidence,
                    fix=fix, unit="cases")


# The one severity order: failed (the candidate is bad) > error (the measuring broke) > inconclusive
# (too little data) > successful. Every "worst of" and every "worst first" listing uses it.
SEVERITY: tuple[Phase, ...] = (Phase.FAILED, Phase.ERROR, Phase.INCONCLUSIVE, Phase.SUCCESSFUL)


def worst(phases: Iterable[Phase]) -> Phase:
    """The most severe phase present; SUCCESSFUL when there is none."""
    present = set(phases)
    return next((p for p in SEVERITY if p in present), Phase.SUCCESSFUL)


def combine(verdicts: list[Verdict]) -> Phase:
    """Worst phase wins: failed > error > inconclusive > successful."""
    return worst(v.phase for v in verdicts)


def by_severity(verdicts: list[Verdict]) -> list[Verdict]:
    """Worst first (stable within a phase), so a summary names the check that decided."""
    return sorted(verdicts, key=lambda v: SEVERITY.index(v.phase))


def crashed(step: str, exc: BaseException) -> Verdict:
    """A step that raised: recorded as an ERROR verdict (never lost, never a pass), worded for a person."""
    return Verdict(check=step, phase=Phase.ERROR,
                   reason=f"The {step} step crashed ({type(exc).__name__}: {str(exc)[:200]}): rerun, and file a "
                          f"bug if it repeats.")


class StepResult(BaseModel):
    """What one pipeline step returns: its verdicts, the evidence it wrote, and what to show a person.

    ``markdown`` and ``tables`` are for the orchestrator to publish (Prefect artifacts); the core
    never publishes anything itself.
    """

    step: str
    verdicts: list[Verdict] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list, description="bundle names this step wrote")
    summary: str = ""
    markdown: str = ""
    tables: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        return any(v.blocks for v in self.verdicts)
