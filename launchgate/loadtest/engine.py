"""Run aiperf as a subprocess and turn whatever happens into a LoadReport and verdicts.

aiperf lives in its own virtual environment (.venv-aiperf, made by ``make aiperf``): its
dependencies (transformers, pandas 2, ...) clash with the main environment's pins. It is
never imported here; launchgate only starts it, reads its progress lines, and parses the
files it writes. Every way the run can go wrong ends in a verdict with a reason a person can
act on: engine missing (error), endpoint unreachable (failed), engine crash or timeout
(error) — never a hang or a traceback.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from launchgate.config import ReleaseConfig
from launchgate.loadtest.analysis import (
    RECORDS_FILE,
    SUMMARY_FILE,
    CostEstimate,
    EngineInfo,
    LoadPlan,
    LoadReport,
    build_command,
    cost_verdict,
    estimate_cost,
    inputs_jsonl,
    load_verdicts,
    parse_export,
    redact_command,
)
from launchgate.verdicts import Phase, Verdict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / ".venv-aiperf" / "bin" / "aiperf"
INSTALL_HINT = "run `make aiperf` (creates .venv-aiperf) or set LAUNCHGATE_AIPERF_BIN to an aiperf executable"
TOKENIZER_SCRIPT = Path(__file__).with_name("aiperf_tokenizer.py")
TOKENIZER_FORMAT = "wordlevel-v1"  # bump to rebuild cached tokenizers after changing the script
# aiperf needs 3-10 s to start its services and load the tokenizer and dataset, more on a busy
# machine, then a moment to export: the time allowed on top of duration + grace.
STARTUP_MARGIN_S = 90.0

Progress = Callable[[str, float], None]  # (stage: starting|running|draining|done, fraction 0..1)
LineSink = Callable[[str], None]


# ---------------------------------------------------------------------------- locating the engine


def find_engine(configured: str | None = None) -> str | None:
    """The aiperf executable: the setting, else <repo>/.venv-aiperf/bin/aiperf, else aiperf on PATH."""
    if configured:
        if os.sep in configured:
            path = Path(configured).expanduser()
            return str(path) if path.is_file() and os.access(path, os.X_OK) else None
        return shutil.which(configured)
    if DEFAULT_BIN.is_file() and os.access(DEFAULT_BIN, os.X_OK):
        return str(DEFAULT_BIN)
    return shutil.which("aiperf")


def engine_python(aiperf_bin: str) -> str | None:
    """The interpreter aiperf runs on (it has tokenizers + transformers): its venv's python or its shebang."""
    sibling = Path(aiperf_bin).parent / "python"
    if sibling.exists():
        return str(sibling)
    with contextlib.suppress(OSError, UnicodeDecodeError):
        first = Path(aiperf_bin).read_text(encoding="utf-8", errors="strict")[:512].splitlines()[0]
        if first.startswith("#!"):
            interp = first[2:].strip().split()[0]
            if Path(interp).exists():
                return interp
    return None


# ---------------------------------------------------------------------------- preparing inputs


def probe_endpoint(endpoint: str, timeout_s: float = 3.0) -> str | None:
    """None when a TCP connection to the endpoint opens; else why not (refused, no such host, timeout).

    Checked before starting the engine: aiperf takes ~10 s to start and would then record a wall of
    connection errors; this says the same thing in one line, at once.
    """
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout_s:g} s"
    except socket.gaierror as exc:
        return f"cannot resolve host {host!r} ({exc.strerror})"
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


