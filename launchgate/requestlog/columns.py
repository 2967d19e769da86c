"""The request log as columns: one Arrow schema for the Parquet files, and JSONL -> Arrow with the reader's rules.

Each JSONL line becomes one row, read exactly as ``reader.read_requests`` reads it: a line that is
not a JSON object is a bad line (counted, never a row); an object without a readable ``ts`` is a
bad line too, but kept as a row with a null ``ts`` so ``launchgate audit`` still finds its request
id (no time window ever selects it, so no review sees it); a numeric field
that holds anything but a number is null (``reader.num``); a flag that is not a boolean is null.
So a review over the columns sees the same requests with the same values as one over the lines.

``ts`` is stored as a UTC timestamp without a zone (Athena's and Glue's ``timestamp``); fields outside
the contract are kept as one JSON text column, ``extra``; ``source_key``/``source_line`` point back at
the JSONL line (what ``launchgate audit`` shows). The partition columns ``date``/``hour`` are not in
the files: they are the Hive folder names (store/layout.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from launchgate.requestlog.reader import MAX_EXAMPLES, parse_ts

STRINGS = ("request_id", "service", "release_id", "variant", "model", "prompt_version", "prompt_sha256",
           "error_code", "prompt_redacted", "stable_release_id")
NUMBERS = ("latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd")
INTEGERS = ("status", "retries")
FLAGS = ("schema_ok", "refused")
KNOWN = frozenset(("ts", *STRINGS, *NUMBERS, *INTEGERS, *FLAGS))

SCHEMA = pa.schema(
    [pa.field("ts", pa.timestamp("us"))]
    + [pa.field(n, pa.string()) for n in STRINGS]
    + [pa.field(n, pa.float64()) for n in NUMBERS]
    + [pa.field(n, pa.int64()) for n in INTEGERS]
    + [pa.field(n, pa.bool_()) for n in FLAGS]
    + [pa.field("extra", pa.string()), pa.field("source_key", pa.string()), pa.field("source_line", pa.int32())]
)
# The Glue table (infra/terraform) declares these columns: keep the two in step.
PARTITION_COLUMNS = ("date", "hour")
_I64 = 2**63


@dataclass
class Parsed:
    """One file's (or one hour's) lines as columns, plus the lines that could not be rows."""

    columns: dict[str, list[Any]] = field(default_factory=lambda: {f.name: [] for f in SCHEMA})
    lines: int = 0
    bad_lines: int = 0
    bad_examples: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.columns["ts"])

    def bad(self, where: str, why: str) -> None:
        self.bad_lines += 1
        if len(self.bad_examples) < MAX_EXAMPLES:
            self.bad_examples.append(f"{where}: {why}")

    def table(self) -> pa.Table:
        return pa.Table.from_pydict(self.columns, schema=SCHEMA)


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # NaN, huge numbers, lone surrogates: the stdlib reads what the old reader read
        return json.loads(raw)


def _string(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _number(v: Any) -> float | None:
    t = type(v)
    if t is float or t is int:
        return float(v)
    return None


def _integer(v: Any) -> int | None:
    t = type(v)
    if t is int and -_I64 <= v < _I64:
        return v
    if t is float and v.is_integer() and abs(v) < _I64:
        return int(v)
    return None


def _flag(v: Any) -> bool | None:
    return v if type(v) is bool else None


def parse_jsonl(data: bytes, key: str, out: Parsed | None = None) -> Parsed:
    """Append ``data``'s lines (the object at ``key``) to ``out`` as rows; bad lines are counted."""
    out = out or Parsed()
    cols = out.columns
    name = key.rsplit("/", 1)[-1]
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        out.lines += 1
        try:
            record = _loads(raw)
        except (ValueError, UnicodeDecodeError):
            out.bad(f"{name}:{n}", "not JSON")
            continue
        if not isinstance(record, dict):
            out.bad(f"{name}:{n}", "not a JSON object")
            continue
        at = parse_ts(record.get("ts"))
        if at is None:
            out.bad(f"{name}:{n}", "missing or unreadable ts")
        cols["ts"].append(None if at is None else at.replace(tzinfo=None))
        get = record.get
        for s in STRINGS:
            cols[s].append(_string(get(s)))
        for x in NUMBERS:
            cols[x].append(_number(get(x)))
        for i in INTEGERS:
            cols[i].append(_integer(get(i)))
        for b in FLAGS:
            cols[b].append(_flag(get(b)))
        extra = {k: v for k, v in record.items() if k not in KNOWN}
        cols["extra"].append(json.dumps(extra, ensure_ascii=False, separators=(",", ":")) if extra else None)
        cols["source_key"].append(key)
        cols["source_line"].append(n)
    return out


def request_id_checksum(ids: Iterable[str | None]) -> str:
    """sha256 over the sorted request ids (null as empty): equal iff the same ids, duplicates included."""
    digest = hashlib.sha256()
    for rid in sorted(r or "" for r in ids):
        digest.update(rid.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


def table_checksum(table: pa.Table) -> str:
    return request_id_checksum(table.column("request_id").to_pylist())


def to_record(row: dict[str, Any]) -> dict[str, Any]:
    """A row back to the log line's shape (``ts`` as the gateway writes it, extra fields merged)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k in ("extra", "source_key", "source_line", *PARTITION_COLUMNS):
            continue
        if k == "ts" and isinstance(v, datetime):
            v = v.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"
        if k in ("refused", "stable_release_id") and v is None:
            continue  # not contract fields: a line without them had no such key
        out[k] = v
    if row.get("extra"):
        out.update(json.loads(row["extra"]))
    return out
