"""Preflight: everything a release needs before it calls a model, checked up front.

Loads and validates the config and its files, hashes them, mints the release id, opens
the artifact store and the notifier, and writes ``manifest.json``. Any problem here is an
InputError (exit 2) and nothing has been written yet.

With ``resume=<release id>`` no id is minted and no manifest written: the stored bundle decides
what this run does (launchgate/release/resume.py), and a rerun claims its attempt number first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from launchgate.config import ReleaseConfig
from launchgate.config.context import ServiceContext
from launchgate.errors import ArtifactExistsError, ReleaseStateError
from launchgate.eval.golden import GoldenCase, load_golden_set, load_prompt, read_json_file
from launchgate.eval.scoring import make_validator
from launchgate.notify import Dispatcher
from launchgate.notify.base import NotifyOutcome
from launchgate.release.records import Manifest, candidate_sha256, hash_inputs, make_manifest, make_release_id
from launchgate.release.resume import ResumeState, plan_resume
from launchgate.settings import Settings
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import ReleaseBundle


@dataclass(frozen=True)
class ReleaseInputs:
    """What preflight read and checked: the prompts, the golden set, the output validator, the hashes."""

    prompts: dict[str, str]
    cases: list[GoldenCase]
    validator: Draft202012Validator
    hashes: dict[str, str]


@dataclass
class ReleaseRun:
    """One release attempt: the service's context, its checked inputs, and where its evidence goes."""

    ctx: ServiceContext
    inputs: ReleaseInputs
    bundle: ReleaseBundle
    manifest: Manifest
    steps: list[str] = field(default_factory=list)
    resume: ResumeState | None = None

    @property
    def config(self) -> ReleaseConfig:
        return self.ctx.config

    @property
    def store(self) -> ArtifactStore:
        return self.ctx.store

    @property
    def dispatcher(self) -> Dispatcher:
        return self.ctx.dispatcher

    @property
    def release_id(self) -> str:
        return self.bundle.release_id

    @property
    def prompts(self) -> dict[str, str]:
        return self.inputs.prompts

    @property
    def cases(self) -> list[GoldenCase]:
        return self.inputs.cases

    @property
    def validator(self) -> Draft202012Validator:
        return self.inputs.validator

    @property
    def hashes(self) -> dict[str, str]:
        return self.inputs.hashes

    @property
    def attempt(self) -> int:
        return self.bundle.attempt

    @property
    def evidence_uri(self) -> str:
        return self.store.location(self.bundle.base.rstrip("/")) + "/"


JOURNAL = "notifications/"


def manifest_markdown(run: ReleaseRun) -> str:
    """The release at a glance: what is compared with what, on which golden set, evidence where."""
    m = run.manifest
    resumed = f"\n**Resumed (attempt {run.attempt}, {run.resume.path}):** {run.resume.reason}\n" if run.resume else ""
    return (
        f"# Release {run.release_id}\n\n| | candidate | stable |\n|---|---|---|\n"
        f"| model | {m.candidate.model} | {m.stable.model} |\n"
        f"| prompt | {m.candidate.prompt_version} (`{m.candidate.prompt_sha256[:12]}`) | "
        f"{m.stable.prompt_version} (`{m.stable.prompt_sha256[:12]}`) |\n"
        f"| endpoint | {m.candidate.endpoint} | {m.stable.endpoint} |\n\n"
        f"Golden set sha256 `{run.hashes['golden_set'][:16]}`, {len(run.cases)} cases. "
        f"Evidence: `{run.evidence_uri}`\n{resumed}"
    )


def journal_to(bundle: ReleaseBundle) -> Callable[[NotifyOutcome], None]:
    """A Dispatcher journal keeping each outcome in the bundle as it is sent (write-once, unique names)."""
    def keep(outcome: NotifyOutcome) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        bundle.put_json(f"{JOURNAL}{stamp}-{uuid.uuid4().hex[:8]}.json", outcome.model_dump(mode="json"))
    return keep


def load_inputs(config: ReleaseConfig, config_path: Path) -> ReleaseInputs:
    """Read and check every file the config names; raises InputError naming the file or field."""
    # Each file is named with the config field that points at it, so the fix is obvious.
    prompts = {
        "candidate": load_prompt(config.candidate.prompt.file, "prompt (candidate.prompt.file)"),
        "stable": load_prompt(config.stable.prompt.file, "prompt (stable.prompt.file)"),
    }
    out_path = config.contracts.output_schema
    validator = make_validator(read_json_file(out_path, "output schema (contracts.output_schema)"), str(out_path))
    if config.canary.strategy != "canary":
        config.shadow.check_fields(validator.schema)  # the fields the shadow compares exist in the answer
    in_path = config.contracts.input_schema
    make_validator(read_json_file(in_path, "input schema (contracts.input_schema)"), str(in_path))
    cases = load_golden_set(config.evaluation.golden_set, "golden set (evaluation.golden_set)")
    return ReleaseInputs(prompts=prompts, cases=cases, validator=validator, hashes=hash_inputs(config, config_path))


def check_resume(config_path: str | Path, resume: str, *, artifacts: str | None = None,
                 overrides: dict[str, Any] | None = None, settings: Settings | None = None) -> ResumeState:
    """What ``--resume`` would do, without writing anything (the CLI's fail-fast check)."""
    ctx = ServiceContext.open(config_path, artifacts=artifacts, overrides=overrides, settings=settings)
    hashes = hash_inputs(ctx.config, Path(config_path))
    state, _ = plan_resume(ctx.store, ctx.service, resume, candidate_sha256=candidate_sha256(ctx.config, hashes),
                           hashes=hashes)
    return state


def prepare_release(
    config_path: str | Path, *, artifacts: str | None = None, overrides: dict[str, Any] | None = None,
    settings: Settings | None = None, now: datetime | None = None, steps: list[str] | None = None,
    resume: str | None = None,
) -> ReleaseRun:
    config_path = Path(config_path)
    ctx = ServiceContext.open(config_path, artifacts=artifacts, overrides=overrides, settings=settings)
    config, store = ctx.config, ctx.store
    inputs = load_inputs(config, config_path)
    ctx.dispatcher  # noqa: B018 - opened now: a notifier that cannot start is bad input (exit 2), found first
    hashes = inputs.hashes
    content = candidate_sha256(config, hashes)
    steps = steps or ["preflight"]  # callers outside the flow (tests, tools) run no later step
    common = dict(ctx=ctx, inputs=inputs, steps=steps)
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
        ctx.dispatcher.journal = journal_to(bundle)
        return ReleaseRun(bundle=bundle, manifest=manifest, resume=state, **common)

    now = now or datetime.now(UTC)
    release_id = make_release_id(config.service, now, content)
    manifest = make_manifest(config, hashes, release_id, now, steps)
    bundle = ReleaseBundle(store, config.service, release_id)
    # overwrite=False inside the bundle: a second run with the same id fails here, before any work.
    bundle.put_json("manifest.json", manifest.model_dump(mode="json"))
    ctx.dispatcher.journal = journal_to(bundle)
    return ReleaseRun(bundle=bundle, manifest=manifest, **common)
