"""`launchgate observability` (alert rules, scrape config, dashboard) and `launchgate report` (report.html)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from launchgate.errors import InputError, LaunchgateError

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
    gateway's, or HAProxy's exporter's with canary.router haproxy. Check the rules with
    `promtool check rules OUT/prometheus/rules.yml`.
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


@click.command("report")
@click.argument("release_id")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="release.yaml of the service (names the artifact store)")
@click.option("--artifacts", default=None, help="artifact store URI (default: LAUNCHGATE_ARTIFACTS_URI, else the "
                                                "config's artifacts.uri)")
@click.option("--open", "open_it", is_flag=True, default=False, help="open the report in the default browser")
def report_command(release_id: str, config_path: Path, artifacts: str | None, open_it: bool) -> None:
    """Print where RELEASE_ID's report.html is (or open it).

    A bundle in S3, or one finalized before reports existed, is rendered to a local temporary file;
    the bundle itself is never changed.
    """
    import tempfile
    import webbrowser

    from launchgate.config.context import ServiceContext
    from launchgate.report.page import REPORT_NAME, build_report
    from launchgate.store.bundle import ReleaseBundle
    from launchgate.store.local import LocalStore

    try:
        ctx = ServiceContext.open(config_path, artifacts=artifacts, check_files=False)
        bundle = ReleaseBundle(ctx.store, ctx.service, release_id)
        if not bundle.exists("manifest.json"):
            raise InputError(f"no release {release_id} of {ctx.service} in the artifact store: check the id "
                             f"and --artifacts (or LAUNCHGATE_ARTIFACTS_URI)")
        if isinstance(ctx.store, LocalStore) and bundle.exists(REPORT_NAME):
            path = Path(bundle.location(REPORT_NAME))
        else:
            path = Path(tempfile.mkdtemp(prefix="launchgate-report-")) / f"{release_id}.html"
            path.write_text(build_report(bundle), encoding="utf-8")
    except InputError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)
    except LaunchgateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(str(path))
    if open_it:
        webbrowser.open(path.resolve().as_uri())
