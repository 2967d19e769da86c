"""Keep evidence when S3 is down: a wrapper store that spools writes to a local directory.

``SpoolingStore(inner, spool_dir)`` passes every call to ``inner`` (an S3Store). When a write
fails with StoreUnavailable (unreachable, 5xx, throttled, or the upload did not verify, all
after botocore's bounded retries), the bytes go to the spool instead and the caller gets a
StoredArtifact with ``state="spooled"``: the release goes on, nothing is lost, and nothing
claims to be persisted before S3 has confirmed it.

The spool is flushed, oldest first, before each later put and by ``flush()`` (finalize and
``launchgate flush-spool``). After a failure, puts spool straight away for ``retry_s``
seconds, so an outage costs one round of retries, not one per artifact.

State updates (``update``) are never spooled: their new bytes are computed from the current ones,
which only S3 has, and a spooled copy flushed later would overwrite whatever other writers stored
meanwhile, which is the lost update ``update`` exists to prevent. While S3 is down they raise
StoreUnavailable at once, without a network call; while an unflushable spooled version of the
same key waits, StoreError.

Layout (one namespace per store URI, so several buckets/prefixes can share a spool dir)::

    <spool_dir>/<sha256(uri)[:16]>/store.json            {"uri": "s3://bucket/prefix"}
    <spool_dir>/<sha256(uri)[:16]>/entries/<id>.bin      the bytes
    <spool_dir>/<sha256(uri)[:16]>/entries/<id>.json     SpoolEntry (written last: marks it complete)

Entry ids sort by spool time. Writers in several threads or processes share a namespace under
an flock, so two flushers never upload the same entry at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from launchgate.errors import ArtifactExistsError, StoreError
from launchgate.store.base import ArtifactStore, Change, StoredArtifact, StoreUnavailable, sha256_bytes
from launchgate.store.keys import check_key, check_prefix

log = logging.getLogger(__name__)

_TMP = ".tmp-"
_counter = itertools.count()
_locks: dict[Path, _DirLock] = {}
_locks_guard = threading.Lock()


class SpoolEntry(BaseModel):
    id: str
    key: str
    sha256: str
    size: int
    content_type: str
    overwrite: bool
    spooled_at: datetime
    reason: str
    attempts: int = 0
    last_error: str | None = None
    conflict: bool = False  # a write-once key already holds other bytes in S3: needs a person


@dataclass
class FlushReport:
    flushed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    reachable: bool = True

    @property
    def complete(self) -> bool:
        return not self.pending

    def summary(self) -> str:
        text = f"{len(self.flushed)} flushed, {len(self.pending)} still pending"
        if self.conflicts:
            text += f" ({len(self.conflicts)} conflicting with objects already in the store)"
        if not self.reachable:
            text += "; the store is still unreachable"
        return text


def _namespace(uri: str) -> str:
    return hashlib.sha256(uri.encode("utf-8")).hexdigest()[:16]


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=_TMP, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # the spool exists to survive trouble: make it durable
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class _DirLock:
    """Process-wide re-entrant lock plus an flock shared with other processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rlock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        with self._rlock:
            if self._depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    os.close(self._fd)
                    self._fd = None


def _dir_lock(path: Path) -> _DirLock:
    with _locks_guard:
        return _locks.setdefault(path, _DirLock(path))


