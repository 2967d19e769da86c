"""The one JSONL reader of stored objects: a torn or foreign line is skipped, the rest is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from launchgate.errors import StoreError
from launchgate.store import LocalStore
from launchgate.store.jsonio import read_jsonl


def test_read_jsonl_skips_a_torn_last_line_and_non_objects(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("svc/q.jsonl", b'{"id": "a"}\n\n[1, 2]\n{"id": "b"}\n{"id": "c", "tr', "application/jsonl")
    assert read_jsonl(store, "svc/q.jsonl") == [{"id": "a"}, {"id": "b"}]


def test_read_jsonl_of_a_missing_key_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        read_jsonl(LocalStore(tmp_path), "svc/none.jsonl")
