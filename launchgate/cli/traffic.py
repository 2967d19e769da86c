"""The runbook's guardrail commands: ``launchgate traffic``, ``launchgate handoff`` and ``launchgate gameday``.

    launchgate traffic degrade --config F --level reduced|fallback_only|normal --reason R [--as NAME]
    launchgate traffic disable --config F --reason R [--as NAME]     every caller gets the fallback
    launchgate traffic enable  --config F --reason R [--as NAME]     back to normal
    launchgate handoff list --config F [--days 7] [--all] [--json]
    launchgate handoff ack ID --config F --as NAME [--note TEXT]
    launchgate gameday --config F [--variants variants.yaml]

The traffic commands call the gateway's admin API (``canary.gateway_url``, token from
``canary.gateway_token_env``), which applies the level at once and stores the change with who,
when and why in ``<service>/state/degradation.json``. Exit codes: 0 done, 1 the gateway or the
store failed, 2 bad input (unknown level, missing token, no such handoff item), 3 the gameday failed.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

import click

from launchgate.errors import InputError, LaunchgateError

_config_option = click.option("--config", "config_path", required=True,
                              type=click.Path(dir_okay=False, path_type=Path), help="the service's release.yaml")


def _fail(code: int, message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _who(given: str | None) -> str:
    try:
        return given or getpass.getuser()
    except (KeyError, OSError):
        raise InputError("say who you are with --as NAME (it goes into the audit record)") from None


def _set_level(config_path: Path, level: str, reason: str, who: str | None, gateway: str | None) -> None:
    import os

    from launchgate.config import load_config
    from launchgate.gateway.client import GatewayAdmin

    try:
        cfg = load_config(config_path, check_files=False)
        url = gateway or cfg.canary.gateway_url
        token = os.environ.get(cfg.canary.gateway_token_env, "")
        if not token:
            raise InputError(f"set {cfg.canary.gateway_token_env} to the gateway's admin token "
                             "(canary.gateway_token_env)")
        by = _who(who)
        with GatewayAdmin(url, token) as admin:
            state = admin.set_degradation(level, reason, by)
    except InputError as exc:
        _fail(2, str(exc))
    except LaunchgateError as exc:
        _fail(1, str(exc))
    extra = f" (audit record not stored: {state['audit_error']})" if state.get("audit_error") else ""
    click.echo(f"{cfg.service}: degradation level {state['level']} (effective {state['effective_level']}) set by "
               f"{by}: {reason}{extra}")


@click.group()
def traffic() -> None:
    """Degrade, disable or enable model traffic at the gateway (audited, reversible)."""


_reason = click.option("--reason", required=True, help="why: goes into the audit record")
_as = click.option("--as", "who", default=None, help="who you are (default: your login name)")
_gateway = click.option("--gateway", default=None, help="gateway URL (default: canary.gateway_url)")


@traffic.command("degrade")
@_config_option
@click.option("--level", required=True, type=click.Choice(["normal", "reduced", "fallback_only"]),
              help="reduced: lower max_tokens, drop optional features; fallback_only: no model calls")
@_reason
@_as
@_gateway
def degrade(config_path: Path, level: str, reason: str, who: str | None, gateway: str | None) -> None:
    """Set the gateway's degradation level."""
    _set_level(config_path, level, reason, who, gateway)


@traffic.command("disable")
@_config_option
@_reason
@_as
@_gateway
def disable(config_path: Path, reason: str, who: str | None, gateway: str | None) -> None:
    """Stop model traffic now: every caller gets the fallback answer (level fallback_only)."""
    _set_level(config_path, "fallback_only", reason, who, gateway)


@traffic.command("enable")
@_config_option
@_reason
@_as
@_gateway
def enable(config_path: Path, reason: str, who: str | None, gateway: str | None) -> None:
    """Send traffic to the models again (level normal)."""
    _set_level(config_path, "normal", reason, who, gateway)


@click.group()
def handoff() -> None:
    """Work the handoff queue: requests the gateway handed to a person."""


