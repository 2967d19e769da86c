"""Unsafe-logging check: does anything we keep hold PII or secrets the redaction should have caught?

A sample of the newest request-log lines, queue items and bundle rows (``data.scan_sample_lines``
per kind) is run through the redaction's detectors (privacy/redact.py): a string value that
``redact`` would change is a finding. Fields that are hashes by design (``prompt_sha256``,
``subject_hmac``, ids) are skipped, and so are placeholders already in place.

A finding names the store key, the line, the field and the detector (``EMAIL``, ``SECRET``...),
never the matched text: the scan report and the alert it raises must not become the leak. The
notices go to the compliance and operations owners.

``scan_unsafe_logging`` returns a StepResult (the scheduled run and a readiness review both call it;
``unsafe_logging_verdict`` is the readiness review's one-verdict form, writing nothing);
``scan_notices`` turns its findings into the owners' notices.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from launchgate.config import ReleaseConfig
from launchgate.notify.base import Notice
from launchgate.privacy.redact import PLACEHOLDERS, count_placeholders, redact
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSON_TYPE, to_json_bytes
from launchgate.verdicts import Phase, StepResult, Verdict

CHECK = "unsafe_logging"
# Hashes, ids and stamps by design: a long hex string here is not a leaked key.
SKIP_FIELDS = frozenset({"prompt_sha256", "subject_hmac", "request_id", "release_id", "ts", "sha256",
                         "key", "_at", "trace_id", "span_id"})
ROLES = ("compliance", "operations")
# Bundle artifacts built from the golden set and synthetic load: the team's test data (its sample
# tickets hold made-up e-mail addresses), not users' data. Everything else in a bundle is scanned.
TEST_DATA_PARTS = ("/eval/", "/contracts/", "/loadtest/")
MAX_FINDINGS = 200


class Finding(BaseModel):
    kind: str
    key: str
    line: int
    field: str
    detectors: list[str]


def detectors_in(text: str) -> list[str]:
    """Which detectors fire on ``text`` (names like EMAIL, SECRET), without returning what they matched."""
    before = count_placeholders(text)
    after = count_placeholders(redact(text))
    return sorted(p.strip("[]") for p in PLACEHOLDERS if after.get(p, 0) > before.get(p, 0))


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in SKIP_FIELDS:
                yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def scan_lines(kind: str, key: str, data: bytes, budget: int) -> tuple[list[Finding], int]:
    """Findings in one JSONL object (at most ``budget`` lines read, newest last); returns (findings, lines read)."""
    findings, read = [], 0
    for n, raw in enumerate(data.splitlines(), start=1):
        if read >= budget:
            break
        if not raw.strip():
            continue
        read += 1
        try:
            row = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            continue
        for field, text in _strings(row, ""):
            found = detectors_in(text)
            if found:
                findings.append(Finding(kind=kind, key=key, line=n, field=field or "(line)", detectors=found))
    return findings, read


def _newest(store: ArtifactStore, prefix: str, suffixes: tuple[str, ...]) -> list[str]:
    return sorted((k for k in store.list(prefix) if k.endswith(suffixes)), reverse=True)


def sample_sources(store: ArtifactStore, service: str) -> dict[str, list[str]]:
    """Newest first, per kind: the live request log, the queues, the bundles' JSONL artifacts."""
    return {
        "request_log": _newest(store, layout.requests_prefix(service), (".jsonl",)),
        "handoff": _newest(store, layout.handoff_prefix(service), (".jsonl",)),
        "quality": _newest(store, layout.quality_prefix(service), (".jsonl",)),
        "bundles": [k for k in _newest(store, layout.releases_prefix(service), (".jsonl",))
                    if not any(part in k for part in TEST_DATA_PARTS)],
    }


def scan_unsafe_logging(store: ArtifactStore, config: ReleaseConfig, *, now: datetime | None = None,
                        sources: dict[str, Iterable[str]] | None = None, write: bool = True) -> StepResult:
    """Scan a sample of each kind, write the report (findings without matched text; ``write=False``: a
    readiness review that only reads), return the verdict."""
    now = now or datetime.now(UTC)
    budget = config.data.scan_sample_lines
    findings: list[Finding] = []
    lines: dict[str, int] = {}
    for kind, keys in (sources or sample_sources(store, config.service)).items():
        left = budget
        for key in keys:
            if left <= 0:
                break
            found, read = scan_lines(kind, key, store.get(key), left)
            findings += found
            left -= read
        lines[kind] = budget - left
    key = layout.unsafe_logging_scan(config.service, now)
    report = {"service": config.service, "at": now.isoformat(), "lines_scanned": lines,
              "findings": [f.model_dump() for f in findings[:MAX_FINDINGS]], "findings_total": len(findings)}
    if write:
        store.put(key, to_json_bytes(report), JSON_TYPE, overwrite=False)
    total = sum(lines.values())
    if findings:
        first = findings[0]
        reason = (f"{len(findings)} value(s) in {len({f.key for f in findings})} stored object(s) hold what the "
                  f"redaction detectors flag, e.g. {first.key} line {first.line} field {first.field} "
                  f"({', '.join(first.detectors)}). Find what logs them unredacted, fix it, then delete the rows.")
        verdict = Verdict(check=CHECK, phase=Phase.FAILED, value=len(findings), threshold=0, reason=reason,
                          evidence=key)
    elif total == 0:
        verdict = Verdict(check=CHECK, phase=Phase.INCONCLUSIVE, value=0, threshold=0, evidence=key,
                          reason=f"Nothing logged yet for {config.service}: no line to scan.")
    else:
        verdict = Verdict(check=CHECK, phase=Phase.SUCCESSFUL, value=0, threshold=0, evidence=key,
                          reason=f"No PII or secret found in {total} sampled lines of {config.service}'s logs, "
                                 "queues and bundles.")
    table = [f.model_dump() | {"detectors": ", ".join(f.detectors)} for f in findings[:50]]
    return StepResult(step=CHECK, verdicts=[verdict], evidence=[key], summary=verdict.reason,
                      markdown=f"# Unsafe-logging scan of {config.service}\n\n{verdict.reason}\n",
                      tables={"findings": table} if table else {})


def scan_notices(result: StepResult, service: str, link: str | None = None) -> list[Notice]:
    """The owners' alert for a failed scan: keys and detectors only (the verdict's reason holds no matched text)."""
    verdict = result.verdicts[0]
    if verdict.phase is not Phase.FAILED:
        return []
    return [Notice(event=CHECK, role=role, service=service, status="alarm",
                   title=f"Unsafe logging in {service}: {verdict.value} finding(s)", text=verdict.reason,
                   link=link, link_label="Open scan report", fields={"findings": str(verdict.value)})
            for role in ROLES]


def unsafe_logging_verdict(store: ArtifactStore, config: ReleaseConfig) -> Verdict:
    """The scan's verdict without writing a report: for a readiness review judging the live store."""
    return scan_unsafe_logging(store, config, write=False).verdicts[0]
