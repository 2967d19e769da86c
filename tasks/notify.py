"""Notification task: never fails the flow; the outcome is recorded by the Dispatcher."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from launchgate.notify.base import Notice, NotifyOutcome
from launchgate.release.preflight import ReleaseRun


@task(name="notify", cache_policy=NO_CACHE, timeout_seconds=60)
def notify(run: ReleaseRun, notice: Notice) -> NotifyOutcome:
    outcome = run.dispatcher.send(notice)
    if not outcome.ok and not getattr(outcome, "muted", False):
        get_run_logger().warning("notification %s to %s not delivered: %s", notice.event, notice.role,
                                  outcome.error)
    return outcome
