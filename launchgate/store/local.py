"""The embedded artifact store: a local directory laid out exactly like the bucket.

Readers never see a half-written file: bytes go to a temp file in the target folder first,
then appear under their key in one step (``os.replace`` to overwrite, ``os.link`` to create).
``link`` fails if the key already exists, so two writers racing on ``overwrite=False`` cannot
both win, which is what keeps a release bundle write-once.

``update`` (state files) holds an exclusive file lock (``.lg-lock-<name>`` next to the key, an
flock the OS drops if the holder dies) across read, change and replace, so writers in other
threads and processes on this machine take turns instead of overwriting each other. A lock only
coordinates writers that share the filesystem's locking: a local store on NFS shared by several
hosts is not covered.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout

from launchgate.errors import ArtifactExistsError, StoreConflict, StoreError
from launchgate.store.base import Change, StoredArtifact, sha256_bytes
from launchgate.store.keys import check_key, check_prefix

# Temp and lock files live next to their target (same filesystem, so link/replace are atomic);
# list() hides both.
_TMP_PREFIX = ".lg-tmp-"
_LOCK_PREFIX = ".lg-lock-"
_HIDDEN = (_TMP_PREFIX, _LOCK_PREFIX)
# Long enough for any sane change of a state file, short enough that a stuck writer surfaces.
LOCK_TIMEOUT_S = 30.0


class LocalStore:
    def __init__(self, root: Path | str, *, lock_timeout_s: float = LOCK_TIMEOUT_S) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = self.root.as_uri()
        self.lock_timeout_s = lock_timeout_s

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def location(self, key: str) -> str:
        return str(self._path(key))

    def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream", *, overwrite: bool = True
    ) -> StoredArtifact:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write(path, data, key, overwrite)
        except ArtifactExistsError:
            raise
        except OSError as exc:
            raise StoreError(f"cannot write {key} under {self.root}: {exc.strerror or exc}") from exc
        return StoredArtifact(
            key=key, uri=str(path), sha256=sha256_bytes(data), size=len(data), content_type=content_type
        )

    def update(self, key: str, change: Change, content_type: str = "application/json") -> bytes:
        path = self._path(key)
        lock = FileLock(path.parent / f"{_LOCK_PREFIX}{path.name}", timeout=self.lock_timeout_s)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with lock:
                try:
                    current: bytes | None = path.read_bytes()
                except FileNotFoundError:
                    current = None
                data = change(current)
                if data != current:
                    self._write(path, data, key, overwrite=True)
                return data
        except Timeout as exc:  # a TimeoutError, so an OSError: caught first
            raise StoreConflict(
                f"cannot update {key} under {self.root}: another writer held its lock for over "
                f"{self.lock_timeout_s:g}s (lock file {lock.lock_file})"
            ) from exc
        except OSError as exc:
            raise StoreError(f"cannot update {key} under {self.root}: {exc.strerror or exc}") from exc

    def _write(self, path: Path, data: bytes, key: str, overwrite: bool) -> None:
        """Bytes to a temp file next to ``path``, then into place in one step."""
        fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if overwrite:
                os.replace(tmp, path)
            else:
                self._create_exclusive(tmp, path, key)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _create_exclusive(self, tmp: Path, path: Path, key: str) -> None:
        try:
            os.link(tmp, path)
            return
        except FileExistsError as exc:
            raise ArtifactExistsError(
                f"{key} already exists at {path}; release artifacts are write-once"
            ) from exc
        except OSError as exc:
            # Some filesystems (FAT, some network mounts) have no hard links.
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV):
                raise
        # Fallback: claim the name with O_EXCL, then swap the content in. A reader may briefly
        # see an empty file, but two writers still cannot both win.
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError as exc:
            raise ArtifactExistsError(
                f"{key} already exists at {path}; release artifacts are write-once"
            ) from exc
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"no artifact {key} in {self.root} (looked for {path})") from exc
        except OSError as exc:
            raise StoreError(f"cannot read {key} from {self.root}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        # Same semantics as an S3 prefix: a plain string prefix, not a folder name, so
        # "svc/releases/a" also matches "svc/releases/ab/...".
        check_prefix(prefix)
        folder, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        if not start.is_dir():
            return []
        keys: list[str] = []
        try:
            for dirpath, _dirnames, filenames in os.walk(start):
                rel_dir = Path(dirpath).relative_to(self.root).as_posix()
                for name in filenames:
                    if name.startswith(_HIDDEN):
                        continue
                    key = name if rel_dir == "." else f"{rel_dir}/{name}"
                    if key.startswith(prefix):
                        keys.append(key)
        except OSError as exc:
            raise StoreError(f"cannot list {prefix!r} under {self.root}: {exc.strerror or exc}") from exc
        return sorted(keys)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"