def ensure_tokenizer(aiperf_bin: str, texts: Sequence[str], cache_root: Path, timeout_s: float = 180.0) -> Path:
    """An offline tokenizer folder for these texts, built once with the engine's python and cached.

    The folder is built next to its final place and renamed into it, so concurrent releases never
    see a half-written tokenizer. Raises RuntimeError with the builder's stderr when it fails.
    """
    digest = hashlib.sha256("\n".join([TOKENIZER_FORMAT, *texts]).encode()).hexdigest()[:16]
    root = cache_root.resolve() / "tokenizer"
    target = root / digest
    if (target / "tokenizer.json").is_file():
        return target
    python = engine_python(aiperf_bin)
    if python is None:
        raise RuntimeError(f"cannot find the python interpreter of {aiperf_bin} to build a tokenizer")
    work = root / f".build-{digest}-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        corpus = work / "corpus.txt"
        corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
        proc = subprocess.run([python, str(TOKENIZER_SCRIPT), str(corpus), str(work / "out")],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"building the load-test tokenizer failed (exit {proc.returncode}): {tail}")
        try:
            os.replace(work / "out", target)
        except OSError:
            if not (target / "tokenizer.json").is_file():  # lost a race to an identical build: fine
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------- running the engine

# The engine needs none of the release's credentials (the endpoint key goes on its command line,
# redacted in the evidence), and its logs are stored as evidence: keep them out of its environment.
_SECRETISH = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|API_?KEY|ACCESS_KEY|^AWS_|^SLACK|^LAUNCHGATE_", re.I)
# With either set, transformers reads the local tokenizer path as a hub id and fails (HFValidationError).
_BREAKS_LOCAL_TOKENIZER = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def engine_env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not _SECRETISH.search(k) and k not in _BREAKS_LOCAL_TOKENIZER}
    return {**env, **extra}



@dataclass
class EngineRun:
    returncode: int | None
    timed_out: bool
    wall_s: float
    stdout_tail: list[str] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)