class Spool:
    """The on-disk queue of one store URI. Knows files, not S3."""

    def __init__(self, root: Path | str, store_uri: str) -> None:
        self.root = Path(root).expanduser().resolve()
        self.store_uri = store_uri
        self.dir = self.root / _namespace(store_uri)
        self.entries_dir = self.dir / "entries"
        self._lock = _dir_lock(self.dir / ".lock")

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return self._lock.hold()

    def entries(self) -> list[SpoolEntry]:
        """Complete entries, oldest first. Unreadable metadata is logged and skipped, never deleted."""
        try:
            names = sorted(p.name for p in self.entries_dir.iterdir() if p.suffix == ".json"
                           and not p.name.startswith(_TMP))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            try:
                found.append(SpoolEntry.model_validate_json((self.entries_dir / name).read_bytes()))
            except FileNotFoundError:  # flushed by another writer meanwhile
                continue
            except (OSError, ValidationError) as exc:
                log.error("unreadable spool entry %s: %s", self.entries_dir / name, exc)
        return found

    def latest(self, key: str) -> SpoolEntry | None:
        matches = [e for e in self.entries() if e.key == key]
        return matches[-1] if matches else None

    def add(self, key: str, data: bytes, content_type: str, overwrite: bool, reason: str) -> SpoolEntry:
        entry = SpoolEntry(
            id=f"{time.time_ns():020d}-{os.getpid()}-{next(_counter):06d}", key=key, sha256=sha256_bytes(data),
            size=len(data), content_type=content_type, overwrite=overwrite, spooled_at=datetime.now(UTC),
            reason=reason[:500],
        )
        with self.lock():
            try:
                self.entries_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                meta = self.dir / "store.json"
                if not meta.exists():
                    _atomic_write(meta, json.dumps({"uri": self.store_uri}).encode("utf-8"))
                _atomic_write(self.entries_dir / f"{entry.id}.bin", data)
                _atomic_write(self.entries_dir / f"{entry.id}.json", entry.model_dump_json().encode("utf-8"))
            except OSError as exc:
                raise StoreError(f"cannot spool {key} under {self.dir}: {exc.strerror or exc}") from exc
            if overwrite:  # only the newest version of an overwritable key needs uploading
                for older in self.entries():
                    if older.key == key and older.id != entry.id:
                        self.remove(older)
        return entry

    def read(self, entry: SpoolEntry) -> bytes:
        path = self.entries_dir / f"{entry.id}.bin"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read spooled {entry.key} from {path}: {exc.strerror or exc}") from exc
        if sha256_bytes(data) != entry.sha256:
            raise StoreError(f"spooled {entry.key} at {path} is damaged: its sha256 no longer matches")
        return data

    def update(self, entry: SpoolEntry) -> None:
        with contextlib.suppress(FileNotFoundError):
            _atomic_write(self.entries_dir / f"{entry.id}.json", entry.model_dump_json().encode("utf-8"))

    def remove(self, entry: SpoolEntry) -> None:
        # Metadata first: an entry without metadata is invisible, so a crash here leaves at
        # worst an orphan .bin file, never an entry pointing at missing bytes.
        for suffix in (".json", ".bin"):
            with contextlib.suppress(FileNotFoundError):
                (self.entries_dir / f"{entry.id}{suffix}").unlink()


def spooled_uris(spool_dir: Path | str) -> list[str]:
    """Store URIs with a namespace under ``spool_dir`` (for ``launchgate flush-spool``)."""
    root = Path(spool_dir).expanduser()
    uris = []
    for meta in sorted(root.glob("*/store.json")):
        with contextlib.suppress(OSError, ValueError, KeyError):
            uris.append(str(json.loads(meta.read_text("utf-8"))["uri"]))
    return uris


