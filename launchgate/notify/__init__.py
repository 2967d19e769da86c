"""Notifiers and the Dispatcher that routes a Notice to its role's owner.

The Dispatcher keeps every outcome (sent, failed, muted) so the caller can write them into
the release evidence as ``notifications.jsonl``: a reviewer can see who was told what.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from launchgate.errors import InputError
from launchgate.notify.base import Notice, Notifier, NotifyOutcome
from launchgate.notify.console import ConsoleNotifier
from launchgate.settings import Settings

__all__ = ["ConsoleNotifier", "Dispatcher", "Notice", "Notifier", "NotifyOutcome", "make_notifier"]

log = logging.getLogger(__name__)

MUTE_ALL = "*"


class _Owners(Protocol):
    def target(self, role: str) -> str | None: ...


def make_notifier(kind: str, settings: Settings) -> Notifier:
    """Build the notifier named by ``notifications.notifier`` (or LAUNCHGATE_NOTIFIER)."""
    name = (kind or "").strip().lower()
    if name == "console":
        return ConsoleNotifier()
    if name == "slack":
        token = settings.slack_token
        if token is None or not token.get_secret_value().strip():
            raise InputError(
                "notifier 'slack' needs a bot token: set LAUNCHGATE_SLACK_TOKEN (or SLACK_BOT_TOKEN), "
                "or use notifier: console"
            )
        # Imported here so console-only setups never import slack-sdk.
        from launchgate.notify.slack import SlackNotifier

        return SlackNotifier(
            token=token,
            base_url=settings.slack_base_url,
            timeout=settings.slack_timeout_s,
            max_retries=settings.slack_max_retries,
        )
    raise InputError(f"unknown notifier {kind!r}: use console or slack")


class Dispatcher:
    """Sends each Notice to the owner of its role, honouring per-role mutes. Never raises."""

    def __init__(
        self,
        notifier: Notifier,
        owners: _Owners | None = None,
        mute: Mapping[str, Iterable[str]] | None = None,
        journal: Callable[[NotifyOutcome], None] | None = None,
    ) -> None:
        self.notifier = notifier
        # Where each outcome is kept as it happens (a release's bundle): the record survives the
        # process, and steps in other processes never need this object's memory.
        self.journal = journal
        self.owners = owners
        # role -> muted event types; "*" mutes every event for that role.
        self.mute: dict[str, frozenset[str]] = {
            role: frozenset(events) for role, events in (mute or {}).items()
        }
        self.outcomes: list[NotifyOutcome] = []

    def is_muted(self, notice: Notice) -> bool:
        events = self.mute.get(notice.role, frozenset())
        return notice.event in events or MUTE_ALL in events

    def send(self, notice: Notice) -> NotifyOutcome:
        name = getattr(self.notifier, "name", type(self.notifier).__name__)
        target: str | None = None
        try:
            target = self.owners.target(notice.role) if self.owners is not None else None
            if self.is_muted(notice):
                outcome = NotifyOutcome(
                    event=notice.event,
                    role=notice.role,
                    target=target,
                    notifier=name,
                    ok=True,
                    attempts=0,
                    muted=True,
                )
            else:
                outcome = self.notifier.send(notice, target)
        except Exception as exc:  # a notifier bug must not fail the release it reports on
            outcome = NotifyOutcome(
                event=notice.event,
                role=notice.role,
                target=target,
                notifier=name,
                ok=False,
                error=f"notifier raised {type(exc).__name__}",
            )
        if not outcome.ok:
            log.warning("notice %s for %s not delivered: %s", notice.event, notice.role, outcome.error)
        self.outcomes.append(outcome)
        if self.journal is not None:
            try:
                self.journal(outcome)
            except Exception as exc:  # noqa: BLE001 - a lost record is logged, the notice itself went out
                log.warning("notice %s for %s not journaled: %s", notice.event, notice.role, exc)
        return outcome

    def jsonl(self) -> str:
        """The outcomes as JSON lines, the content of ``notifications.jsonl``."""
        return "".join(o.model_dump_json() + "\n" for o in self.outcomes)
