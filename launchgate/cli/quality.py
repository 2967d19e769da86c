"""``launchgate review-queue``: the human review queue of served answers.

    launchgate review-queue list --config F [--days 7] [--all] [--json]
    launchgate review-queue label ID --config F --as NAME --verdict good|bad [--expected JSON]
    launchgate golden propose --config F --from-queue [--days 30] [--out FILE]
    launchgate replay --config F --from-log DATE[..DATE] [--filter errors|schema_fail|bad_feedback] [--against ...]

The gateway samples ``quality.sample`` of served answers into the queue (set at run time with
``POST /admin/review-queue``). Exit codes: 0 done, 1 the store failed, 2 bad input (an unknown
item id, a malformed ``--expected``, a verdict other than good/bad).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from launchgate.errors import InputError, LaunchgateError

_config_option = click.option("--config", "config_path", required=True,
                              type=click.Path(dir_okay=False, path_type=Path), help="the service's release.yaml")


def _fail(code: int, message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group("review-queue")
def review_queue() -> None:
    """Label served answers the gateway sampled for review."""


@review_queue.command("list")
@_config_option
@click.option("--days", default=7, type=click.IntRange(1, 90), help="how many UTC days back")
@click.option("--all", "show_all", is_flag=True, default=False, help="also items already labelled")
@click.option("--json", "as_json", is_flag=True, default=False, help="one JSON object per item")
def list_items(config_path: Path, days: int, show_all: bool, as_json: bool) -> None:
    """List review items (oldest first); unlabelled only unless --all."""
    from launchgate.config.context import ServiceContext
    from launchgate.quality.queue import find_label, items

    try:
        ctx = ServiceContext.open(config_path, check_files=False)
        rows = [(i, find_label(ctx.store, ctx.config.service, i["id"])) for i in items(ctx.store, ctx.config.service,
                                                                                      days)]
    except InputError as exc:
        _fail(2, str(exc))
    except LaunchgateError as exc:
        _fail(1, str(exc))
    shown = [(i, lab) for i, lab in rows if show_all or lab is None]
    for item, lab in shown:
        if as_json:
            click.echo(json.dumps({**item, "label": lab.model_dump(exclude={"history"}) if lab else None}))
        else:
            answer = item.get("answer")
            brief = {k: answer[k] for k in ("category", "priority") if k in answer} if isinstance(answer, dict) else {}
            mark = f"  {lab.verdict} by {lab.by}" if lab else ""
            click.echo(f"{item['id']}  {item['ts']}  {item.get('variant') or '-':<9} {item.get('release_id') or '-'}  "
                       f"{(item.get('prompt_redacted') or '')[:50]!r} -> {json.dumps(brief)}{mark}")
    if not as_json:
        click.echo(f"{len(shown)} item(s){'' if show_all else ' to label'} in the last {days} day(s)")


@review_queue.command("label")
@click.argument("item_id")
@_config_option
@click.option("--as", "who", required=True, help="who labels (kept with the label)")
@click.option("--verdict", required=True, type=click.Choice(["good", "bad"]))
@click.option("--expected", default=None, help="the right answer, a JSON object (for a bad answer)")
@click.option("--days", default=30, type=click.IntRange(1, 90), help="how far back the item may be")
def label_item(item_id: str, config_path: Path, who: str, verdict: str, expected: str | None, days: int) -> None:
    """Label one item good or bad."""
    from launchgate.config.context import ServiceContext
    from launchgate.quality.queue import label, parse_expected

    try:
        want = parse_expected(expected)
        ctx = ServiceContext.open(config_path, check_files=False)
        done = label(ctx.store, ctx.config.service, item_id, verdict, who, want, days)
    except InputError as exc:
        _fail(2, str(exc))
    except LaunchgateError as exc:
        _fail(1, str(exc))
    click.echo(f"{done.item_id} labelled {done.verdict} by {done.by} at {done.at}")


@click.group("golden")
def golden() -> None:
    """Keep the golden set representative of production."""


@golden.command("propose")
@_config_option
@click.option("--from-queue", "from_queue", is_flag=True, required=True,
              help="labelled-bad review items with their right answer (the only source so far)")
@click.option("--days", default=30, type=click.IntRange(1, 90), help="how many UTC days of the queue")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the candidates here (JSONL) instead of stdout")
def propose(config_path: Path, from_queue: bool, days: int, out_path: Path | None) -> None:
    """Print golden-case candidates (JSONL) to review and append to the golden set."""
    from launchgate.config.context import ServiceContext
    from launchgate.quality.queue import golden_candidates

    if not from_queue:
        _fail(2, "say where candidates come from: --from-queue")
    try:
        ctx = ServiceContext.open(config_path, check_files=False)
        cases = golden_candidates(ctx.store, ctx.config.service, days)
    except InputError as exc:
        _fail(2, str(exc))
    except LaunchgateError as exc:
        _fail(1, str(exc))
    text = "".join(json.dumps(c) + "\n" for c in cases)
    if out_path is not None:
        out_path.write_text(text)
        click.echo(f"{len(cases)} golden candidate(s) written to {out_path}", err=True)
    else:
        click.echo(text, nl=False)


@click.command("replay")
@_config_option
@click.option("--from-log", "span", required=True, help="UTC day or range of the request log: DATE or DATE..DATE")
@click.option("--filter", "which", default="all", type=click.Choice(["all", "errors", "schema_fail", "bad_feedback"]))
@click.option("--against", default="candidate", type=click.Choice(["candidate", "stable"]),
              help="the version whose answers are compared with the other one's")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config field")
def replay(config_path: Path, span: str, which: str, against: str, overrides: tuple[str, ...]) -> None:
    """Re-send logged (redacted) requests and report the output deltas per field (stored under reviews/replay/)."""
    from launchgate.config import parse_overrides
    from launchgate.config.context import ServiceContext
    from launchgate.replay.report import write
    from launchgate.replay.run import replay as run_replay

    def progress(done: int, total: int) -> None:
        if done == total or done % 50 == 0:
            click.echo(f"replayed {done}/{total}", err=True)

    try:
        ctx = ServiceContext.open(config_path, overrides=parse_overrides(overrides))
        result = run_replay(ctx.config, ctx.store, span, which, against, ctx.config.shadow.fields,  # type: ignore[arg-type]
                            progress)
        where = write(ctx.store, result)
    except InputError as exc:
        _fail(2, str(exc))
    except LaunchgateError as exc:
        _fail(1, str(exc))
    s = result["summary"]
    deltas = ", ".join(f"{f} {n}" for f, n in s["fields"].items())
    click.echo(f"replayed {s['requests']} request(s) against {against}: answers differ on {deltas} "
               f"(of {s['compared']} compared); report at {ctx.store.location(where + 'replay.md')}")
