"""Go/no-go task: apply the rubric to every verdict so far and write the decision record."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from launchgate.governance.rubric import GoNoGo, apply_rubric, gonogo_markdown, read_freeze
from launchgate.notify.base import Notice
from launchgate.release.preflight import ReleaseRun
from launchgate.verdicts import Verdict
from tasks.notify import notify


# No retries: bundle writes are write-once, so a retry after a partial write could never succeed.
@task(name="go-no-go", cache_policy=NO_CACHE, timeout_seconds=120)
def go_no_go(run: ReleaseRun, verdicts: list[Verdict]) -> GoNoGo:
    """Writes gonogo.json + gonogo.md; the caller appends ``record.verdict()`` to the verdicts."""
    # Read at decision time: a freeze set while the eval ran still stops this release.
    freeze = read_freeze(run.store, run.config.service)
    record = apply_rubric(run.release_id, run.config, list(verdicts), freeze)
    md = gonogo_markdown(record)
    run.bundle.put_json("gonogo.json", record)
    run.bundle.put_text("gonogo.md", md, "text/markdown")
    create_markdown_artifact(key="go-no-go", markdown=md, description=record.summary[:250])
    return record


def go_no_go_verdicts(run: ReleaseRun, verdicts: list[Verdict]) -> list[Verdict]:
    """The gate-step shape flows/release.py expects: run -> new verdicts (and tell engineering)."""
    record = go_no_go(run, verdicts)
    verdict = record.verdict()
    title = "Go/no-go: go" if record.decision == "go" else f"Go/no-go: no-go on {', '.join(record.failed_items)}"
    notify(run, Notice(event="go_no_go", role="engineering", service=run.config.service, release_id=run.release_id,
                       status="passed" if record.decision == "go" else "blocked", title=title, text=record.summary,
                       link=run.evidence_uri))
    return [verdict]
