"""Preflight task: validate inputs, mint the release id, write manifest.json."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.release.preflight import ReleaseRun, prepare_release


@task(name="preflight", cache_policy=NO_CACHE, timeout_seconds=120)
def preflight(config_path: str, artifacts: str | None = None, overrides: dict[str, Any] | None = None,
              steps: list[str] | None = None, resume: str | None = None) -> ReleaseRun:
    run = prepare_release(config_path, artifacts=artifacts, overrides=overrides, steps=steps, resume=resume)
    m = run.manifest
    resumed = f"\n**Resumed (attempt {run.attempt}, {run.resume.path}):** {run.resume.reason}\n" if run.resume else ""
    create_markdown_artifact(
        key="release-manifest",
        markdown=(
            f"# Release {run.release_id}\n\n| | candidate | stable |\n|---|---|---|\n"
            f"| model | {m.candidate.model} | {m.stable.model} |\n"
            f"| prompt | {m.candidate.prompt_version} (`{m.candidate.prompt_sha256[:12]}`) | "
            f"{m.stable.prompt_version} (`{m.stable.prompt_sha256[:12]}`) |\n"
            f"| endpoint | {m.candidate.endpoint} | {m.stable.endpoint} |\n\n"
            f"Golden set sha256 `{run.hashes['golden_set'][:16]}`, {len(run.cases)} cases. "
            f"Evidence: `{run.evidence_uri}`\n{resumed}"
        ),
        description=f"manifest of {run.release_id}",
    )
    return run
