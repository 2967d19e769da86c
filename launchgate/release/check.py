"""``launchgate check``: a release's first gates (preflight, contracts, eval gate) in-process, for CI.

The same core functions the release's Prefect tasks run (``contracts_step``, ``run_eval``), so a
check gives the same verdicts, evidence files and exit codes as those gates would in a release:
0 passed, 2 invalid input, 3 blocked by a gate, 1 internal error. No Prefect, no notifications,
no freeze or pipeline-budget check, no traffic: it is meant for every prompt or schema change.

Where the evidence goes: ``--artifacts URI`` when given, else a fresh temporary directory (kept,
and named in the result). Never the service's release store by default: a check is not a
release, so it must not appear in the release history that audits, resumes and the last-promoted
baseline read, and a CI job should need no write access to that store. Either way a check's
bundle sits under ``<service>/checks/<check id>/``, beside, never among, ``<service>/releases/``.
With ``evaluation.baseline: last_promoted`` the baseline is *read* from the service's store
(LAUNCHGATE_ARTIFACTS_URI, else release.yaml's artifacts.uri), where promotions record it.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from launchgate.config import load_config, parse_overrides
from launchgate.context import ServiceContext, store_uri
from launchgate.errors import InputError, LaunchgateError
from launchgate.eval.contracts import contracts_step
from launchgate.eval.report import decision_markdown
from launchgate.eval.step import EvalOutcome, run_eval
from launchgate.release.junit import Suite
from launchgate.release.preflight import ReleaseRun, load_inputs
from launchgate.release.records import Decision, Manifest, VariantRecord, candidate_sha256, decide
from launchgate.settings import Settings
from launchgate.store import LocalStore, open_store
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import ReleaseBundle
from launchgate.store.keys import check_key
from launchgate.verdicts import Phase, StepResult, Verdict

STEPS = ["preflight", "contracts", "eval_gate"]
CheckDecision = Literal["passed", "blocked", "invalid", "error"]
EXIT_CODES: dict[str, int] = {"passed": 0, "blocked": 3, "invalid": 2, "error": 1}
OnProgress = Callable[[str, int, int], None]  # (step, done, total), launchgate.notify.progress's shape
OnStep = Callable[[StepResult], None]


class CheckBundle(ReleaseBundle):
    """A check's evidence bundle: laid out like a release's, under ``<service>/checks/<check id>/``."""

    def __init__(self, store: ArtifactStore, service: str, check_id: str) -> None:
        super().__init__(store, service, check_id)
        self.base = f"{check_key(service)}/checks/{check_key(check_id)}/"


class CheckResult(BaseModel):
    release_id: str | None = Field(default=None, description="the check's id (it names the evidence bundle)")
    decision: CheckDecision
    exit_code: int
    summary: str
    reasons: list[str] = Field(default_factory=list)
    evidence: str | None = Field(default=None, description="where the evidence bundle is")
    steps: list[StepResult] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict, description="step -> why it did not run")
    invalid: dict[str, str] = Field(default_factory=dict, description="step -> the input problem that stopped it")
    timings_s: dict[str, float] = Field(default_factory=dict)
    model_s: float = Field(default=0.0, description="wall time of the eval's model calls")
    traceback: str | None = Field(default=None, exclude=True, description="of an internal error, for debugging")

    def line(self) -> dict[str, object]:
        """The CLI's last stdout line, shaped like ``launchgate release``'s."""
        return {"release_id": self.release_id, "decision": self.decision, "reasons": self.reasons,
                "evidence": self.evidence}

    def suites(self) -> list[Suite]:
        """The JUnit view: one suite per step, in order, including steps that never ran."""
        ran = {s.step: s for s in self.steps}
        out = []
        for step in STEPS[1:]:
            if step in ran:
                out.append(Suite(step, ran[step].verdicts, time_s=self.timings_s.get(step, 0.0)))
            elif step in self.invalid:
                out.append(Suite(step, error=self.invalid[step]))
            elif step in self.skipped:
                out.append(Suite(step, skipped=self.skipped[step]))
        if "preflight" in self.invalid:
            out.insert(0, Suite("preflight", error=self.invalid["preflight"]))
        return out


def _crashed(step: str, exc: BaseException) -> Verdict:
    # Worded like the release flow's crashed-step verdict, so a crash reads the same in both.
    return Verdict(check=step, phase=Phase.ERROR,
                   reason=f"The {step} step crashed ({type(exc).__name__}: {str(exc)[:200]}): rerun, and file a "
                          f"bug if it repeats.")


def open_check(config_path: str | Path, *, artifacts: str | None = None, sets: Sequence[str] = (),
               settings: Settings | None = None, now: datetime | None = None) -> ReleaseRun:
    """Preflight for a check: config and files checked, hashed, the bundle opened, manifest.json written.

    Raises InputError (naming the field or file) before anything is written.
    """
    config_path = Path(config_path)
    settings = settings or Settings()
    config = load_config(config_path, parse_overrides(list(sets)))
    inputs = load_inputs(config, config_path)
    target = open_store(artifacts, settings) if artifacts else LocalStore(tempfile.mkdtemp(prefix="launchgate-check-"))
    # Only a last_promoted baseline reads the service's store; otherwise it is never opened.
    source = (open_store(store_uri(config, None, settings), settings)
              if config.evaluation.baseline == "last_promoted" else target)
    ctx = ServiceContext(config=config, store=source, settings=settings, config_path=config_path)
    hashes = inputs.hashes
    content = candidate_sha256(config, hashes)
    now = now or datetime.now(UTC)
    # A random tail: two CI jobs checking the same candidate in the same second get two bundles.
    check_id = f"{config.service}-check-{now:%Y%m%dT%H%M%SZ}-{content[:8]}-{secrets.token_hex(2)}"
    manifest = Manifest(
        release_id=check_id, service=config.service, created_at=now,
        candidate=VariantRecord(endpoint=config.candidate.endpoint, model=config.candidate.model,
                                prompt_version=config.candidate.prompt.version,
                                prompt_sha256=hashes["prompt_candidate"]),
        stable=VariantRecord(endpoint=config.stable.endpoint, model=config.stable.model,
                             prompt_version=config.stable.prompt.version, prompt_sha256=hashes["prompt_stable"]),
        candidate_sha256=content, hashes=hashes, steps=STEPS, config=json.loads(config.model_dump_json()),
    )
    bundle = CheckBundle(target, config.service, check_id)
    bundle.put_json("manifest.json", manifest.model_dump(mode="json"))
    return ReleaseRun(ctx=ctx, inputs=inputs, bundle=bundle, manifest=manifest, steps=list(STEPS))


def evidence_location(run: ReleaseRun) -> str:
    return run.bundle.store.location(run.bundle.base.rstrip("/")) + "/"


def _decide(run: ReleaseRun, result: CheckResult, verdicts: list[Verdict]) -> Decision:
    decision = decide(run.release_id, run.config.service, verdicts, result.evidence or "")
    if result.decision == "error":  # launchgate itself broke: exit 1, as a release with a crashed step
        decision.decision, decision.exit_code = "error", EXIT_CODES["error"]
    elif decision.decision == "passed":  # a check shifts no traffic by design: say what was checked instead
        decision.summary = (f"{run.release_id} passed all {len(verdicts)} checks of "
                            f"{' and '.join(s.step for s in result.steps)}.")
    return decision


def _write_records(run: ReleaseRun, decision: Decision | None) -> None:
    """The check's own records beside the steps' evidence: decision.json and .md, then index.json."""
    if decision is not None:
        run.bundle.put_json("decision.json", decision.model_dump(mode="json"))
        run.bundle.put_text("decision.md", decision_markdown(decision), "text/markdown")
    run.bundle.write_index()


def run_check(config_path: str | Path, *, artifacts: str | None = None, sets: Sequence[str] = (),
              settings: Settings | None = None, on_progress: OnProgress | None = None,
              on_step: OnStep | None = None) -> CheckResult:
    """Preflight, contracts, then the eval gate unless contracts blocked; never raises.

    ``on_progress`` gets the eval's (``"eval"``, done, total); ``on_step`` each step's result as it ends.
    """
    started = time.perf_counter()
    try:
        run = open_check(config_path, artifacts=artifacts, sets=sets, settings=settings)
    except InputError as exc:
        return CheckResult(decision="invalid", exit_code=EXIT_CODES["invalid"], summary=f"invalid input: {exc}",
                           reasons=[str(exc)], invalid={"preflight": str(exc)})
    except Exception as exc:  # noqa: BLE001 - the CLI reports one line (and the traceback when debugging)
        what = "" if isinstance(exc, LaunchgateError) else f"{type(exc).__name__}: "
        return CheckResult(decision="error", exit_code=EXIT_CODES["error"], summary=f"preflight failed: {what}{exc}",
                           reasons=[f"{what}{exc}"], traceback=traceback.format_exc())
    result = CheckResult(release_id=run.release_id, decision="passed", exit_code=0, summary="",
                         evidence=evidence_location(run), timings_s={"preflight": time.perf_counter() - started})
    timings = result.timings_s  # the model's own dict: pydantic copied the one it was given
    verdicts: list[Verdict] = []
    eval_progress = (lambda done, total: on_progress("eval", done, total)) if on_progress else None
    steps: list[tuple[str, Callable[[], StepResult]]] = [
        ("contracts", lambda: contracts_step(run)),
        ("eval_gate", lambda: run_eval(run, on_progress=eval_progress)),
    ]
    for i, (name, step) in enumerate(steps):
        t0 = time.perf_counter()
        try:
            done = step()
        except InputError as exc:  # e.g. the golden set became unreadable after preflight
            result.invalid[name] = str(exc)
            result.decision, result.reasons = "invalid", [str(exc)]
            break
        except Exception as exc:  # noqa: BLE001 - a crashed step is an ERROR verdict, as in the release
            done = StepResult(step=name, verdicts=[_crashed(name, exc)], summary=f"crashed: {exc}")
            result.decision, result.traceback = "error", traceback.format_exc()
        finally:
            timings[name] = time.perf_counter() - t0
        result.steps.append(done)
        verdicts += done.verdicts
        if isinstance(done, EvalOutcome):
            result.model_s = done.wall_s
        if on_step is not None:
            on_step(done)
        if done.blocks:
            for later, _ in steps[i + 1:]:
                result.skipped[later] = f"not run: {name} blocked"
            break
    decision: Decision | None = None
    if result.decision == "invalid":  # no verdict decided this: the input did
        result.exit_code, result.summary = EXIT_CODES["invalid"], f"invalid input: {result.reasons[0]}"
    else:
        decision = _decide(run, result, verdicts)
        result.decision = "error" if decision.decision == "error" else (
            "passed" if decision.decision == "passed" else "blocked")
        result.exit_code, result.summary, result.reasons = EXIT_CODES[result.decision], decision.summary, \
            decision.reasons
    try:
        _write_records(run, decision)
    except Exception as exc:  # noqa: BLE001 - the verdicts stand; a record that cannot be written is an error
        result.decision, result.exit_code = "error", EXIT_CODES["error"]
        result.reasons = [*result.reasons, f"the check's records could not be written: {exc}"]
        result.traceback = result.traceback or traceback.format_exc()
    timings["total"] = time.perf_counter() - started
    return result
