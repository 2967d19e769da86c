"""Load-test task: progress and the report artifact around launchgate/loadtest/step.py."""

from __future__ import annotations

import threading
import time

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.loadtest.step import load_test_step
from launchgate.notify import progress
from launchgate.release.preflight import ReleaseRun
from launchgate.settings import get_settings
from launchgate.verdicts import Verdict


@task(name="load-test", cache_policy=NO_CACHE, timeout_seconds=3600)
def load_test(run: ReleaseRun) -> list[Verdict]:
    log = get_run_logger()
    lt = run.config.load_test
    rps = lt.expected_peak_rps * lt.multiplier
    artifact_id = create_progress_artifact(progress=0.0, key="load-test-progress",
                                           description=f"load test: {rps:g} req/s for {lt.duration_s:g} s")
    lock = threading.Lock()
    started = time.monotonic()

    def on_progress(stage: str, fraction: float) -> None:
        # Called about once a second by the engine runner: cheap enough for an API call each time.
        with lock:
            progress.emit("load_test", round(fraction * lt.duration_s), round(lt.duration_s))
            update_progress_artifact(artifact_id=artifact_id, progress=round(100.0 * fraction, 1),
                                     description=f"load test {stage}: {fraction * lt.duration_s:.0f}/"
                                                 f"{lt.duration_s:g} s at {rps:g} req/s, "
                                                 f"{time.monotonic() - started:.0f} s elapsed")

    def on_line(line: str) -> None:
        if " NOTICE " in line or " ERROR " in line:  # aiperf's milestones and failures, not its chatter
            log.info("aiperf: %s", line.strip()[:300])

    done = load_test_step(run, aiperf_bin=get_settings().aiperf_bin, on_progress=on_progress, on_line=on_line)
    update_progress_artifact(artifact_id=artifact_id, progress=100.0)
    create_markdown_artifact(key="load-test-report", markdown=done.markdown,
                             description=f"load test of {run.release_id}")
    log.info("%s", done.summary)
    return done.verdicts
