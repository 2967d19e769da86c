"""Progress of a long review step, for whoever listens (the CLI's bar); silent when nobody does.

A process-wide listener rather than a parameter: the reviews run as Prefect flows whose parameters
must be serialisable, and the CLI runs those same flows in-process. Tasks call ``report``; the CLI
calls ``listen`` before starting the flow.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[str, int, int], None]
_listener: Listener | None = None


def listen(listener: Listener | None) -> None:
    global _listener
    _listener = listener


def report(step: str, done: int, total: int) -> None:
    if _listener is not None:
        _listener(step, done, total)
