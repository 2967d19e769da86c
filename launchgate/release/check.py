"""``launchgate check``: a release's first gates (preflight, contracts, eval gate) in-process, for CI.

The same core functions the release's Prefect tasks run, so a check gives the same verdicts,
evidence files and exit codes as those gates would in a release: 0 passed, 2 invalid input,
3 blocked by a gate, 1 internal error. No Prefect, no notifications, no freeze or pipeline-budget
check, no traffic: it is meant for every prompt or schema change.

Where the evidence goes: ``--artifacts URI`` when given, else a fresh temporary directory (kept,
and named in the result). Never the service's release store by default: a check is not a
release, so it must not appear in the release history that audits, resumes and the last-promoted
baseline read, and a CI job should need no write access to that store. Either way a check's
bundle sits under ``<service>/checks/<check id>/``, beside, never among, ``<service>/releases/``.
With ``evaluation.baseline: last_promoted`` the baseline is *read* from the service's store
(LAUNCHGATE_ARTIFACTS_URI, else release.yaml's artifacts.uri), where promotions record it.

Speed (a CI job waits for it): Great Expectations' import alone is ~3.5 s of CPU, and the model
calls mostly wait. So the model calls start before the contracts step has answered, but only when
a GX-free pre-check says it will pass (``contracts_ready``, at least as strict as the GX suite); if
the step blocks after all, the eval's results are dropped unwritten and the check reads exactly as
a sequential one: the contracts verdicts, the eval skipped. With a core to spare, a worker process
(launchgate/eval/worker.py) imports GX and runs the contracts suite and the eval's statistics while
this process starts up, calls the models and draws the chart; without one (a second process would
only add its own imports to a full run queue), the calls run in a thread while this process imports
GX. The heavy modules are imported inside the functions below, after the worker has started.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from launchgate.errors import InputError, LaunchgateError
from launchgate.eval.worker import Worker
from launchgate.release.junit import Suite
from launchgate.verdicts import StepResult, Verdict, crashed

if TYPE_CHECKING:
    from launchgate.eval.step import EvalCalls, EvalDraft, EvalOutcome, EvalPlan
    from launchgate.release.preflight import ReleaseRun
    from launchgate.release.records import Decision
    from launchgate.settings import Settings
    from launchgate.store.bundle import ReleaseBundle

STEPS = ["preflight", "contracts", "eval_gate"]
CheckDecision = Literal["passed", "blocked", "invalid", "error"]
Mode = Literal["auto", "process", "thread", "sequential"]
EXIT_CODES: dict[str, int] = {"passed": 0, "blocked": 3, "invalid": 2, "error": 1}
OnProgress = Callable[[str, int, int], None]  # (step, done, total), launchgate.notify.progress's shape
OnStep = Callable[[StepResult], None]
GX_WARM_UP = "launchgate.eval.contracts:warm_up"


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
    timings_s: dict[str, float] = Field(default_factory=dict, description="per step; they overlap, see total")
    model_s: float = Field(default=0.0, description="wall time of the eval's model calls")
    traceback: str | None = Field(default=None, exclude=True, description="of an internal error, for debugging")

    def line(self) -> dict[str, object]:
        """The CLI's last stdout line, shaped like ``launchgate release``'s."""
        return {"release_id": self.release_id, "decision": self.decision, "reasons": self.reasons,
                "evidence": self.evidence}

    def suites(self) -> list[Suite]:
        """The JUnit view: one suite per step, in order, including steps that never ran."""
        ran = {s.step: s for s in self.steps}
        out = [Suite("preflight", error=self.invalid["preflight"])] if "preflight" in self.invalid else []
        for step in STEPS[1:]:
            if step in ran:
                out.append(Suite(step, ran[step].verdicts, time_s=self.timings_s.get(step, 0.0)))
            elif step in self.invalid:
                out.append(Suite(step, error=self.invalid[step]))
            elif step in self.skipped:
                out.append(Suite(step, skipped=self.skipped[step]))
        return out


def check_bundle(store_uri: str, service: str, check_id: str) -> ReleaseBundle:
    """A check's evidence bundle: laid out like a release's, under ``<service>/checks/<check id>/``."""
    from launchgate.store import ReleaseBundle, layout, open_store

    bundle = ReleaseBundle(open_store(store_uri), service, check_id)
    bundle.base = layout.check_prefix(service, check_id)
    return bundle


def open_check(config_path: str | Path, *, artifacts: str | None = None, sets: Sequence[str] = (),
               settings: Settings | None = None, now: datetime | None = None) -> tuple[ReleaseRun, str]:
    """Preflight for a check: config and files checked, hashed, the bundle opened, manifest.json written.

    Returns the run and the URI of the store its evidence goes to. Raises InputError (naming the
    field or file) before anything is written.
    """
    from launchgate.config import load_config, parse_overrides
    from launchgate.config.context import ServiceContext, store_uri
    from launchgate.release.preflight import ReleaseRun, load_inputs
    from launchgate.release.records import candidate_sha256, make_manifest
    from launchgate.settings import Settings
    from launchgate.store import open_store

    config_path = Path(config_path)
    settings = settings or Settings()
    config = load_config(config_path, parse_overrides(list(sets)))
    inputs = load_inputs(config, config_path)
    target = artifacts or tempfile.mkdtemp(prefix="launchgate-check-")
    hashes = inputs.hashes
    content = candidate_sha256(config, hashes)
    now = now or datetime.now(UTC)
    # A random tail: two CI jobs checking the same candidate in the same second get two bundles.
    check_id = f"{config.service}-check-{now:%Y%m%dT%H%M%SZ}-{content[:8]}-{secrets.token_hex(2)}"
    bundle = check_bundle(target, config.service, check_id)
    # Only a last_promoted baseline reads the service's store; otherwise it is never opened.
    source = (open_store(store_uri(config, None, settings), settings)
              if config.evaluation.baseline == "last_promoted" else bundle.store)
    ctx = ServiceContext(config=config, store=source, settings=settings, config_path=config_path)
    manifest = make_manifest(config, hashes, check_id, now, list(STEPS))
    bundle.put_json("manifest.json", manifest.model_dump(mode="json"))
    return ReleaseRun(ctx=ctx, inputs=inputs, bundle=bundle, manifest=manifest, steps=list(STEPS)), target


def contracts_job(config: Any, prompts: dict[str, str], hashes: dict[str, str], store_uri: str,
                  check_id: str) -> StepResult:
    """The contracts step as the worker process runs it: on plain inputs, into the same bundle."""
    from launchgate.eval.contracts_step import check_contracts

    return check_contracts(config, prompts, hashes, check_bundle(store_uri, config.service, check_id))


def evidence_location(run: ReleaseRun) -> str:
    return run.bundle.store.location(run.bundle.base.rstrip("/")) + "/"


class _Eval:
    """The eval gate in parts: the model calls (``call``) and what needs no statistics (``summarise``), which
    may run before the contracts step has answered, then the statistics, verdicts and evidence (``finish``).
    A failure in an early part is kept and raised by ``finish``: it only counts if the eval counts."""

    def __init__(self, run: ReleaseRun, on_progress: OnProgress | None) -> None:
        self.run = run
        self.on_progress = on_progress
        self.plan: EvalPlan | None = None
        self.calls: EvalCalls | None = None
        self.draft: EvalDraft | None = None
        self.error: Exception | None = None
        self.trace: str | None = None
        self.elapsed_s = 0.0

    def _part(self, work: Callable[[], None]) -> None:
        t0 = time.perf_counter()
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - re-raised by finish, where it becomes the step's crash
            self.error, self.trace = exc, traceback.format_exc()
        finally:
            self.elapsed_s += time.perf_counter() - t0

    def call(self) -> None:
        """Plan, then call the models unless the budget stops it. Safe in a thread once launchgate.eval.step
        is imported: it imports nothing itself, while the main thread may be importing GX."""
        from launchgate.eval import step

        def work() -> None:
            self.plan = step.plan_eval(self.run)
            if not self.plan.budget.blocks:
                progress = self.on_progress
                self.calls = step.call_models(self.run, self.plan,
                                              (lambda d, t: progress("eval", d, t)) if progress else None)

        self._part(work)

    def summarise(self) -> None:
        from launchgate.eval import step

        def work() -> None:
            if self.plan is not None and self.calls is not None and self.draft is None:
                self.draft = step.summarise(self.run, self.plan, self.calls)

        if self.error is None:
            self._part(work)

    def finish(self, worker: Worker | None) -> EvalOutcome:
        from launchgate.eval import step

        if self.plan is None and self.error is None:
            self.call()
        self.summarise()
        if self.error is not None:
            raise self.error
        t0 = time.perf_counter()
        try:
            assert self.plan is not None  # call() set it or failed
            if self.plan.budget.blocks:
                return step.stop_at_budget(self.run, self.plan)
            assert self.calls is not None and self.draft is not None  # the budget let the calls run
            args = (self.draft.paired, self.draft.schema_flags, self.run.config.evaluation)
            judgement = worker.call(step.judge, *args) if worker is not None else step.judge(*args)
            return step.record_eval(self.run, self.plan, self.calls, self.draft, judgement)
        finally:
            self.elapsed_s += time.perf_counter() - t0


def a_core_is_free() -> bool:
    """Whether this machine has a core to spare right now (usable CPUs minus the 1-minute load).

    A worker process only pays off on a free core: on a saturated machine it adds its own imports
    (~1.5 s of CPU) to the queue and the check gets slower, not faster.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        return cpus - os.getloadavg()[0] >= 1
    except OSError:  # no load average here
        return cpus > 1


