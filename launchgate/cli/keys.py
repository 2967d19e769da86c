"""``launchgate keys create|list|revoke``: the client API keys of a service's gateway (docs/access.md).

Authorised people only: engineering and operations approvers, owners (as for the release freeze)
and ``access.managers``. Every attempt, granted or refused, is appended to
``<service>/state/api_keys_log.jsonl`` with who, when, what and the key id, never a secret.
``create`` prints the key once, on stdout; the store keeps only its sha256. A running gateway
picks a change up within ``access.poll_s`` (or at once on SIGHUP).

Exit codes: 0 done, 2 bad input (the flag or field is named), 3 refused (a person not listed, named by
--as), 1 the store failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from launchgate.cli.exits import run
from launchgate.errors import InputError


def _context(config_path: Path, artifacts: str | None) -> Any:
    from launchgate.config.context import ServiceContext

    return ServiceContext.open(config_path, artifacts=artifacts, check_files=False)


_config = click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
                       help="the service's release.yaml")
_artifacts = click.option("--artifacts", default=None, help="artifact store URI (default: the config's)")
_who = click.option("--as", "who", required=True,
                    help="your name, as listed under approvals.approvers (engineering, operations), owners or "
                         "access.managers")


@click.group()
def keys() -> None:
    """Create, list or revoke the API keys callers send to the gateway's /v1 (docs/access.md)."""


@keys.command("create")
@_config
@_artifacts
@_who
@click.option("--tenant", default=None, help="whose requests the key carries (tenant limits and budgets use it)")
@click.option("--model", "models", multiple=True, help="a `model` value the key may ask for (repeat; default any)")
@click.option("--rpm", "requests_per_minute", type=click.IntRange(min=1), default=None,
              help="the key's own requests per minute")
@click.option("--tpm", "tokens_per_minute", type=click.IntRange(min=1), default=None,
              help="the key's own tokens per minute (estimated at admission)")
@click.option("--daily-usd", type=click.FloatRange(min=0, min_open=True), default=None, help="the key's daily budget")
@click.option("--expires-in-days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="the key stops working after this many days (default: until revoked)")
@click.option("--rotate", "rotates", default=None, metavar="OLD_ID",
              help="the new key replaces OLD_ID (same tenant, models and limits unless given); OLD_ID stays valid "
                   "until revoked or --old-expires-in-hours")
@click.option("--old-expires-in-hours", type=click.FloatRange(min=0), default=None,
              help="with --rotate: the overlap window after which the old key stops working")
@click.option("--note", default="", help="what the key is for (shown in keys list)")
def create_cmd(config_path: Path, artifacts: str | None, who: str, tenant: str | None, models: tuple[str, ...],
               requests_per_minute: int | None, tokens_per_minute: int | None, daily_usd: float | None,
               expires_in_days: float | None, rotates: str | None, old_expires_in_hours: float | None,
               note: str) -> None:
    """Create a key: printed ONCE on stdout (the store keeps only its hash)."""
    from launchgate.access.registry import create_key

    def go() -> tuple[Any, str]:
        if old_expires_in_hours is not None and rotates is None:
            raise InputError("--old-expires-in-hours: only with --rotate OLD_ID")
        ctx = _context(config_path, artifacts)
        return create_key(ctx.store, ctx.config, by=who, tenant=tenant, models=list(models),
                          requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                          daily_usd=daily_usd, expires_in_days=expires_in_days, rotates=rotates,
                          old_expires_in_hours=old_expires_in_hours, note=note)

    key, token = run(go)
    click.echo(f"created API key {key.id} for tenant {key.tenant} (models {', '.join(key.models)}); it is shown "
               "once, below: store it now", err=True)
    click.echo(token)


@keys.command("list")
@_config
@_artifacts
@_who
@click.option("--json", "as_json", is_flag=True, default=False, help="print the keys as JSON")
def list_cmd(config_path: Path, artifacts: str | None, who: str, as_json: bool) -> None:
    """List the keys: id, tenant, models, limits, created/rotated, expiry, revoked (never a secret)."""
    from launchgate.access.registry import list_keys

    def go() -> list[dict[str, Any]]:
        ctx = _context(config_path, artifacts)
        return list_keys(ctx.store, ctx.config, by=who)

    rows = run(go)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no API keys")
        return
    click.echo(f"{'id':<13} {'tenant':<16} {'state':<8} {'models':<20} {'created':<20} {'rotated':<20} expires")
    for r in rows:
        click.echo(f"{r['id']:<13} {r['tenant']:<16} {r['state']:<8} {','.join(r['models'])[:20]:<20} "
                   f"{str(r['created_at'])[:19]:<20} {str(r['rotated_at'] or '-')[:19]:<20} "
                   f"{str(r['expires_at'] or '-')[:19]}")


@keys.command("revoke")
@click.argument("key_id")
@_config
@_artifacts
@_who
@click.option("--reason", default="", help="why; goes into the keys log")
def revoke_cmd(key_id: str, config_path: Path, artifacts: str | None, who: str, reason: str) -> None:
    """Revoke KEY_ID: running gateways refuse it within access.poll_s."""
    from launchgate.access.registry import revoke_key

    def go() -> Any:
        ctx = _context(config_path, artifacts)
        return revoke_key(ctx.store, ctx.config, key_id, by=who, reason=reason)

    key = run(go)
    click.echo(json.dumps({"id": key.id, "tenant": key.tenant, "revoked_at": key.revoked_at.isoformat(),
                           "revoked_by": key.revoked_by}))
