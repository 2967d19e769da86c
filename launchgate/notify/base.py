"""The notifier Protocol and the Notice it sends.

A notifier never raises into a release: ``send`` returns a NotifyOutcome that the caller
records in the evidence (``notifications.jsonl``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field

Status = Literal["started", "passed", "blocked", "failed", "rolled_back", "promoted", "info", "alarm"]


class Notice(BaseModel):
    event: str = Field(description="event type, e.g. eval_gate, release_finished, rollback, budget_alert")
    role: str = Field(description="owner role the notice is for: engineering, operations, oncall, ...")
    service: str
    release_id: str | None = None
    status: Status = "info"
    title: str
    text: str = Field(description="one sentence: what happened and what to do")
    link: str | None = Field(default=None, description="where the evidence is")
    link_label: str | None = Field(default=None, description="button text for link; default 'Open evidence'")
    fields: dict[str, str] = Field(default_factory=dict)
    details: str | None = Field(default=None, description="Markdown (headings, bullets, bold, links) with the "
                                                          "evidence a person needs to act; Slack shows it")


class NotifyOutcome(BaseModel):
    event: str
    role: str
    target: str | None
    notifier: str
    ok: bool
    attempts: int = 1
    error: str | None = None
    muted: bool = Field(default=False, description="not sent: the role muted this event type")
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Notifier(Protocol):
    name: str

    def send(self, notice: Notice, target: str | None) -> NotifyOutcome:
        """Deliver ``notice`` to ``target`` (Slack channel/user id; None = role has no owner)."""
        ...
