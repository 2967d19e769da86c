"""The embedded notifier: one line per notice on stderr.

stderr (not logging) because the CLI has no logging config by default and stdout is reserved
for machine-readable output; Prefect captures stderr of tasks as well.
"""

from __future__ import annotations

import sys
from typing import TextIO

from launchgate.notify.base import Notice, NotifyOutcome
from launchgate.notify.blocks import emoji


def format_line(notice: Notice, target: str | None) -> str:
    release = f" {notice.release_id}" if notice.release_id else ""
    to = f"@{target}" if target else f"(no owner for {notice.role})"
    line = f"{emoji(notice.status)} [{notice.service}{release}] {notice.title}: {notice.text} -> {to}"
    if notice.link:
        line += f" | {notice.link}"
    # One notice, one line: a newline inside a title must not split it in logs.
    return " ".join(line.split())


class ConsoleNotifier:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        # Resolve sys.stderr at send time unless told otherwise, so redirection/capture works.
        self._stream = stream

    def send(self, notice: Notice, target: str | None) -> NotifyOutcome:
        try:
            print(format_line(notice, target), file=self._stream or sys.stderr, flush=True)
        except Exception as exc:  # a closed or broken stream must not fail a release
            return NotifyOutcome(
                event=notice.event,
                role=notice.role,
                target=target,
                notifier=self.name,
                ok=False,
                error=f"console write failed: {type(exc).__name__}",
            )
        return NotifyOutcome(event=notice.event, role=notice.role, target=target, notifier=self.name, ok=True)