def _decide(run: ReleaseRun, result: CheckResult, verdicts: list[Verdict]) -> Decision:
    from launchgate.release.records import decide

    decision = decide(run.release_id, run.config.service, verdicts, result.evidence or "")
    if result.decision == "error":  # launchgate itself broke: exit 1, as a release with a crashed step
        decision.decision, decision.exit_code = "error", EXIT_CODES["error"]
    elif decision.decision == "passed":  # a check shifts no traffic by design: say what was checked instead
        decision.summary = (f"{run.release_id} passed all {len(verdicts)} checks of "
                            f"{' and '.join(s.step for s in result.steps)}.")
    return decision


def _write_records(run: ReleaseRun, decision: Decision | None) -> None:
    """The check's own records beside the steps' evidence: decision.json and .md, then index.json."""
    from launchgate.eval.report import decision_markdown
    from launchgate.report.page import write_report

    if decision is not None:
        run.bundle.put_json("decision.json", decision.model_dump(mode="json"))
        run.bundle.put_text("decision.md", decision_markdown(decision), "text/markdown")
    run.bundle.write_index()
    write_report(run.bundle)  # report.html, a view of index.json, as in a release bundle


def run_check(config_path: str | Path, *, artifacts: str | None = None, sets: Sequence[str] = (),
              settings: Settings | None = None, on_progress: OnProgress | None = None,
              on_step: OnStep | None = None, mode: Mode = "auto") -> CheckResult:
    """Preflight, contracts, then the eval gate unless contracts blocked; never raises.

    ``on_progress`` gets the eval's (``"eval"``, done, total); ``on_step`` each step's result as it is
    decided. ``mode``: where the work runs; the verdicts and evidence are the same in every mode.

    - ``process``: GX (import, contracts suite, statistics) in a worker process; model calls early.
    - ``thread``: everything in this process; the model calls early, in a thread, while GX imports.
    - ``sequential``: one step after the other, as the release runs them.
    - ``auto``: ``process`` when a core is free (``a_core_is_free``), else ``thread``.
    """
    started = time.perf_counter()
    if mode == "auto":
        mode = "process" if a_core_is_free() else "thread"
    # First of all: GX's import in the worker then overlaps this process's own imports and preflight.
    worker = Worker.start(GX_WARM_UP) if mode == "process" else None
    try:
        return _check(config_path, artifacts, sets, settings, on_progress, on_step, worker,
                      early=mode != "sequential", started=started)
    finally:
        if worker is not None:
            worker.close()


