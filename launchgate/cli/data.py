"""``launchgate data ...``: export and delete one end user's data, record a raw-prompt override, run
retention and the unsafe-logging scan by hand.

Authorised people only (``data.access.<action>`` or ``owners.compliance``), as with the freeze:
every attempt, granted or refused, goes to ``<service>/state/data_access_log.jsonl``. Exit codes:
0 done, 2 bad input (the field or flag is named), 3 refused (not authorised) or, for ``scan``,
findings, 1 the store or a secrets source failed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from launchgate.cli.exits import EXIT_ERROR, EXIT_REFUSED, run
from launchgate.errors import InputError


def _prefect_secret(name: str) -> str:
    """A Prefect Secret block's value (the core never imports Prefect: the CLI passes this in)."""
    from prefect.blocks.system import Secret

    return str(Secret.load(name).get())


RESOLVERS = {"prefect": _prefect_secret}



def _context(config_path: Path, artifacts: str | None) -> Any:
    from launchgate.config.context import ServiceContext

    return ServiceContext.open(config_path, artifacts=artifacts, check_files=False)


def _subject(value: str) -> str:
    if not value.strip():
        raise InputError("--subject: empty; give the end user's id as the client sends it")
    return value


_config = click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
                       help="the service's release.yaml")
_artifacts = click.option("--artifacts", default=None, help="artifact store URI (default: the config's)")
_who = click.option("--as", "who", required=True, help="your name, as listed under data.access or owners.compliance")


@click.group()
def data() -> None:
    """Export or delete an end user's data, record a raw-prompt override, run retention or the
    unsafe-logging scan (the data policy: release.yaml's data: section, docs/data.md)."""


@data.command("export")
@_config
@_artifacts
@click.option("--subject", required=True, help="the end user's id, as sent in data.subject's header or field")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="where the JSONL goes (written atomically)")
@_who
@click.option("--reason", default="subject access request", show_default=True, help="goes into the access log")
def export_cmd(config_path: Path, artifacts: str | None, subject: str, out: Path, who: str, reason: str) -> None:
    """Every logged request, feedback and queue item of SUBJECT, as JSONL in OUT."""
    from launchgate.lifecycle.subjects import REF_CHARS, export_subject
    from launchgate.privacy.access import authorise, record
    from launchgate.privacy.logpolicy import subject_hmac, subject_key
    from launchgate.store import layout
    from launchgate.store.bundle import JSON_TYPE, to_json_bytes

    def go() -> dict[str, Any]:
        _subject(subject)
        if not out.parent.is_dir():
            raise InputError(f"--out {out}: folder {out.parent} does not exist")
        ctx = _context(config_path, artifacts)
        event = authorise(ctx.store, ctx.config, "export", who, reason)
        digest = subject_hmac(subject_key(ctx.config, RESOLVERS), subject)
        counts = export_subject(ctx.store, ctx.service, digest, out)
        now = datetime.now(UTC)
        receipt = {"action": "export", "service": ctx.service, "at": now.isoformat(), "by": who, "reason": reason,
                   "subject_ref": digest[:REF_CHARS], "rows": counts,
                   "file_sha256": hashlib.sha256(out.read_bytes()).hexdigest()}
        key = layout.data_receipt(ctx.service, now, "export")
        ctx.store.put(key, to_json_bytes(receipt), JSON_TYPE, overwrite=False)
        record(ctx.store, ctx.service, event.model_copy(update={"subject_hmac": digest[:REF_CHARS], "receipt": key}))
        return receipt | {"receipt": ctx.store.location(key), "out": str(out)}

    click.echo(json.dumps(run(go)))


@data.command("delete")
@_config
@_artifacts
@click.option("--subject", required=True, help="the end user's id, as sent in data.subject's header or field")
@_who
@click.option("--reason", required=True, help="why (e.g. the erasure request's reference); goes into the receipt")
def delete_cmd(config_path: Path, artifacts: str | None, subject: str, who: str, reason: str) -> None:
    """Rewrite every log file, queue and bundle artifact without SUBJECT's rows (atomic, verified); write
    an audit receipt without the subject's data."""
    from launchgate.lifecycle.subjects import REF_CHARS, delete_subject
    from launchgate.privacy.access import authorise, record
    from launchgate.privacy.logpolicy import subject_hmac, subject_key

    def go() -> dict[str, Any]:
        _subject(subject)
        ctx = _context(config_path, artifacts)
        event = authorise(ctx.store, ctx.config, "delete", who, reason)
        digest = subject_hmac(subject_key(ctx.config, RESOLVERS), subject)
        key, receipt = delete_subject(ctx.store, ctx.config, digest, by=who, reason=reason)
        record(ctx.store, ctx.service, event.model_copy(update={"subject_hmac": digest[:REF_CHARS], "receipt": key}))
        return {"receipt": ctx.store.location(key), "rows_removed": receipt["rows_removed"],
                "files": len(receipt["files"]), "deferred_open_files": receipt["deferred_open_files"]}

    click.echo(json.dumps(run(go)))


@data.command("allow-raw-prompts")
@_config
@_artifacts
@_who
@click.option("--reason", required=True, help="why raw prompts must be logged in production")
@click.option("--hours", required=True, type=click.FloatRange(min=0.01, max=720), help="how long the override holds")
def allow_raw_prompts(config_path: Path, artifacts: str | None, who: str, reason: str, hours: float) -> None:
    """Record an override letting a production gateway start with data.prompt: raw (audited, expiring)."""
    from launchgate.privacy.logpolicy import record_raw_prompt_override

    def go() -> dict[str, Any]:
        ctx = _context(config_path, artifacts)
        return record_raw_prompt_override(ctx.store, ctx.config, by=who, reason=reason, hours=hours).model_dump(
            mode="json")

    click.echo(json.dumps(run(go)))


@data.command("retention")
@_config
@_artifacts
def retention_cmd(config_path: Path, artifacts: str | None) -> None:
    """Delete what is past its retention now (the scheduled `retention` deployment does this daily)."""
    from launchgate.lifecycle.retention import run_retention

    def go() -> Any:
        ctx = _context(config_path, artifacts)
        return run_retention(ctx.store, ctx.config)

    result = run(go)
    click.echo(result.markdown, err=True)
    click.echo(json.dumps({"summary": result.summary, "evidence": result.evidence}))
    sys.exit(EXIT_ERROR if result.verdicts[0].blocks else 0)


@data.command("scan")
@_config
@_artifacts
@click.option("--notify/--no-notify", default=True, help="alert the compliance and operations owners on findings")
def scan_cmd(config_path: Path, artifacts: str | None, notify: bool) -> None:
    """Scan a sample of the request log, queues and bundles for PII and secrets (exit 3 on findings)."""
    from launchgate.privacy.scan import scan_notices, scan_unsafe_logging

    def go() -> Any:
        ctx = _context(config_path, artifacts)
        result = scan_unsafe_logging(ctx.store, ctx.config)
        if notify:
            for notice in scan_notices(result, ctx.service, ctx.store.location(result.evidence[0])):
                ctx.dispatcher.send(notice)
        return result

    result = run(go)
    click.echo(json.dumps({"summary": result.summary, "evidence": result.evidence}))
    sys.exit(EXIT_REFUSED if result.blocks else 0)
