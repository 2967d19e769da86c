from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from launchgate.errors import ArtifactExistsError, InputError, StoreConflict, StoreError
from launchgate.store import LocalStore, ReleaseBundle, open_store, sha256_bytes
from launchgate.store.base import ArtifactStore


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def test_put_get_roundtrip_uses_bucket_layout(store: LocalStore) -> None:
    stored = store.put("svc/releases/r1/manifest.json", b'{"a": 1}', "application/json")
    path = store.root / "svc" / "releases" / "r1" / "manifest.json"
    assert path.read_bytes() == b'{"a": 1}'
    assert store.get("svc/releases/r1/manifest.json") == b'{"a": 1}'
    assert stored.sha256 == sha256_bytes(b'{"a": 1}')
    assert stored.size == 8
    assert stored.content_type == "application/json"
    assert stored.uri == str(path) == store.location("svc/releases/r1/manifest.json")
    assert isinstance(store, ArtifactStore)


def test_overwrite_default_replaces(store: LocalStore) -> None:
    store.put("k", b"one")
    store.put("k", b"two")
    assert store.get("k") == b"two"


def test_overwrite_false_refuses_and_keeps_original(store: LocalStore) -> None:
    store.put("svc/x.json", b"first", overwrite=False)
    with pytest.raises(ArtifactExistsError, match="svc/x.json"):
        store.put("svc/x.json", b"second", overwrite=False)
    assert store.get("svc/x.json") == b"first"
    # no temp files left behind by the refused write
    assert [p.name for p in (store.root / "svc").iterdir()] == ["x.json"]


def test_concurrent_exclusive_writers_exactly_one_wins(store: LocalStore) -> None:
    results: list[str] = []
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        barrier.wait()
        try:
            store.put("race/key", f"writer {i}".encode(), overwrite=False)
            results.append(f"won {i}")
        except ArtifactExistsError:
            results.append("lost")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1
    assert store.get("race/key") == f"writer {winners[0].split()[1]}".encode()


def _increment(current: bytes | None) -> bytes:
    count = json.loads(current)["n"] if current is not None else 0
    return json.dumps({"n": count + 1}).encode()


def test_update_creates_then_changes_and_hides_its_lock(store: LocalStore) -> None:
    assert store.update("svc/state/counter.json", _increment) == b'{"n": 1}'
    assert store.update("svc/state/counter.json", _increment) == b'{"n": 2}'
    assert store.get("svc/state/counter.json") == b'{"n": 2}'
    assert store.list("svc/") == ["svc/state/counter.json"]  # no lock or temp file listed
    assert any(p.name.startswith(".lg-lock-") for p in (store.root / "svc" / "state").iterdir())


def test_update_that_changes_nothing_writes_nothing(store: LocalStore) -> None:
    store.update("k.json", lambda _current: b"same")
    path = store.root / "k.json"
    before = path.stat().st_ino
    assert store.update("k.json", lambda current: current or b"") == b"same"
    assert path.stat().st_ino == before  # os.replace would have brought a new inode


def test_update_from_many_threads_loses_nothing(store: LocalStore) -> None:
    barrier = threading.Barrier(8)

    def writer() -> None:
        barrier.wait()
        for _ in range(25):
            store.update("svc/state/counter.json", _increment)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert json.loads(store.get("svc/state/counter.json")) == {"n": 200}


def test_update_waits_for_the_lock_then_gives_up_with_store_conflict(tmp_path: Path) -> None:
    holder, impatient = LocalStore(tmp_path), LocalStore(tmp_path, lock_timeout_s=0.2)
    holding, release = threading.Event(), threading.Event()

    def slow_change(current: bytes | None) -> bytes:
        holding.set()
        release.wait(5)
        return b"slow writer"

    thread = threading.Thread(target=holder.update, args=("state.json", slow_change))
    thread.start()
    try:
        assert holding.wait(5)
        with pytest.raises(StoreConflict, match="state.json"):
            impatient.update("state.json", lambda _current: b"impatient writer")
    finally:
        release.set()
        thread.join()
    assert holder.get("state.json") == b"slow writer"
    assert impatient.update("state.json", lambda current: (current or b"") + b"!") == b"slow writer!"


def test_update_whose_change_raises_writes_nothing_and_frees_the_lock(store: LocalStore) -> None:
    store.put("state.json", b"kept")

    def broken(current: bytes | None) -> bytes:
        raise StoreError("not a valid state file")

    with pytest.raises(StoreError, match="not a valid state file"):
        store.update("state.json", broken)
    assert store.get("state.json") == b"kept"
    assert LocalStore(store.root, lock_timeout_s=0.5).update("state.json", lambda _c: b"next") == b"next"


def test_get_missing_names_the_key(store: LocalStore) -> None:
    with pytest.raises(StoreError, match="svc/nope.json"):
        store.get("svc/nope.json")


