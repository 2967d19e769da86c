"""The columnar request log (Parquet partitions, launchgate/requestlog/) as a row source for export and
deletion by subject.

The parts are found the way the log's own reader finds them (``requestlog.view.plan``: each hour's
part through its compaction record), read with pyarrow and turned back into log lines with
``columns.to_record`` (so ``subject_hmac``, kept in the ``extra`` column, is matched like in JSONL).

A rewrite filters the subject's rows out of the part, writes it with the compaction's own
``write_part`` (same encoding, read back and checked: row count and request-id checksum) and then
updates the hour's compaction record (part sha256, rows, request-id checksum, a ``rewrites`` entry),
because readers trust a part only through its record. Then the hour is compacted again
(``compact_hour``): the subject's JSONL lines were rewritten first, so the part is rebuilt from them
with correct ``source_line`` pointers, plus the filtered rows of sources retention already deleted,
and the record names the rewritten sources. The rows stay gone whichever runs next.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from launchgate.errors import StoreError
from launchgate.lifecycle.rows import Predicate, Rewrite, Row, RowSource
from launchgate.requestlog.columns import table_checksum, to_record
from launchgate.requestlog.compaction import compact_hour, read_record, write_part
from launchgate.requestlog.view import plan
from launchgate.store import layout
from launchgate.store.base import ArtifactStore, sha256_bytes
from launchgate.store.bundle import JSON_TYPE


@dataclass
class ParquetSource:
    store: ArtifactStore
    service: str
    kind: str = "request_log"

    def _parts(self) -> dict[str, tuple[str, str]]:
        return {hf.part: (hf.day, hf.hour or "") for hf in plan(self.store, self.service) if hf.part}

    def files(self) -> list[str]:
        return sorted(k for k in self._parts() if self.store.exists(k))

    def _table(self, key: str) -> tuple[bytes, pa.Table]:
        data = self.store.get(key)
        return data, pq.read_table(io.BytesIO(data))

    def rows(self, key: str) -> Iterator[Row]:
        for row in self._table(key)[1].to_pylist():
            yield to_record(row)

    def rewrite(self, key: str, drop: Predicate) -> Rewrite:
        data, table = self._table(key)
        keep = [not drop(to_record(row)) for row in table.to_pylist()]
        before = sha256_bytes(data)
        if all(keep):
            return Rewrite(key, table.num_rows, table.num_rows, before, before)
        new = table.filter(pa.array(keep))
        day, hour = self._parts()[key]
        after = write_part(self.store, key, new)  # read back: rows and request-id checksum (CompactionError)
        record = read_record(self.store, self.service, day, hour)
        if record is not None:
            record = record.model_copy(update={
                "part_sha256": after, "rows": new.num_rows, "request_id_sha256": table_checksum(new),
                "null_ts_rows": new.column("ts").null_count,
                "rewrites": [*record.rewrites, {"at": datetime.now(UTC).isoformat(), "why": "subject_deletion",
                                                "rows_removed": str(table.num_rows - new.num_rows)}]})
            self.store.put(layout.compaction_record(self.service, day, hour),
                           record.model_dump_json(indent=1).encode(), JSON_TYPE, overwrite=True)
            compact_hour(self.store, self.service, day, hour)
        stored = self.store.get(key)
        final = pq.read_table(io.BytesIO(stored))
        if any(drop(to_record(row)) for row in final.to_pylist()):
            raise StoreError(f"rewrite of {self.store.location(key)} not verified: rows of the subject remain")
        return Rewrite(key, table.num_rows, final.num_rows, before, sha256_bytes(stored))


def parquet_sources(store: ArtifactStore, service: str) -> list[RowSource]:
    return [ParquetSource(store, service)]
