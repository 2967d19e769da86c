"""The columnar request log (Parquet partitions) as row sources for export and deletion by subject.

Empty until the service's log has Parquet partitions: then one source per partition file, read and
rewritten behind the same interface as the JSONL files (lifecycle/rows.py).
"""

from __future__ import annotations

from launchgate.lifecycle.rows import RowSource
from launchgate.store.base import ArtifactStore


def parquet_sources(store: ArtifactStore, service: str) -> list[RowSource]:
    return []
