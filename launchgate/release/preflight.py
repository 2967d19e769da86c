"""Preflight: everything a release needs before it calls a model, checked up front.

Loads and validates the config and its files, hashes them, mints the release id, opens
the artifact store and the notifier, and writes ``manifest.json``. Any problem here is an
InputError (exit 2) and nothing has been written yet.

With ``resume=<release id>`` no id is minted and no manifest written: the stored bundle decides
what this run does (launchgate/release/resume.py), and a rerun claims its attempt number first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from launchgate.config import ReleaseConfig, load_config
from launchgate.errors import ArtifactExistsError, ReleaseStateError
from launchgate.eval.golden import GoldenCase, load_golden_set, load_prompt, read_json_file
from launchgate.eval.scoring import make_validator
from launchgate.notify import Dispatcher, make_notifier
from launchgate.release.records import Manifest, VariantRecord, candidate_sha256, hash_inputs, make_release_id
from launchgate.release.resume import ResumeState, plan_resume
from launchgate.settings import Settings
from launchgate.store import open_store
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import ReleaseBundle


@dataclass
class ReleaseRun:
    config: ReleaseConfig
    config_path: Path
    release_id: str
    hashes: dict[str, str]
    prompts: dict[str, str]
    cases: list[GoldenCase]
    validator: Draft202012Validator
    store: ArtifactStore
    bundle: ReleaseBundle
    dispatcher: Dispatcher
    manifest: Manifest
    steps: list[str] = field(default_factory=list)
    resume: ResumeState | None = None

    @property
    def attempt(self) -> int:
        return self.bundle.attempt

    @property
    def evidence_uri(self) -> str:
        return self.store.location(self.bundle.base.rstrip("/")) + "/"


def load_inputs(config_path: str | Path, overrides: dict[str, Any] | None = None) -> tuple[
    ReleaseConfig, dict[str, str], list[GoldenCase], Draft202012Validator
]:
    """Validate config and every file it names; raises InputError naming the file or field."""
    config = load_config(config_path, overrides)
    prompts = {
        "candidate": load_prompt(config.candidate.prompt.file),
        "stable": load_prompt(config.stable.prompt.file),
    }
    out_path = config.contracts.output_schema
    validator = make_validator(read_json_file(out_path, "output schema"), str(out_path))
    in_path = config.contracts.input_schema
    make_validator(read_json_file(in_path, "input schema"), str(in_path))
    cases = load_golden_set(config.evaluation.golden_set)
    return config, prompts, cases, validator


def check_resume(config_path: str | Path, resume: str, *, artifacts: str | None = None,
                 overrides: dict[str, Any] | None = None, settings: Settings | None = None) -> ResumeState:
    """What ``--resume`` would do, without writing anything (the CLI's fail-fast check)."""
    settings = settings or Settings()
    config = load_config(config_path, overrides)
    store = open_store(artifacts or settings.artifacts_uri or config.artifacts.uri, settings)
    hashes = hash_inputs(config, Path(config_path))
    state, _ = plan_resume(store, config.service, resume, candidate_sha256=candidate_sha256(config, hashes),
                           hashes=hashes)
    return state


def prepare_release(
    config_path: str | Path, *, artifacts: str | None = None, overrides: dict[str, Any] | None = None,
    settings: Settings | None = None, now: datetime | None = None, steps: list[str] | None = None,
    resume: str | None = None,
) -> ReleaseRun:
    settings = settings or Settings()
    config_path = Path(config_path)
    config, prompts, cases, validator = load_inputs(config_path, overrides)
    uri = artifacts or settings.artifacts_uri or config.artifacts.uri
    store = open_store(uri, settings)
    notifier = make_notifier(settings.notifier or config.notifications.notifier, settings)
    dispatcher = Dispatcher(notifier, config.owners, config.notifications.mute)

    hashes = hash_inputs(config, config_path)
    content = candidate_sha256(config, hashes)
    steps = steps or ["preflight"]  # callers outside the flow (tests, tools) run no later step
    common = dict(config=config, config_path=config_path, hashes=hashes, prompts=prompts, cases=cases,
                  validator=validator, store=store, dispatcher=dispatcher, steps=steps)
    if resume:
        state, stored = plan_resume(store, config.service, resume, candidate_sha256=content, hashes=hashes)
        bundle = ReleaseBundle(store, config.service, resume, attempt=state.attempt)
        if state.path == "rerun":
            try:  # the claim: a second resume of the same id gets the same number and stops here
                bundle.put_json("resume.json", {**state.model_dump(mode="json"), "steps": steps})
            except ArtifactExistsError as exc:
                raise ReleaseStateError(
                    f"--resume {resume}: another resume of this id claimed attempt {state.attempt} at the "
                    f"same moment; let it finish (or, if it died, resume again for attempt "
                    f"{state.attempt + 1}).") from exc
        manifest = Manifest.model_validate({**stored, "steps": steps})
        return ReleaseRun(release_id=resume, bundle=bundle, manifest=manifest, resume=state, **common)

    now = now or datetime.now(UTC)
    release_id = make_release_id(config.service, now, content)
    manifest = Manifest(
        release_id=release_id, service=config.service, created_at=now,
        candidate=VariantRecord(endpoint=config.candidate.endpoint, model=config.candidate.model,
                                prompt_version=config.candidate.prompt.version,
                                prompt_sha256=hashes["prompt_candidate"]),
        stable=VariantRecord(endpoint=config.stable.endpoint, model=config.stable.model,
                             prompt_version=config.stable.prompt.version, prompt_sha256=hashes["prompt_stable"]),
        candidate_sha256=content, hashes=hashes, steps=steps,
        config=json.loads(config.model_dump_json()),
    )
    bundle = ReleaseBundle(store, config.service, release_id)
    # overwrite=False inside the bundle: a second run with the same id fails here, before any work.
    bundle.put_json("manifest.json", manifest.model_dump(mode="json"))
    return ReleaseRun(release_id=release_id, bundle=bundle, manifest=manifest, **common)