class SpoolingStore:
    """An ArtifactStore that never loses a write to a transient outage of ``inner``."""

    def __init__(
        self, inner: ArtifactStore, spool_dir: Path | str, *, retry_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.uri = inner.uri
        self.spool = Spool(spool_dir, inner.uri)
        self.retry_s = retry_s
        self._clock = clock
        self._down_until = 0.0
        self._last_error = ""

    # -- ArtifactStore ------------------------------------------------------------------

    def location(self, key: str) -> str:
        return self.inner.location(key)

    def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream", *, overwrite: bool = True
    ) -> StoredArtifact:
        check_key(key)
        if not overwrite and self.spool.latest(key) is not None:
            raise ArtifactExistsError(f"{self.location(key)} is already spooled; release artifacts are write-once")
        if self._is_down():
            return self._to_spool(key, data, content_type, overwrite, f"store down: {self._last_error}")
        if self.spool.entries() and not self.flush().reachable:
            return self._to_spool(key, data, content_type, overwrite, f"store down: {self._last_error}")
        if self.spool.latest(key) is not None:
            # An older version still waits (conflict or error): keep the order of writes to this key.
            return self._to_spool(key, data, content_type, overwrite, "an older version of this key is spooled")
        try:
            return self.inner.put(key, data, content_type, overwrite=overwrite)
        except StoreUnavailable as exc:
            self._mark_down(exc)
            return self._to_spool(key, data, content_type, overwrite, str(exc))

    def update(self, key: str, change: Change, content_type: str = "application/json") -> bytes:
        check_key(key)
        if self._is_down():
            raise StoreUnavailable(f"cannot update {self.location(key)} now: {self._last_error}")
        if self.spool.entries() and not self.flush().reachable:
            raise StoreUnavailable(f"cannot update {self.location(key)} now: {self._last_error}")
        if self.spool.latest(key) is not None:
            # The newest bytes of this key wait in the spool (a conflict or error flush() could not
            # settle): an update based on the stored object would silently drop them.
            raise StoreError(f"cannot update {self.location(key)}: an older version of it is still spooled "
                             f"under {self.spool.dir} and did not flush; see `launchgate flush-spool`")
        try:
            return self.inner.update(key, change, content_type)
        except StoreUnavailable as exc:
            self._mark_down(exc)
            raise

    def get(self, key: str) -> bytes:
        entry = self.spool.latest(check_key(key))
        # The spool holds the newest bytes of a key until they are flushed.
        return self.spool.read(entry) if entry is not None else self.inner.get(key)

    def exists(self, key: str) -> bool:
        return self.spool.latest(check_key(key)) is not None or self.inner.exists(key)

    def list(self, prefix: str) -> list[str]:
        """Stored keys plus spooled ones. Raises StoreUnavailable if the store cannot list."""
        check_prefix(prefix)
        return sorted(set(self.inner.list(prefix)) | set(self.pending(prefix)))

    # -- spool --------------------------------------------------------------------------

    def pending(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` whose bytes wait in the spool (not yet persisted)."""
        return sorted({e.key for e in self.spool.entries() if e.key.startswith(prefix)})

    def flush(self) -> FlushReport:
        """Upload spooled entries oldest first; stop at the first sign the store is still down."""
        report = FlushReport()
        if not self.spool.entries():  # the common case: no lock file, no directories created
            return report
        with self.spool.lock():
            for entry in self.spool.entries():
                if not report.reachable:
                    report.pending.append(entry.key)
                    continue
                self._flush_one(entry, report)
        if report.flushed:
            log.info("flushed %d spooled artifact(s) to %s", len(report.flushed), self.uri)
        if report.reachable:
            self._down_until = 0.0
        return report

    def _flush_one(self, entry: SpoolEntry, report: FlushReport) -> None:
        try:
            data = self.spool.read(entry)
            persisted = self._push(entry, data)
        except StoreUnavailable as exc:
            self._mark_down(exc)
            report.reachable = False
            self._keep(entry, str(exc), report)
            return
        except StoreError as exc:  # e.g. access denied, or a damaged spool file: needs a person
            report.errors[entry.key] = str(exc)
            self._keep(entry, str(exc), report)
            return
        if persisted:
            self.spool.remove(entry)
            report.flushed.append(entry.key)
            return
        entry.conflict = True
        report.conflicts.append(entry.key)
        self._keep(entry, "a different object already exists at this write-once key", report)

    def _keep(self, entry: SpoolEntry, error: str, report: FlushReport) -> None:
        entry.attempts += 1
        entry.last_error = error[:500]
        self.spool.update(entry)
        report.pending.append(entry.key)

    def _push(self, entry: SpoolEntry, data: bytes) -> bool:
        """Upload one entry; False when a write-once key already holds someone else's bytes."""
        try:
            self.inner.put(entry.key, data, entry.content_type, overwrite=entry.overwrite)
            return True
        except ArtifactExistsError:
            outcome = self._compare(entry.key, data)
        if outcome == "ok":  # an earlier attempt landed but its answer was lost
            return True
        if outcome == "corrupt":
            # The object claims our sha256 but holds other bytes: our own upload, damaged on
            # the way. Replacing it keeps write-once: the key gets the bytes it always claimed.
            self.inner.put(entry.key, data, entry.content_type, overwrite=True)
            return True
        return False

    def _compare(self, key: str, data: bytes) -> str:
        verify: Any = getattr(self.inner, "verify", None)
        if verify is not None:
            return str(verify(key, data))
        try:
            return "ok" if sha256_bytes(self.inner.get(key)) == sha256_bytes(data) else "foreign"
        except StoreUnavailable:
            raise
        except StoreError:
            return "foreign"

    def _to_spool(self, key: str, data: bytes, content_type: str, overwrite: bool, reason: str) -> StoredArtifact:
        entry = self.spool.add(key, data, content_type, overwrite, reason)
        log.warning("spooled %s (%d bytes) to %s: %s", key, len(data), self.spool.dir, reason[:200])
        return StoredArtifact(key=key, uri=self.location(key), sha256=entry.sha256, size=entry.size,
                              content_type=content_type, state="spooled")

    def _is_down(self) -> bool:
        return self._clock() < self._down_until

    def _mark_down(self, exc: Exception) -> None:
        self._last_error = str(exc)[:300]
        self._down_until = self._clock() + self.retry_s

    def __repr__(self) -> str:
        return f"SpoolingStore({self.inner!r}, spool={str(self.spool.dir)!r})"


def flush_all(spool_dir: Path | str | None = None) -> dict[str, FlushReport]:
    """Flush every store namespace under ``spool_dir`` (default: the configured spool dir)."""
    from launchgate.settings import Settings
    from launchgate.store import open_store

    settings = Settings()
    root = Path(spool_dir or settings.spool_dir)
    settings = settings.model_copy(update={"spool_dir": str(root), "s3_spool": True})
    reports: dict[str, FlushReport] = {}
    for uri in spooled_uris(root):
        store = open_store(uri, settings)
        if isinstance(store, SpoolingStore):
            reports[uri] = store.flush()
    return reports
