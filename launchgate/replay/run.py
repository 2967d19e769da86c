"""``launchgate replay``: re-send logged (redacted) requests and compare the versions' answers per field.

The request log keeps each request's redacted user text (``prompt_redacted``), never the raw
prompt: replay re-sends that text, with each version's own system prompt, to the version named
by ``--against`` and to the other one (stable and candidate of the service's release.yaml), and
reports, per structured field, how often the two answers differ, plus each side's status and
schema validity. ``--filter`` picks which logged requests: ``errors`` (status not 200),
``schema_fail`` (schema_ok false), ``bad_feedback`` (thumbs down or a score of 1-2 in
``POST /v1/feedback``), or all.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from launchgate.config import ReleaseConfig, Variant
from launchgate.config.files import read_json
from launchgate.errors import InputError, LaunchgateError
from launchgate.eval.golden import load_prompt
from launchgate.eval.modelclient import ModelClient, RetryPolicy
from launchgate.eval.scoring import DEFAULT_RULE, field_matches, make_validator
from launchgate.quality.feedback import is_bad_feedback
from launchgate.requestlog.reader import read_requests
from launchgate.store import ArtifactStore, layout

Filter = Literal["all", "errors", "schema_fail", "bad_feedback"]
MAX_REQUESTS = 2000


def parse_range(text: str) -> tuple[datetime, datetime]:
    """``DATE`` or ``DATE..DATE`` (UTC days, inclusive) -> [start, end)."""
    first, _, last = text.partition("..")
    try:
        start = datetime.strptime(first.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
        end = datetime.strptime((last or first).strip(), "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
    except ValueError:
        raise InputError(f"--from-log {text!r}: give a UTC day or a range, e.g. 2026-11-30 or "
                         f"2026-11-24..2026-11-30") from None
    if end <= start:
        raise InputError(f"--from-log {text!r}: the range ends before it starts")
    if end - start > timedelta(days=31):
        raise InputError(f"--from-log {text!r}: at most 31 days at once")
    return start, end


def _bad_feedback(store: ArtifactStore, service: str, start: datetime, end: datetime) -> set[str]:
    ids: set[str] = set()
    day = start
    while day < end:
        for key in store.list(layout.feedback_day(service, day.strftime("%Y-%m-%d"))):
            for line in store.get(key).decode("utf-8", "replace").splitlines():
                try:
                    f = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(f, dict) and is_bad_feedback(f):
                    ids.add(f.get("request_id"))
        day += timedelta(days=1)
    return ids


def select(store: ArtifactStore, service: str, start: datetime, end: datetime, which: Filter
           ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The logged requests to replay (with text to send), and the log read's quality counts."""
    read = read_requests(store, service, start, end)
    rows = [r for r in read.records if r.get("prompt_redacted")]
    if which == "errors":
        rows = [r for r in rows if r.get("status") != 200 or r.get("error_code")]
    elif which == "schema_fail":
        rows = [r for r in rows if r.get("schema_ok") is False]
    elif which == "bad_feedback":
        bad = _bad_feedback(store, service, start, end)
        rows = [r for r in rows if r.get("request_id") in bad]
    return rows[:MAX_REQUESTS], read.quality()


async def _ask(client: ModelClient, prompt: str | None, text: str, max_tokens: int) -> dict[str, Any]:
    messages = ([{"role": "system", "content": prompt}] if prompt else []) + [{"role": "user", "content": text}]
    try:
        done = await client.chat(messages, max_tokens=max_tokens)
    except LaunchgateError as exc:
        return {"status": getattr(exc, "status", None) or 0, "error": type(exc).__name__, "content": None}
    return {"status": 200, "content": done.content, "latency_ms": round(done.latency_ms, 1),
            "output_tokens": done.output_tokens}


def _side(answer: dict[str, Any], validator: Any) -> dict[str, Any]:
    parsed = None
    if answer.get("content") is not None:
        try:
            parsed = json.loads(answer["content"])
        except json.JSONDecodeError:
            parsed = None
    ok = parsed is not None and not any(True for _ in validator.iter_errors(parsed))
    return {**{k: v for k, v in answer.items() if k != "content"}, "schema_ok": ok if answer["status"] == 200 else None,
            "parsed": parsed if isinstance(parsed, dict) else None}


async def _replay(cfg: ReleaseConfig, rows: Sequence[dict[str, Any]], against: str,
                  on_progress: Callable[[int, int], None] | None) -> list[dict[str, Any]]:
    other = "stable" if against == "candidate" else "candidate"
    variants: dict[str, Variant] = {"stable": cfg.stable, "candidate": cfg.candidate}
    prompts = {name: load_prompt(v.prompt.file) for name, v in variants.items()}
    validator = make_validator(read_json(cfg.contracts.output_schema, "output schema"),
                               str(cfg.contracts.output_schema))
    max_tokens = cfg.contracts.max_output_tokens
    out: list[dict[str, Any]] = []
    sem = asyncio.Semaphore(8)
    clients = {name: ModelClient(v.endpoint, v.model, timeout_s=v.timeout_s, retry=RetryPolicy(max_retries=1),
                                 api_key_env=v.api_key_env) for name, v in variants.items()}
    async with clients[against] as a, clients[other] as b:
        async def one(row: dict[str, Any]) -> None:
            async with sem:
                got_a, got_b = await asyncio.gather(_ask(a, prompts[against], row["prompt_redacted"], max_tokens),
                                                    _ask(b, prompts[other], row["prompt_redacted"], max_tokens))
            out.append({"request_id": row.get("request_id"), "logged": {k: row.get(k) for k in (
                "ts", "variant", "release_id", "status", "error_code", "schema_ok")},
                against: _side(got_a, validator), other: _side(got_b, validator)})
            if on_progress is not None:
                on_progress(len(out), len(rows))

        await asyncio.gather(*(one(r) for r in rows))
    return sorted(out, key=lambda r: r["logged"]["ts"] or "")


def deltas(results: Sequence[dict[str, Any]], against: str, fields: Sequence[str]) -> dict[str, Any]:
    other = "stable" if against == "candidate" else "candidate"
    differ: Counter[str] = Counter()
    both = 0
    for r in results:
        a, b = r[against].get("parsed"), r[other].get("parsed")
        if a is None or b is None:
            continue
        both += 1
        for f in fields:
            if not field_matches(DEFAULT_RULE, a.get(f), b.get(f)):
                differ[f] += 1
    ok = {name: sum(1 for r in results if r[name]["status"] == 200) for name in (against, other)}
    valid = {name: sum(1 for r in results if r[name]["schema_ok"]) for name in (against, other)}
    return {"requests": len(results), "compared": both, "fields": {f: differ[f] for f in fields},
            "field_delta_rate": {f: round(differ[f] / both, 4) if both else None for f in fields},
            "served": ok, "schema_valid": valid}


def replay(cfg: ReleaseConfig, store: ArtifactStore, span: str, which: Filter, against: str,
           fields: Sequence[str], on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    if against not in ("candidate", "stable"):
        raise InputError(f"--against must be candidate or stable, got {against!r}")
    start, end = parse_range(span)
    rows, quality = select(store, cfg.service, start, end, which)
    results = asyncio.run(_replay(cfg, rows, against, on_progress)) if rows else []
    return {"service": cfg.service, "from_log": span, "filter": which, "against": against,
            "log": quality, "summary": deltas(results, against, fields), "results": results}
