"""Operator commands behind ``launchgate rollback`` and ``launchgate status`` (no Prefect here).

Both read the service's release.yaml only for its ``canary`` (router) and ``artifacts`` sections,
so they work without the golden set or prompts being present (``check_files=False``).
"""

from __future__ import annotations

import getpass
import time
from pathlib import Path
from typing import Any

from launchgate.config import ReleaseConfig, load_config
from launchgate.errors import ExternalError, InputError
from launchgate.release.promotion import lkg_key, read_json, record_rollback
from launchgate.release.resume import unfinished_releases
from launchgate.router import make_router
from launchgate.settings import Settings
from launchgate.store import open_store
from launchgate.store.base import ArtifactStore


def service_config(service: str, config_path: Path | None) -> ReleaseConfig:
    """The release.yaml of ``service``: --config, else services/<service>/release.yaml."""
    path = config_path or Path("services") / service / "release.yaml"
    if config_path is None and not path.is_file():
        raise InputError(f"no config for service {service!r}: give --config path/to/release.yaml "
                         f"(looked for {path})")
    cfg = load_config(path, check_files=False)
    if cfg.service != service:
        raise InputError(f"{path} is the config of service {cfg.service!r}, not {service!r}")
    return cfg


def store_for(cfg: ReleaseConfig, artifacts: str | None) -> ArtifactStore:
    settings = Settings()
    return open_store(artifacts or settings.artifacts_uri or cfg.artifacts.uri, settings)


def manual_rollback(cfg: ReleaseConfig, store: ArtifactStore, *, reason: str | None = None) -> dict[str, Any]:
    """Candidate weight 0 now, then the record. The router call comes first: it is the point."""
    router, _ = make_router(cfg.canary)
    who = getpass.getuser()
    why = reason or "manual rollback"
    t0 = time.monotonic()
    router.set_candidate_weight(0, f"{why} (launchgate rollback by {who})")
    took = time.monotonic() - t0
    try:
        weights: dict[str, float] | None = router.weights()
    except ExternalError:
        weights = None  # the shift went through; reading back is a nicety
    record = {"service": cfg.service, "router": cfg.canary.router, "by": who, "reason": why,
              "took_s": round(took, 4), "weights_after": weights}
    record["key"] = record_rollback(store, cfg.service, record)
    return record


def service_status(cfg: ReleaseConfig, store: ArtifactStore) -> dict[str, Any]:
    router, _ = make_router(cfg.canary)
    out: dict[str, Any] = {"service": cfg.service, "router": cfg.canary.router}
    try:
        out["weights"] = router.weights()
        state = getattr(router, "state", None)  # only the gateway has a lease and an event trail
        if callable(state):
            full = state()
            out.update(release_id=full.get("release_id"), lease=full.get("lease"),
                       events=list(full.get("events") or [])[-5:])
    except ExternalError as exc:
        out["router_error"] = str(exc)
    out["last_known_good"] = read_json(store, lkg_key(cfg.service))
    # Started but never decided: crashed (resume with `launchgate release --resume ID`) or still running.
    out["undecided_releases"] = unfinished_releases(store, cfg.service)
    return out
