"""The one JSON line `launchgate release` ends with, whatever the exit code.

README promises that the last stdout line is ``{"release_id", "decision", "reasons", "evidence"}``:
CI jobs and scripts parse it instead of the exit code's five meanings. Invalid input (exit 2)
says ``"decision": "invalid"``, a crash (exit 1) ``"error"``; neither has a release id or evidence.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from launchgate.errors import InputError

EXIT_INPUT = 2
EXIT_ERROR = 1


def print_line(release_id: str | None, decision: str, reasons: list[str], evidence: str | None) -> None:
    click.echo(json.dumps({"release_id": release_id, "decision": decision, "reasons": reasons,
                           "evidence": evidence}))


def exit_invalid(exc: InputError) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    print_line(None, "invalid", exc.reasons(), None)
    sys.exit(EXIT_INPUT)


def exit_error(message: str, reason: str) -> NoReturn:
    click.echo(message, err=True)
    print_line(None, "error", [reason], None)
    sys.exit(EXIT_ERROR)


class LineOnUsageError(click.Command):
    """A command whose usage errors (a missing --config, a directory for a file, an unknown flag) end
    with the JSON line too: they are invalid input like any other. Click still prints its usage
    message to stderr and exits 2."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            print_line(None, "invalid", [exc.format_message()], None)
            raise
