"""Preflight task: validate inputs, mint the release id, write manifest.json (launchgate/release/preflight.py)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.release.preflight import ReleaseRun, manifest_markdown, prepare_release


@task(name="preflight", cache_policy=NO_CACHE, timeout_seconds=120)
def preflight(config_path: str, artifacts: str | None = None, overrides: dict[str, Any] | None = None,
              steps: list[str] | None = None, resume: str | None = None) -> ReleaseRun:
    run = prepare_release(config_path, artifacts=artifacts, overrides=overrides, steps=steps, resume=resume)
    create_markdown_artifact(key="release-manifest", markdown=manifest_markdown(run),
                             description=f"manifest of {run.release_id}")
    return run
