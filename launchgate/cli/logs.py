"""`launchgate logs query|search|compact` and `launchgate review drift|cost`: the request log for people.

Exit codes: 0 done, 2 bad input (bad SQL, a writing statement, a bad flag; nothing run), 1 error.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from launchgate.errors import InputError, LaunchgateError

EXIT_INPUT = 2
FORMATS = click.Choice(["table", "json", "csv"])
_config = click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
                       help="release.yaml of the service (gives the service and its artifact store)")
_artifacts = click.option("--artifacts", default=None, help="artifact store URI (default: the config's)")
_format = click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)


def _fail(exc: BaseException, code: int) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(code)


def _cell(v: Any) -> Any:
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")
    if isinstance(v, date):
        return v.isoformat()
    return v


def render(names: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    """Rows as an aligned text table, a JSON array of objects, or CSV with a header."""
    cells = [[_cell(v) for v in row] for row in rows]
    if fmt == "json":
        return json.dumps([dict(zip(names, row, strict=True)) for row in cells], default=str, indent=1) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(names)
        w.writerows(cells)
        return buf.getvalue()
    text = [["" if v is None else str(v) for v in row] for row in cells]
    widths = [max([len(n)] + [len(r[i]) for r in text]) for i, n in enumerate(names)]
    out = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in text]
    return "\n".join(out) + f"\n({len(rows)} row{'s' if len(rows) != 1 else ''})\n"


def _window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    from launchgate.requestlog.queries import parse_since

    now = datetime.now(UTC)
    return (parse_since(since, now) if since else None), (parse_since(until, now) if until else None)


@click.group()
def logs() -> None:
    """Query and search the gateway's request log (DuckDB over Parquet + the open hour's JSONL)."""


@logs.command("query")
@_config
@_artifacts
@_format
@click.option("--since", default=None, help="only the log from then (1h, 2d, 1w or an ISO time): faster")
@click.option("--until", default=None, help="only the log before then (same forms)")
@click.option("--limit", default=10_000, show_default=True, help="rows printed at most")
@click.argument("sql")
def query(config_path: Path, artifacts: str | None, fmt: str, since: str | None, until: str | None, limit: int,
          sql: str) -> None:
    """Run one read-only SELECT against the `requests` view of the service's log.

    Columns: ts, request_id, service, release_id, variant, model, prompt_version, prompt_sha256,
    status, error_code, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd, schema_ok,
    retries, prompt_redacted, refused, stable_release_id, extra (JSON), source_key, source_line,
    date, hour. Example: launchgate logs query --config release.yaml
    "SELECT model, count(*), avg(latency_ms) FROM requests GROUP BY model"
    """
    from launchgate.config.context import ServiceContext
    from launchgate.requestlog.sqlguard import check_read_only, run_query
    from launchgate.requestlog.view import LogView

    try:
        import duckdb

        check_read_only(duckdb.connect(":memory:"), sql)  # refuse before reading any of the log
        start, end = _window(since, until)
        ctx = ServiceContext.open(config_path, artifacts=artifacts, check_files=False)
        with LogView.open(ctx.store, ctx.service, start, end, read_only=True) as view:
            names, rows = run_query(view.con, sql, limit)
    except InputError as exc:
        _fail(exc, EXIT_INPUT)
    except LaunchgateError as exc:
        _fail(exc, 1)
    click.echo(render(names, rows, fmt), nl=False)


@logs.command("search")
@_config
@_artifacts
@_format
@click.option("--request-id", default=None, help="one request")
@click.option("--release", default=None, help="requests served under this release id")
@click.option("--status", default=None, help="an HTTP status (502) or class (5xx)")
@click.option("--since", default=None, help="from then: 1h, 30m, 2d, 1w or an ISO time")
@click.option("--until", default=None, help="before then (same forms)")
@click.option("--limit", default=100, show_default=True, help="newest lines shown at most")
def search(config_path: Path, artifacts: str | None, fmt: str, request_id: str | None, release: str | None,
           status: str | None, since: str | None, until: str | None, limit: int) -> None:
    """Find request lines by id, release, status and time, newest first."""
    from launchgate.config.context import ServiceContext
    from launchgate.requestlog.queries import SEARCH_COLUMNS, Search
    from launchgate.requestlog.queries import search as run_search

    try:
        if not any((request_id, release, status, since)):
            raise InputError("give at least one of --request-id, --release, --status or --since")
        start, end = _window(since, until)
        ctx = ServiceContext.open(config_path, artifacts=artifacts, check_files=False)
        rows = run_search(ctx.store, ctx.service, Search(request_id=request_id, release=release, status=status,
                                                         since=start, until=end, limit=limit))
    except InputError as exc:
        _fail(exc, EXIT_INPUT)
    except LaunchgateError as exc:
        _fail(exc, 1)
    click.echo(render(list(SEARCH_COLUMNS), [tuple(r[c] for c in SEARCH_COLUMNS) for r in rows], fmt), nl=False)


@logs.command("compact")
@_config
@_artifacts
@click.option("--grace-minutes", default=30, show_default=True, help="an hour is closed this long after it ends")
@click.option("--lookback-days", default=7, show_default=True, help="how far back to look for closed hours")
def compact_cmd(config_path: Path, artifacts: str | None, grace_minutes: int, lookback_days: int) -> None:
    """Compact closed hours of the JSONL log into Parquet now (what the hourly compact-logs flow does)."""
    from launchgate.cli import _Bar
    from launchgate.config.context import ServiceContext
    from launchgate.requestlog.compaction import compact

    try:
        ctx = ServiceContext.open(config_path, artifacts=artifacts, check_files=False)
        bar = _Bar()
        out = compact(ctx.store, ctx.service, datetime.now(UTC), grace=timedelta(minutes=grace_minutes),
                      lookback=timedelta(days=lookback_days), on_progress=lambda d, t: bar("compact", d, t))
    except InputError as exc:
        _fail(exc, EXIT_INPUT)
    except LaunchgateError as exc:
        _fail(exc, 1)
    done = [o for o in out if o.status == "compacted"]
    click.echo(json.dumps({"service": ctx.service, "hours": len(out), "compacted": len(done),
                           "rows": sum(o.rows for o in done), "bad_lines": sum(o.bad_lines for o in done)}))


@click.group()
def review() -> None:
    """Run a scheduled review now (the same flow as its schedule), with a progress bar."""


def _run_review(run: Any) -> None:
    from launchgate.cli import _Bar, _prefect_defaults
    from launchgate.notify import progress

    _prefect_defaults()
    unsubscribe = progress.subscribe(_Bar())
    try:
        result = run()
    except InputError as exc:
        _fail(exc, EXIT_INPUT)
    except LaunchgateError as exc:
        _fail(exc, 1)
    except Exception as exc:  # noqa: BLE001 - users get one line, not a traceback
        if os.environ.get("LAUNCHGATE_DEBUG"):
            raise
        _fail(RuntimeError(f"internal error: {type(exc).__name__}: {exc} (set LAUNCHGATE_DEBUG=1 for a traceback)"),
              1)
    finally:
        unsubscribe()
    click.echo(json.dumps(result, default=str))


@review.command("drift")
@_config
@_artifacts
@click.option("--week", default=None, help="ISO week, e.g. 2026-W45 (default: the last complete week)")
def review_drift(config_path: Path, artifacts: str | None, week: str | None) -> None:
    """The weekly drift review of one week; prints the flow's result as one JSON line."""
    def run() -> Any:
        from flows.drift_review import drift_review

        return drift_review(config=str(config_path), week=week, artifacts=artifacts)

    _run_review(run)


@review.command("cost")
@_config
@_artifacts
@click.option("--month", default=None, help="YYYY-MM (default: the last complete month)")
def review_cost(config_path: Path, artifacts: str | None, month: str | None) -> None:
    """The monthly cost review of one month; prints the flow's result as one JSON line."""
    def run() -> Any:
        from flows.cost_review import cost_review

        return cost_review(config=str(config_path), month=month, artifacts=artifacts)

    _run_review(run)
