"""The gateway's request log: one JSON line per request, kept in the artifact store.

Keys follow the shared layout ``<service>/logs/requests/<yyyy-mm-dd>/<hh>-<writer>.jsonl`` (UTC),
so the drift review, the cost review, the budget guard and ``launchgate audit`` can read every
gateway process's lines by listing one day's folder.

Lines are buffered in memory and flushed every ``log_flush_s`` and on shutdown, from a worker
thread so a slow store never stalls the proxy. Nothing is lost silently:

* a failed flush keeps its lines and retries at the next flush (``flush_failures`` counts them);
* only when the buffer exceeds its bound (the store has been down for a long time) are the
  oldest lines dropped, counted in ``lines_dropped`` and reported on the log.

Stores differ in how a file grows. A local store appends to the file. An object store cannot
append, so the writer keeps the current object's bytes and re-puts it whole at each flush,
rolling over to ``<hh>-<writer>-<n>.jsonl`` when the object reaches ``max_object_bytes``; that
bounds both memory and the bytes re-sent per flush.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launchgate.errors import LaunchgateError
from launchgate.gateway import jsoncodec
from launchgate.privacy import logpolicy
from launchgate.store import ArtifactStore, LocalStore, layout

log = logging.getLogger("launchgate.gateway.requestlog")

# The shared contract (DESIGN.md): readers rely on every one of these keys being present.
FIELDS = (
    "ts", "request_id", "service", "release_id", "variant", "model", "prompt_version", "prompt_sha256",
    "status", "error_code", "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd",
    "schema_ok", "retries", "prompt_redacted",
    # the guardrails' fields (null without guardrails): tenant, ["control:outcome", ...], the fallback's
    # reason, the handoff item, and the status the caller got when the fallback replaced a failure
    "tenant", "guard", "fallback", "handoff_id", "client_status",
    # the client API key's public id when /v1 needs keys (gateway/clientauth.py), never the key
    "key_id",
)
JSONL_TYPE = "application/x-ndjson"
_ENCODE_ASCII = json.JSONEncoder(separators=(",", ":")).encode


def _line(record: dict[str, Any]) -> bytes:
    data = {k: record.get(k) for k in FIELDS}
    try:
        return jsoncodec.dumps(data) + b"\n"
    except UnicodeEncodeError:  # a lone surrogate (valid in JSON, not in UTF-8): escape it, keep the line
        return (_ENCODE_ASCII(data) + "\n").encode("ascii")


# strftime per line is costly: cache the text of the current second and hour. Each cache is one
# tuple read and replaced whole, so gateways in several threads (tests) never see a torn pair.
_second_cache: tuple[int, str] = (-1, "")
_hour_cache: tuple[int, str] = (-1, "")


def iso_ts(unix: float) -> str:
    """``2026-11-05T12:34:56.789Z`` (UTC, milliseconds)."""
    global _second_cache
    sec = int(unix)
    cached = _second_cache
    if cached[0] != sec:
        cached = _second_cache = (sec, datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{cached[1]}.{int((unix - sec) * 1000):03d}Z"


def hour_of(unix: float) -> str:
    """``YYYY-MM-DD/HH`` (UTC): the folder and file prefix of the line's log object."""
    global _hour_cache
    hour = int(unix // 3600)
    cached = _hour_cache
    if cached[0] != hour:
        cached = _hour_cache = (hour, datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%d/%H"))
    return cached[1]


class RequestLogWriter:
    def __init__(
        self, store: ArtifactStore, service: str, writer: str, *,
        max_buffered_lines: int = 1_000_000, max_object_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.store = store
        self.service = service
        self.writer = writer
        self.max_buffered_lines = max_buffered_lines
        self.max_object_bytes = max_object_bytes
        self._pending: deque[tuple[str, bytes]] = deque()  # (hour prefix, line)
        self._lock = threading.Lock()  # append (event loop) vs flush (worker thread)
        self._flush_lock = threading.Lock()  # one flush at a time (periodic vs shutdown)
        self._objects: dict[str, tuple[str, bytearray]] = {}  # hour prefix -> (key, bytes so far)
        self._parts: dict[str, int] = {}
        self.lines_written = 0
        self.flush_failures = 0
        self.lines_dropped = 0
        self.last_error: str | None = None

    # ------------------------------------------------------------------------------ writing

    def append(self, record: dict[str, Any], unix_ts: float) -> None:
        """Queue one request's line; ``record`` must hold every contract field."""
        self.extend([(record, unix_ts)])

    def extend(self, records: list[tuple[dict[str, Any], float]]) -> None:
        """Queue a batch of lines (one lock round trip); each record must hold every contract field."""
        line = logpolicy.encoder(self.service, _line)  # the data policy's filter, when one is installed
        lines = [(hour_of(unix_ts), line(record)) for record, unix_ts in records]
        with self._lock:
            self._pending.extend(lines)
            over = len(self._pending) - self.max_buffered_lines
            if over > 0:
                for _ in range(over):
                    self._pending.popleft()
                self.lines_dropped += over

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Write every queued line to the store; returns how many were written. Never raises."""
        with self._flush_lock:
            with self._lock:
                batch = list(self._pending)
                self._pending.clear()
            if not batch:
                return 0
            by_hour: dict[str, list[bytes]] = {}
            for hour, line in batch:
                by_hour.setdefault(hour, []).append(line)
            written = 0
            try:
                for hour, lines in by_hour.items():
                    self._write(hour, b"".join(lines))
                    written += len(lines)
            except (LaunchgateError, OSError) as exc:
                self.flush_failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("request log flush failed (%d lines kept for retry): %s",
                            len(batch) - written, self.last_error)
                with self._lock:
                    # Put the unwritten lines back in front, oldest first, so order is kept.
                    self._pending.extendleft(reversed(batch[written:]))
                    over = len(self._pending) - self.max_buffered_lines
                    for _ in range(max(0, over)):
                        self._pending.popleft()
                    if over > 0:
                        self.lines_dropped += over
                        log.error("request log buffer full: dropped the %d oldest lines", over)
            self.lines_written += written
            return written

    def key_for(self, hour: str, part: int = 0) -> str:
        day, hh = hour.split("/")
        suffix = f"-{part}" if part else ""
        return layout.request_log(self.service, day, hh, self.writer, suffix)

    def _write(self, hour: str, data: bytes) -> None:
        if isinstance(self.store, LocalStore):
            path = Path(self.store.location(self.key_for(hour)))
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as fh:
                fh.write(data)
            return
        key, body = self._objects.get(hour) or (self.key_for(hour, self._parts.get(hour, 0)), bytearray())
        if body and len(body) + len(data) > self.max_object_bytes:
            part = self._parts.get(hour, 0) + 1
            self._parts[hour] = part
            key, body = self.key_for(hour, part), bytearray()
        candidate = body + data
        self.store.put(key, bytes(candidate), JSONL_TYPE, overwrite=True)
        self._objects[hour] = (key, candidate)
        # Hours that are over no longer grow: forget their bytes (keep the newest two for late lines).
        for old in sorted(self._objects)[:-2]:
            del self._objects[old]
