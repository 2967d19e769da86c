"""SpoolingStore's rules, against an in-memory store that can be switched off (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launchgate.errors import ArtifactExistsError, StoreError
from launchgate.store import ReleaseBundle, SpoolingStore, StoredArtifact, StoreUnavailable, sha256_bytes
from launchgate.store.spool import spooled_uris


class FlakyStore:
    """Dict-backed ArtifactStore; ``down`` makes every call raise StoreUnavailable."""

    uri = "s3://fake-bucket/p"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.down = False
        self.fatal: str | None = None
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.fatal:
            raise StoreError(self.fatal)
        if self.down:
            raise StoreUnavailable("S3 write failed: cannot reach the endpoint")

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream", *,
            overwrite: bool = True) -> StoredArtifact:
        self._check()
        if not overwrite and key in self.objects:
            raise ArtifactExistsError(key)
        self.objects[key] = data
        return StoredArtifact(key=key, uri=self.location(key), sha256=sha256_bytes(data), size=len(data),
                              content_type=content_type)

    def get(self, key: str) -> bytes:
        self._check()
        if key not in self.objects:
            raise StoreError(f"no artifact {key}")
        return self.objects[key]

    def exists(self, key: str) -> bool:
        self._check()
        return key in self.objects

    def list(self, prefix: str) -> list[str]:
        self._check()
        return sorted(k for k in self.objects if k.startswith(prefix))

    def location(self, key: str) -> str:
        return f"{self.uri}/{key}"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def inner() -> FlakyStore:
    return FlakyStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(inner: FlakyStore, tmp_path: Path, clock: Clock) -> SpoolingStore:
    return SpoolingStore(inner, tmp_path / "spool", retry_s=30.0, clock=clock)


def test_healthy_store_passes_through_and_creates_no_spool(store: SpoolingStore, inner: FlakyStore,
                                                           tmp_path: Path) -> None:
    art = store.put("a/b.json", b"{}")
    assert art.state == "persisted" and inner.objects == {"a/b.json": b"{}"}
    assert store.flush().complete and store.pending() == []
    assert not (tmp_path / "spool").exists()


def test_outage_spools_and_backs_off_then_flushes_in_order(store: SpoolingStore, inner: FlakyStore,
                                                           clock: Clock) -> None:
    inner.down = True
    first = store.put("r/1", b"one")
    calls_after_first = inner.calls
    second = store.put("r/2", b"two")
    assert first.state == second.state == "spooled"
    assert inner.calls == calls_after_first  # within retry_s: straight to the spool, no new attempt
    assert store.pending("r/") == ["r/1", "r/2"] and store.get("r/2") == b"two" and store.exists("r/1")

    inner.down = False
    store.put("r/3", b"three")  # still backing off: spooled even though S3 is back
    assert store.pending() == ["r/1", "r/2", "r/3"]
    clock.now += 31
    order: list[str] = []
    original = inner.put

    def recording_put(key: str, data: bytes, *args: object, **kwargs: object) -> StoredArtifact:
        order.append(key)
        return original(key, data, *args, **kwargs)  # type: ignore[arg-type]

    inner.put = recording_put  # type: ignore[method-assign]
    assert store.put("r/4", b"four").state == "persisted"  # flushes the spool first, oldest first
    assert order == ["r/1", "r/2", "r/3", "r/4"] and store.pending() == []
    assert inner.objects == {"r/1": b"one", "r/2": b"two", "r/3": b"three", "r/4": b"four"}


def test_overwrites_keep_only_the_newest_version(store: SpoolingStore, inner: FlakyStore, clock: Clock) -> None:
    inner.down = True
    for n in range(3):
        store.put("svc/state/last_known_good.json", f"v{n}".encode())
    assert len(store.spool.entries()) == 1 and store.get("svc/state/last_known_good.json") == b"v2"
    inner.down = False
    clock.now += 31
    assert store.flush().flushed == ["svc/state/last_known_good.json"]
    assert inner.objects["svc/state/last_known_good.json"] == b"v2"


def test_write_once_holds_for_spooled_keys(store: SpoolingStore, inner: FlakyStore) -> None:
    inner.down = True
    store.put("r/manifest.json", b"m", overwrite=False)
    with pytest.raises(ArtifactExistsError, match="already spooled"):
        store.put("r/manifest.json", b"other", overwrite=False)


def test_lost_response_is_not_a_conflict(store: SpoolingStore, inner: FlakyStore, clock: Clock) -> None:
    # The first attempt reached S3 but its answer did not come back: the key holds our bytes.
    inner.down = True
    store.put("r/decision.json", b"go", overwrite=False)
    inner.down = False
    inner.objects["r/decision.json"] = b"go"
    clock.now += 31
    report = store.flush()
    assert report.flushed == ["r/decision.json"] and report.conflicts == []


def test_conflict_and_permanent_errors_stay_pending(store: SpoolingStore, inner: FlakyStore, clock: Clock) -> None:
    inner.down = True
    store.put("r/decision.json", b"go", overwrite=False)
    inner.down = False
    inner.objects["r/decision.json"] = b"someone else"
    clock.now += 31
    report = store.flush()
    assert report.conflicts == ["r/decision.json"] and report.pending == ["r/decision.json"]
    assert store.spool.entries()[0].conflict and store.get("r/decision.json") == b"go"

    inner.fatal = "access denied"
    report = store.flush()
    assert report.errors == {"r/decision.json": "access denied"} and store.pending() == ["r/decision.json"]
    with pytest.raises(StoreError, match="access denied"):  # never spooled: a person must fix it
        store.put("r/other.json", b"x")


def test_damaged_spool_file_is_reported_not_uploaded(store: SpoolingStore, inner: FlakyStore, clock: Clock) -> None:
    inner.down = True
    store.put("r/a.json", b"original")
    entry = store.spool.entries()[0]
    (store.spool.entries_dir / f"{entry.id}.bin").write_bytes(b"bitrot!!")
    inner.down = False
    clock.now += 31
    report = store.flush()
    assert "damaged" in report.errors["r/a.json"] and "r/a.json" not in inner.objects


def test_spooled_uris_names_each_namespace(store: SpoolingStore, inner: FlakyStore, tmp_path: Path) -> None:
    inner.down = True
    store.put("k", b"v")
    assert spooled_uris(tmp_path / "spool") == ["s3://fake-bucket/p"]


def test_index_records_states_and_a_partial_listing(store: SpoolingStore, inner: FlakyStore) -> None:
    bundle = ReleaseBundle(store, "svc", "svc-20261122T000000Z-0123abcd")
    bundle.put_json("manifest.json", {"n": 1})
    inner.down = True
    bundle.put_json("eval/report.json", {"score": 0.9})
    index_art = bundle.write_index()
    assert index_art.state == "spooled"
    index = json.loads(store.get(index_art.key))
    assert index["listing"] == "partial" and index["pending"] == ["eval/report.json"]
    assert {a["name"]: a["state"] for a in index["artifacts"]} == {
        "manifest.json": "persisted", "eval/report.json": "spooled"}
    assert bundle.pending == ["eval/report.json", "index.json"]