def test_exists(store: LocalStore) -> None:
    assert not store.exists("a/b")
    store.put("a/b", b"x")
    assert store.exists("a/b")
    assert not store.exists("a")  # a folder is not an artifact


def test_list_is_sorted_prefix_match_like_s3(store: LocalStore) -> None:
    for key in ["svc/releases/r2/b", "svc/releases/r1/a", "svc/releases/r10/z", "svc/state/lkg.json", "top"]:
        store.put(key, b".")
    assert store.list("svc/releases/r1") == ["svc/releases/r1/a", "svc/releases/r10/z"]
    assert store.list("svc/releases/r1/") == ["svc/releases/r1/a"]
    assert store.list("") == sorted(
        ["svc/releases/r2/b", "svc/releases/r1/a", "svc/releases/r10/z", "svc/state/lkg.json", "top"]
    )
    assert store.list("missing/") == []


@pytest.mark.parametrize("key", ["", "/abs", "../escape", "a/../../b", "a//b", "a\\b", "./a"])
def test_unsafe_keys_rejected(store: LocalStore, key: str) -> None:
    with pytest.raises(StoreError):
        store.put(key, b"x")
    assert not (store.root.parent / "escape").exists()


def test_open_store_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rel = open_store("rel/store")
    assert isinstance(rel, LocalStore) and rel.root == tmp_path / "rel" / "store"
    absolute = open_store(f"file://{tmp_path}/abs")
    assert isinstance(absolute, LocalStore) and absolute.root == tmp_path / "abs"
    assert absolute.uri == (tmp_path / "abs").as_uri()


@pytest.mark.parametrize("uri", ["gs://bucket/x", "http://example.com/x", "", "s3:///nobucket"])
def test_open_store_rejects_unsupported(uri: str) -> None:
    with pytest.raises(InputError) as info:
        open_store(uri)
    if uri:
        assert uri in str(info.value)


def test_bundle_writes_under_release_and_indexes_sha256(store: LocalStore) -> None:
    from datetime import UTC, datetime

    from launchgate.notify.base import Notice

    bundle = ReleaseBundle(store, "svc", "svc-20261122T000000Z-abcdef12")
    manifest = bundle.put_json("manifest.json", {"when": datetime(2026, 1, 1, tzinfo=UTC), "b": 1, "a": 2})
    review = bundle.put_text("review.md", "# review\n", "text/markdown")
    model = bundle.put_json(
        "eval/notice.json", Notice(event="e", role="oncall", service="svc", title="t", text="x")
    )
    raw = bundle.put_bytes("load/raw.bin", b"\x00\x01")
    assert manifest.key == "svc/releases/svc-20261122T000000Z-abcdef12/manifest.json"
    assert bundle.artifacts == [manifest, review, model, raw]

    text = store.get(manifest.key).decode()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert json.loads(text)["when"].startswith("2026-01-01T00:00:00")
    assert json.loads(store.get(model.key))["role"] == "oncall"

    with pytest.raises(ArtifactExistsError):
        bundle.put_text("review.md", "changed")

    index_art = bundle.write_index()
    index = json.loads(store.get(index_art.key))
    assert index["release_id"] == "svc-20261122T000000Z-abcdef12"
    assert index["service"] == "svc"
    assert "created_at" in index
    names = [a["name"] for a in index["artifacts"]]
    assert names == sorted(["manifest.json", "review.md", "eval/notice.json", "load/raw.bin"])
    for entry in index["artifacts"]:
        assert entry["sha256"] == sha256_bytes(store.get(entry["key"]))
        assert entry["size"] == len(store.get(entry["key"]))
    assert {a["name"]: a["content_type"] for a in index["artifacts"]}["review.md"] == "text/markdown"

    with pytest.raises(ArtifactExistsError):
        bundle.write_index()


def test_bundle_index_includes_artifacts_written_by_other_bundle_objects(store: LocalStore) -> None:
    ReleaseBundle(store, "svc", "r1").put_json("eval/result.json", {"score": 0.9})
    ReleaseBundle(store, "svc", "r2").put_json("other.json", {})  # another release: not indexed
    finalizer = ReleaseBundle(store, "svc", "r1")
    finalizer.put_text("review.md", "ok")
    index = json.loads(store.get(finalizer.write_index().key))
    assert [a["name"] for a in index["artifacts"]] == ["eval/result.json", "review.md"]
    entry = index["artifacts"][0]
    assert entry["sha256"] == sha256_bytes(store.get("svc/releases/r1/eval/result.json"))
    ReleaseBundle(store, "svc", "r3").put_text("theirs.txt", "b")
    only_mine = ReleaseBundle(store, "svc", "r3")
    only_mine.put_text("mine.txt", "a")
    index = json.loads(store.get(only_mine.write_index(include_existing=False).key))
    assert [a["name"] for a in index["artifacts"]] == ["mine.txt"]
