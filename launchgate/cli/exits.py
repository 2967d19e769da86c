"""The exit codes of the people-facing commands (keys, data, ...) and the one mapping from launchgate's
errors to them: 0 done, 1 an external system failed, 2 bad input (the field or flag is named),
3 refused (a person not listed for the action). The same codes as ``launchgate release``'s
invalid input (2) and blocked (3)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import click

from launchgate.errors import InputError, LaunchgateError, NotAuthorised

EXIT_ERROR, EXIT_INPUT, EXIT_REFUSED = 1, 2, 3
T = TypeVar("T")


def fail(code: int, message: str) -> NoReturn:
    """One line on stderr, no traceback, and the exit code."""
    click.echo(f"{'refused' if code == EXIT_REFUSED else 'error'}: {message}", err=True)
    sys.exit(code)


def run(fn: Callable[[], T]) -> T:
    """``fn()``, with launchgate's errors turned into the exit codes above."""
    try:
        return fn()
    except NotAuthorised as exc:
        fail(EXIT_REFUSED, str(exc))
    except InputError as exc:
        fail(EXIT_INPUT, str(exc))
    except LaunchgateError as exc:
        fail(EXIT_ERROR, str(exc))