class StageTracker:
    """Turns aiperf's log lines into (stage, fraction of the sending window done)."""

    def __init__(self, duration_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.duration_s = duration_s
        self.clock = clock
        self.stage = "starting"
        self.started_at: float | None = None
        self.shutdown_at: float | None = None

    def feed(self, line: str) -> None:
        if "Phase profiling" in line and "started" in line and self.started_at is None:
            self.stage, self.started_at = "running", self.clock()
        elif "Phase profiling" in line and "sending complete" in line:
            self.stage = "draining"
        elif "initiating shutdown" in line and self.shutdown_at is None:
            self.shutdown_at = self.clock()

    def stuck_in_shutdown(self, grace_s: float) -> bool:
        """aiperf sometimes never exits after its results are written (seen when every request failed)."""
        return self.shutdown_at is not None and self.clock() - self.shutdown_at > grace_s

    def fraction(self) -> float:
        if self.started_at is None:
            return 0.0
        if self.stage == "draining":
            return 1.0
        return min(1.0, (self.clock() - self.started_at) / self.duration_s)


def _pump(stream: Any, tail: collections.deque[str], sink: LineSink | None) -> None:
    for raw in iter(stream.readline, ""):
        line = raw.rstrip("\n")
        tail.append(line)
        if sink is not None:
            with contextlib.suppress(Exception):  # a broken log sink must not stall the engine's pipe
                sink(line)
    stream.close()


def _exited(proc: subprocess.Popen[str]) -> bool:
    """Whether the engine's main process has exited, *without reaping it*.

    While it is an unreaped zombie its pid, which is also its private process group's id, cannot
    be reused, so signalling that group afterwards can only ever hit the engine's own children.
    """
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _wait_exit(proc: subprocess.Popen[str], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not _exited(proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _stop(proc: subprocess.Popen[str]) -> None:
    """Ask the engine and the services it spawned (its own process group) to stop, politely first."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        if _wait_exit(proc, 5.0):
            return


def _reap(proc: subprocess.Popen[str]) -> None:
    """Kill whatever is left of the group (aiperf can leave a service behind), then reap the main process."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _with_parent_death_signal(cmd: Sequence[str]) -> list[str]:
    """Have the kernel SIGTERM the engine if this process dies (killed test run, OOM, worker crash).

    ``finally`` cannot run on SIGKILL; without this an aiperf started by a dead parent lives on.
    setpriv (util-linux) sets PR_SET_PDEATHSIG and execs the command in place; where it is missing
    (macOS) the engine runs without it.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", *cmd] if setpriv and os.uname().sysname == "Linux" else list(cmd)


def run_engine(
    cmd: Sequence[str], *, timeout_s: float, duration_s: float, on_line: LineSink | None = None,
    on_progress: Progress | None = None, tick_s: float = 1.0, env: Mapping[str, str] | None = None,
    shutdown_grace_s: float = 30.0,
) -> EngineRun:
    """Run aiperf to completion or ``timeout_s``; stream its lines and progress; never raises on its failure.

    A run that logged its shutdown but has not exited ``shutdown_grace_s`` later is stopped; its
    exported files are already written, so it still counts (``timed_out`` stays false).
    """
    tracker = StageTracker(duration_s)
    out_tail: collections.deque[str] = collections.deque(maxlen=60)
    err_tail: collections.deque[str] = collections.deque(maxlen=60)

    def sink(line: str) -> None:
        tracker.feed(line)
        if on_line is not None:
            on_line(line)

    start = time.monotonic()
    proc = subprocess.Popen(
        _with_parent_death_signal(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True, errors="replace", start_new_session=True, env=dict(env) if env is not None else None,
    )
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, out_tail, sink), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, err_tail, None), daemon=True)]
    for t in pumps:
        t.start()
    timed_out = False
    try:
        while not _wait_exit(proc, tick_s):
            if on_progress is not None:
                with contextlib.suppress(Exception):
                    on_progress(tracker.stage, tracker.fraction())
            if time.monotonic() - start > timeout_s:
                timed_out = True
                _stop(proc)
                break
            if tracker.stuck_in_shutdown(shutdown_grace_s):
                _stop(proc)
                break
    finally:  # also on KeyboardInterrupt or a cancelled task: leave no orphans
        if not _exited(proc):
            _stop(proc)
        _reap(proc)
    for t in pumps:
        t.join(timeout=5)
    if on_progress is not None:
        with contextlib.suppress(Exception):
            on_progress("done", 1.0)
    return EngineRun(returncode=proc.returncode, timed_out=timed_out, wall_s=round(time.monotonic() - start, 2),
                     stdout_tail=list(out_tail), stderr_tail=list(err_tail))


def read_export(artifact_dir: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """aiperf's summary JSON (None if absent/unreadable) and its per-request records."""
    summary: dict[str, Any] | None = None
    with contextlib.suppress(OSError, json.JSONDecodeError, UnicodeDecodeError):
        loaded = json.loads((artifact_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
        summary = loaded if isinstance(loaded, dict) else None
    records: list[dict[str, Any]] = []
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in (artifact_dir / RECORDS_FILE).read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                row = json.loads(line)
                if isinstance(row, dict):
                    records.append(row)
    return summary, records


# ---------------------------------------------------------------------------- the whole step


class LoadOutcome(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    plan: LoadPlan
    cost: CostEstimate
    verdicts: list[Verdict]
    report: LoadReport | None = None
    artifact_dir: Path | None = Field(default=None, description="the engine's output folder (raw export)")
    secrets: list[str] = Field(default_factory=list, exclude=True, repr=False)


def _tail(lines: Sequence[str], n: int = 6) -> str:
    useful = [ln.strip() for ln in lines if ln.strip() and not set(ln.strip()) <= set("│╭╮╰╯─ ")]
    return " | ".join(useful[-n:])[-600:]


def run_load_test(
    cfg: ReleaseConfig, system_prompt: str, inputs: Sequence[Mapping[str, Any]], *, work_dir: Path,
    aiperf_bin: str | None = None, cache_root: Path = Path(".launchgate/cache"),
    remaining_budget_usd: float | None = None, evidence: str | None = None,
    on_line: LineSink | None = None, on_progress: Progress | None = None,
) -> LoadOutcome:
    """Drive the candidate at ``multiplier`` x expected peak and judge it. Never raises for a failed run."""
    lt, variant = cfg.load_test, cfg.candidate
    plan = LoadPlan.from_config(lt, variant, cfg.contracts.max_output_tokens)
    cost = estimate_cost(plan, system_prompt, inputs, cfg.pricing)
    budget = cost_verdict(cost, lt.cost_cap_usd, remaining_budget_usd)

    def stop(check: str, phase: Phase, reason: str, **extra: Any) -> LoadOutcome:
        v = Verdict(check=check, phase=phase, reason=reason, evidence=evidence)
        return LoadOutcome(plan=plan, cost=cost, verdicts=[budget, v], **extra)

    if budget.blocks:
        return LoadOutcome(plan=plan, cost=cost, verdicts=[budget])
    exe = find_engine(aiperf_bin)
    if exe is None:
        where = f" ({aiperf_bin} is not an executable)" if aiperf_bin else ""
        return stop("load_engine", Phase.ERROR, f"aiperf not installed{where}: {INSTALL_HINT}. No load was sent.")
    down = probe_endpoint(plan.endpoint)
    if down is not None:
        return stop("load_endpoint", Phase.FAILED,
                    f"Candidate endpoint {plan.endpoint} is unreachable ({down}): no load could be sent. Check "
                    f"that the deployment is up and candidate.endpoint is right.")
    texts = [json.dumps(dict(i), ensure_ascii=False, sort_keys=True) for i in inputs]
    try:
        tokenizer = ensure_tokenizer(exe, texts + [system_prompt], cache_root)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return stop("load_engine", Phase.ERROR, f"The load engine could not be prepared: {exc}")

    work_dir.mkdir(parents=True, exist_ok=True)
    input_file = work_dir / "inputs.jsonl"
    input_file.write_text(inputs_jsonl(inputs), encoding="utf-8")
    prompt_file = work_dir / "system_prompt.txt"
    prompt_file.write_text(system_prompt, encoding="utf-8")
    artifact_dir = work_dir / "aiperf"
    api_key = os.environ.get(variant.api_key_env) if variant.api_key_env else None
    cmd = build_command(exe, plan, tokenizer_dir=str(tokenizer), input_file=str(input_file.resolve()),
                        system_prompt_file=str(prompt_file.resolve()), artifact_dir=str(artifact_dir.resolve()),
                        api_key=api_key)
    timeout = STARTUP_MARGIN_S + plan.duration_s + plan.grace_s
    # aiperf leaves its mmap/IPC scratch folders in TMPDIR: give it a private one and remove it after.
    # Short on purpose: its unix sockets live below it, and socket paths are limited to 107 bytes.
    scratch = tempfile.mkdtemp(prefix="lg-aiperf-")
    try:
        run = run_engine(cmd, timeout_s=timeout, duration_s=plan.duration_s, on_line=on_line,
                         on_progress=on_progress, env=engine_env(os.environ, TMPDIR=scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    info = EngineInfo(command=redact_command(cmd, [api_key]), returncode=run.returncode, wall_s=run.wall_s)
    secrets = [api_key] if api_key else []
    if run.timed_out:
        return stop("load_engine", Phase.ERROR,
                    f"aiperf did not finish within {timeout:.0f} s and was stopped: {_tail(run.stdout_tail)}",
                    artifact_dir=artifact_dir, secrets=secrets)
    summary, records = read_export(artifact_dir)
    if summary is None and not records:
        tail = _tail(run.stderr_tail) or _tail(run.stdout_tail)
        return stop("load_engine", Phase.ERROR,
                    f"aiperf exited {run.returncode} without results: {tail or 'no output'}",
                    artifact_dir=artifact_dir, secrets=secrets)
    report = parse_export(summary, records, plan, lt.slo, info, cfg.pricing)
    verdicts = [budget, *load_verdicts(report, lt, evidence)]
    return LoadOutcome(plan=plan, cost=cost, verdicts=verdicts, report=report, artifact_dir=artifact_dir,
                       secrets=secrets)