def _check(config_path: str | Path, artifacts: str | None, sets: Sequence[str], settings: Settings | None,
           on_progress: OnProgress | None, on_step: OnStep | None, worker: Worker | None, *, early: bool,
           started: float) -> CheckResult:
    try:
        run, store_uri = open_check(config_path, artifacts=artifacts, sets=sets, settings=settings)
    except InputError as exc:
        return CheckResult(decision="invalid", exit_code=EXIT_CODES["invalid"], summary=f"invalid input: {exc}",
                           reasons=exc.reasons(), invalid={"preflight": str(exc)})
    except Exception as exc:  # noqa: BLE001 - the CLI reports one line (and the traceback when debugging)
        what = "" if isinstance(exc, LaunchgateError) else f"{type(exc).__name__}: "
        return CheckResult(decision="error", exit_code=EXIT_CODES["error"], summary=f"preflight failed: {what}{exc}",
                           reasons=[f"{what}{exc}"], traceback=traceback.format_exc())
    # Imported in this thread before any other starts: two threads importing at once can deadlock on
    # the import system's module locks, and the calls' thread must find everything it runs loaded.
    from launchgate.eval import step  # noqa: F401
    from launchgate.eval.contracts_step import contracts_ready, contracts_step

    result = CheckResult(release_id=run.release_id, decision="passed", exit_code=0, summary="",
                         evidence=evidence_location(run), timings_s={"preflight": time.perf_counter() - started})
    timings = result.timings_s  # the model's own dict: pydantic copied the one it was given
    verdicts: list[Verdict] = []
    evaluation = _Eval(run, on_progress)

    def settle(name: str, attempt: Callable[[], StepResult], t0: float) -> bool:
        """Run or collect one step and record it; True when the check may go on to the next step."""
        try:
            done = attempt()
        except InputError as exc:  # e.g. the golden set became unreadable after preflight
            result.invalid[name] = str(exc)
            result.decision, result.reasons = "invalid", exc.reasons()
            return False
        except Exception as exc:  # noqa: BLE001 - a crashed step is an ERROR verdict, as in the release
            done = StepResult(step=name, verdicts=[crashed(name, exc)], summary=f"crashed: {exc}")
            result.decision = "error"
            result.traceback = (worker.traceback if worker is not None and worker.traceback else None) \
                or evaluation.trace or traceback.format_exc()
        finally:
            timings[name] = time.perf_counter() - t0
        result.steps.append(done)
        verdicts.extend(done.verdicts)
        if on_step is not None:
            on_step(done)
        return not done.blocks

    t0 = time.perf_counter()
    if worker is not None:
        try:
            worker.submit(contracts_job, run.config, run.prompts, run.hashes, store_uri, run.release_id)
        except LaunchgateError:  # the worker is unusable: everything runs here instead
            worker = None
    calling: threading.Thread | None = None
    if early and contracts_ready(run.config, run.prompts):
        if worker is not None:  # this process has nothing else to do while the worker runs the GX suite
            evaluation.call()
            evaluation.summarise()
        else:  # the calls mostly wait on the models: a thread, while this one imports GX and runs the suite
            calling = threading.Thread(target=evaluation.call, name="launchgate-eval-calls", daemon=True)
            calling.start()
    go = settle("contracts", worker.result if worker is not None else lambda: contracts_step(run), t0)
    if calling is not None:
        calling.join()
    if go:
        t0 = time.perf_counter() - evaluation.elapsed_s  # the eval's time includes its early half
        go = settle("eval_gate", lambda: evaluation.finish(worker), t0)
        if evaluation.calls is not None:
            result.model_s = evaluation.calls.wall_s
    elif result.decision != "invalid":
        result.skipped["eval_gate"] = "not run: contracts blocked"

    decision: Decision | None = None
    if result.decision == "invalid":  # no verdict decided this: the input did
        result.exit_code = EXIT_CODES["invalid"]
        result.summary = f"invalid input: {next(iter(result.invalid.values()))}"
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
