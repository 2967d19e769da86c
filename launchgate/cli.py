"""The `launchgate` command line.

Exit codes: 0 promoted/passed, 1 internal error, 2 invalid input, 3 blocked by a gate,
4 rolled back. ``release`` prints one JSON object as its last line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from launchgate.errors import InputError, LaunchgateError

EXIT_INPUT = 2


def _fail_input(exc: InputError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_INPUT)


class _Bar:
    """A one-line progress bar on stderr (redrawn in place on a TTY, every 25% otherwise)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_quarter: dict[str, int] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        if self.tty:
            filled = int(frac * 30)
            end = "\n" if done >= total else ""
            sys.stderr.write(f"\r{step:>8} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}{end}")
            sys.stderr.flush()
        else:
            quarter = int(frac * 4)
            if quarter > self.last_quarter.get(step, -1):
                self.last_quarter[step] = quarter
                sys.stderr.write(f"{step}: {done}/{total} ({frac:.0%})\n")


def _prefect_defaults() -> None:
    """Embedded-mode defaults, set before Prefect is imported; the user's own env wins."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A fresh ephemeral database runs its migrations first: 20 s (Prefect's default) is too
    # tight on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="launchgate")
def main() -> None:
    """launchgate: gates, evidence and rollouts for LLM releases."""


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="release.yaml of the service")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config field")
def validate(config_path: Path, overrides: tuple[str, ...]) -> None:
    """Check release.yaml and every file it names; list every problem with its field path."""
    from launchgate.config import parse_overrides
    from launchgate.preflight import load_inputs

    try:
        config, _, cases, _ = load_inputs(config_path, parse_overrides(overrides))
    except InputError as exc:
        _fail_input(exc)
    click.echo(f"ok: {config_path} is valid (service {config.service}, {len(cases)} golden cases)")


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--artifacts", default=None, help="artifact store URI: a folder, file:///path or s3://bucket/prefix")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config field")
def release(config_path: Path, artifacts: str | None, overrides: tuple[str, ...]) -> None:
    """Run the release flow for the candidate in CONFIG."""
    from launchgate.config import parse_overrides
    from launchgate.preflight import load_inputs

    try:
        parsed = parse_overrides(overrides)
        load_inputs(config_path, parsed)  # fail fast, before Prefect starts
    except InputError as exc:
        _fail_input(exc)
    _prefect_defaults()

    from flows.release import release as release_flow
    from launchgate import progress

    unsubscribe = progress.subscribe(_Bar())
    try:
        result: dict[str, Any] = release_flow(config=str(config_path), artifacts=artifacts, overrides=parsed)
    except InputError as exc:
        _fail_input(exc)
    except LaunchgateError as exc:
        click.echo(f"error: {exc}", err=True)
        click.echo(json.dumps({"release_id": None, "decision": "error", "reasons": [str(exc)], "evidence": None}))
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - users get one line, not a traceback
        if os.environ.get("LAUNCHGATE_DEBUG"):
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc} (set LAUNCHGATE_DEBUG=1 for a traceback)", err=True)
        click.echo(json.dumps({"release_id": None, "decision": "error", "reasons": [str(exc)], "evidence": None}))
        sys.exit(1)
    finally:
        unsubscribe()
    click.echo(f"\n{result['summary']}", err=True)
    click.echo(json.dumps({
        "release_id": result["release_id"], "decision": result["decision"], "reasons": result["reasons"],
        "evidence": result["evidence"],
    }))
    sys.exit(int(result["exit_code"]))


@main.command()
@click.option("--variants", "variants_file", default="examples/support-bot/variants.yaml", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path))
@click.option("--variant", required=True, help="variant name in the variants file, e.g. stable")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True, type=int)
def sim(variants_file: Path, variant: str, host: str, port: int) -> None:
    """Serve a simulated OpenAI-compatible model variant (the example service)."""
    from launchgate.sim.server import serve

    try:
        serve(variants_file, variant, host=host, port=port)
    except InputError as exc:
        _fail_input(exc)


if __name__ == "__main__":
    main()
