"""`launchgate attest` and `launchgate readiness`: who vouched for what, and is the service ready.

Exit codes: 0 ready / attested, 2 bad input (config, unknown item, unreadable evidence file),
3 not ready / refused (the signer is not listed for the item's owner role; the attempt is recorded).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from launchgate.errors import InputError, StoreError

EXIT_INPUT = 2
EXIT_NOT_READY = 3
_URL_PREFIXES = ("http://", "https://", "s3://")


def _fail(message: str, code: int = EXIT_INPUT) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _when(at: str | None) -> datetime:
    """``--at`` (hidden): the clock a test controls; default now."""
    if not at:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"--at {at!r}: expected an ISO time like 2026-11-30T09:00:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _context(config_path: Path, artifacts: str | None, overrides: tuple[str, ...] = ()) -> Any:
    from launchgate.config import parse_overrides
    from launchgate.config.context import ServiceContext
    from launchgate.readiness.step import check_config

    ctx = ServiceContext.open(config_path, artifacts=artifacts, check_files=False,
                              overrides=parse_overrides(overrides))
    check_config(ctx.config, config_path)
    return ctx


_config_option = click.option("--config", "config_path", required=True,
                              type=click.Path(dir_okay=False, path_type=Path), help="release.yaml of the service")
_artifacts_option = click.option("--artifacts", default=None,
                                 help="the artifact store (folder, file:///path or s3://bucket/prefix); default: "
                                      "LAUNCHGATE_ARTIFACTS_URI, else the config's artifacts.uri")
_at_option = click.option("--at", "at", default=None, hidden=True, help="the time to judge at (tests)")


@click.command()
@click.argument("items", nargs=-1, required=True)
@_config_option
@click.option("--as", "who", required=True, help="your name, as listed under readiness.people for the item's owner")
@click.option("--evidence", default=None, help="a URL, or a file (copied into the store with its sha256)")
@click.option("--note", default="", help="what you checked; shown next to the item")
@click.option("--expires", default=None, help="validity, e.g. 90d, 12w, 48h (default readiness.attestation_days)")
@click.option("--revoke", is_flag=True, default=False, help="withdraw the item's attestations")
@_artifacts_option
@_at_option
def attest(items: tuple[str, ...], config_path: Path, who: str, evidence: str | None, note: str,
           expires: str | None, revoke: bool, artifacts: str | None, at: str | None) -> None:
    """Sign readiness ITEMS (or --revoke them) as a person listed for their owner role.

    Each signature is appended to <service>/state/attestations.jsonl with the evidence, the note and
    an expiry; an unlisted signer is refused (exit 3) and the refusal is recorded too.
    """
    from launchgate.readiness.attestations import attach_file, attest_many, parse_expiry, refusal, runbook_sha256
    from launchgate.readiness.catalogue import service_items

    now = _when(at)
    refused: list[str] = []
    done: list[dict[str, Any]] = []
    try:
        ctx = _context(config_path, artifacts)
        known = {i.id: i for i in service_items(ctx.config.readiness)}
        unknown = [i for i in items if i not in known]
        if unknown:
            raise InputError(f"unknown readiness item {unknown[0]!r}: `launchgate readiness --config {config_path}` "
                             f"lists every item id")
        validity = parse_expiry(expires) if expires else None
        subjects: dict[str, str | None] = {}
        for item_id in items:
            if known[item_id].check == "runbook":
                subjects[item_id] = runbook_sha256(ctx.config, config_path)
                if subjects[item_id] is None and not revoke:
                    raise InputError(f"{item_id} approves the runbook, but readiness.runbook is not set or cannot "
                                     f"be read: set it to the runbook file")
        key = sha = None
        if evidence and not evidence.startswith(_URL_PREFIXES):
            path = Path(evidence)
            if not path.is_file():
                raise InputError(f"--evidence {evidence}: neither a URL (http://, https://, s3://) nor a file")
            key, sha = attach_file(ctx.store, ctx.service, path)
        signed, refusals = attest_many(ctx.store, ctx.config, [known[i] for i in dict.fromkeys(items)], who,
                                       now=now, evidence=key or evidence, evidence_sha256=sha, note=note,
                                       expires=validity, revoke=revoke, subjects=subjects)
        for rec in refusals:
            click.echo(f"refused: {refusal(ctx.config, known[rec.item], who, 'revoke' if revoke else 'sign')}",
                       err=True)
            refused.append(rec.item)
        for rec in signed:
            until = f" until {rec.expires_at:%Y-%m-%d}" if rec.expires_at else ""
            click.echo(f"{'revoked' if revoke else 'attested'} {rec.item} as {who} ({rec.role}){until}")
            done.append({"item": rec.item, "action": rec.action,
                         "expires_at": rec.expires_at.isoformat() if rec.expires_at else None})
    except InputError as exc:
        _fail(str(exc))
    except StoreError as exc:
        _fail(f"the store could not record the attestation: {exc}", 1)
    click.echo(json.dumps({"attested": done, "refused": refused}))
    sys.exit(EXIT_NOT_READY if refused else 0)


@click.command()
@_config_option
@_artifacts_option
@click.option("--release", "release_id", default=None, help="judge this release's bundle (default: the last "
                                                             "promoted release, else the newest)")
@click.option("--json", "as_json", is_flag=True, default=False, help="the last line carries every item too")
@click.option("--no-probe", is_flag=True, default=False, help="do not probe the gateway on loopback")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a config field (e.g. canary.gateway_url=http://127.0.0.1:8300)")
@_at_option
def readiness(config_path: Path, artifacts: str | None, release_id: str | None, as_json: bool, no_probe: bool,
              overrides: tuple[str, ...], at: str | None) -> None:
    """Is the service ready to launch? Every readiness item, grouped by domain: status, owner, reason, evidence.

    Exit 0 when every required item is verified, attested or signed not applicable, 3 otherwise, 2 on
    bad input. The last line is one JSON object with the counts (and, with --json, every item).
    """
    from launchgate.readiness.review import text_lines
    from launchgate.readiness.step import review_service

    try:
        ctx = _context(config_path, artifacts, overrides)
        if release_id is not None:
            from launchgate.store import layout

            if not ctx.store.exists(layout.release_key(ctx.service, release_id, "manifest.json")):
                raise InputError(f"--release {release_id}: no such release of {ctx.service} in {ctx.store.uri}")
        report, _ = review_service(ctx.store, ctx.config, settings=ctx.settings, now=_when(at),
                                   config_path=config_path, release_id=release_id, probe=not no_probe)
    except InputError as exc:
        _fail(str(exc))
    except StoreError as exc:
        _fail(f"the store could not be read: {exc}", 1)
    line: dict[str, Any] = report.counts.model_dump()
    if as_json:
        line.update(service=report.service, release_id=report.release_id, summary=report.summary,
                    blocking=report.blocking, items=[r.model_dump(mode="json") for r in report.items])
    else:
        for text in text_lines(report):
            click.echo(text)
    click.echo(json.dumps(line))
    sys.exit(0 if report.counts.ready else EXIT_NOT_READY)
