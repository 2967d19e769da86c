"""`launchgate observability` (alert rules, scrape config, dashboard) and `launchgate report` (report.html)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from launchgate.errors import InputError

EXIT_INPUT = 2


def _load(config_path: Path):  # type: ignore[no-untyped-def]
    from launchgate.config import load_config

    return load_config(config_path, check_files=False)


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="release.yaml of the service")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder for prometheus/rules.yml, prometheus/scrape.yml and grafana/<service>.json")
def observability(config_path: Path, out_dir: Path) -> None:
    """Write Prometheus alert rules, a scrape config and a Grafana dashboard for the service.

    Thresholds, owners and the budget come from release.yaml; the metric names are the release
    gateway's. Check the rules with `promtool check rules OUT/prometheus/rules.yml`.
    """
    from launchgate.observability.output import write_observability

    try:
        cfg = _load(config_path)
        written = write_observability(cfg, out_dir)
    except InputError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)
    except OSError as exc:
        click.echo(f"error: cannot write to --out {out_dir}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_INPUT)
    for path in written:
        click.echo(str(path))