def _store(config_path: Path) -> tuple[Any, Any]:
    from launchgate.config.context import ServiceContext

    ctx = ServiceContext.open(config_path, check_files=False)
    return ctx.config, ctx.store


@handoff.command("list")
@_config_option
@click.option("--days", default=7, type=click.IntRange(1, 90), help="how many UTC days back")
@click.option("--all", "show_all", is_flag=True, default=False, help="also items already taken")
@click.option("--json", "as_json", is_flag=True, default=False, help="one JSON object per item")
def handoff_list(config_path: Path, days: int, show_all: bool, as_json: bool) -> None:
    """List open handoff items (oldest first)."""
    from launchgate.guardrails.handoff import open_items

    try:
        cfg, store = _store(config_path)
        items = open_items(store, cfg.service, days)
    except InputError as exc:
        _fail(2, str(exc))
    except LaunchgateError as exc:
        _fail(1, str(exc))
    shown = [(i, a) for i, a in items if show_all or a is None]
    for item, taken in shown:
        if as_json:
            click.echo(json.dumps({**item.model_dump(), "taken_by": taken.by if taken else None}))
        else:
            by = f"  taken by {taken.by}" if taken else ""
            click.echo(f"{item.id}  {item.ts}  {item.reason:<24} {item.variant or '-':<9} "
                       f"{(item.prompt_redacted or '')[:60]!r}{by}")
    if not as_json:
        click.echo(f"{sum(1 for _, a in items if a is None)} open of {len(items)} in the last {days} day(s)",
                   err=True)


@handoff.command("ack")
@click.argument("item_id")
@_config_option
@click.option("--as", "who", required=True, help="who takes the item")
@click.option("--note", default="", help="what was done")
def handoff_ack(item_id: str, config_path: Path, who: str, note: str) -> None:
    """Take a handoff item (once: a second taker is told who has it)."""
    from launchgate.guardrails.handoff import ack

    try:
        cfg, store = _store(config_path)
        done = ack(store, cfg.service, item_id, who, note)
    except InputError as exc:
        _fail(2, str(exc))
    except LaunchgateError as exc:
        _fail(1, str(exc))
    click.echo(f"{item_id}: taken by {done.by} at {done.at:%Y-%m-%d %H:%M:%S}Z")


@click.command()
@_config_option
@click.option("--variants", "variants_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="the simulated variants (default: variants.yaml beside the config)")
@click.option("--stable-variant", default="stable", help="variant in the variants file that plays stable")
@click.option("--candidate-variant", default="good-candidate", help="variant that plays the candidate")
def gameday(config_path: Path, variants_path: Path | None, stable_variant: str, candidate_variant: str) -> None:
    """Simulated incident: the candidate's model fails; the runbook's commands bring service back.

    Records time to detect and time to recover in <service>/reviews/gameday/<stamp>.json; exit 3
    when a runbook step did not work.
    """
    from launchgate.config.context import ServiceContext
    from launchgate.guardrails.gameday import run_gameday
    from launchgate.store import layout

    try:
        ctx = ServiceContext.open(config_path, check_files=False)
        variants = variants_path or config_path.parent / "variants.yaml"
        if not variants.is_file():
            raise InputError(f"{variants}: no simulated variants file; pass --variants FILE")
        ticket = json.dumps({"subject": "Refund", "body": "I was charged twice", "customer_tier": "pro"})
        record = run_gameday(ctx.config, variants, store=ctx.store, stable_variant=stable_variant,
                             candidate_variant=candidate_variant, user_text=ticket,
                             say=lambda msg: click.echo(msg, err=True))
        key = layout.gameday_record(ctx.config.service, record.started_at)
        ctx.store.put(key, record.model_dump_json(indent=2).encode(), content_type="application/json")
    except InputError as exc:
        _fail(2, str(exc))
    except LaunchgateError as exc:
        _fail(1, str(exc))
    click.echo(record.reason, err=True)
    click.echo(json.dumps({"ok": record.ok, "time_to_detect_s": record.time_to_detect_s,
                           "time_to_recover_s": record.time_to_recover_s, "record": ctx.store.location(key)}))
    if not record.ok:
        sys.exit(3)
