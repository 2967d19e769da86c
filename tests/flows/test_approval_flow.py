"""Sign-off on real paused flow runs under Prefect's test harness.

The flow runs in a thread (it blocks while paused); the test thread plays the approvers, either
in-process through the Prefect API or from another process with `launchgate approve`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.flow_runs import resume_flow_run
from prefect.input import delete_flow_run_input, read_flow_run_input
from prefect.input.run_input import keyset_from_paused_state
from prefect.settings import PREFECT_API_URL

from flows.release import release
from launchgate.cli import main
from launchgate.cli.approve import find_release_runs
from launchgate.errors import InputError
from launchgate.governance.rubric import gonogo_step
from launchgate.release.records import decide
from launchgate.verdicts import Phase, Verdict
from tasks.approval import approval_step
from tasks.flowrun import label_flow_run
from tasks.preflight import preflight
from tests.conftest import EXAMPLE, ROOT
from tests.support.sim import running_sim

CONFIG = str(EXAMPLE / "release.yaml")
# Short polls and timeouts; the load test and canary (their own tests) stay out of the way.
# readiness.enforce=warn: these tests are about the approval pause, not the readiness review (its own tests).
FAST = {"approvals.poll_interval_s": 0.2, "approvals.timeout_s": 60, "load_test.enabled": False,
        "canary.enabled": False, "readiness.enforce": "warn"}


@flow(name="approval-step")
def approval_only(artifacts: str, overrides: dict[str, Any], auto_approve: bool = False) -> dict[str, Any]:
    """The approval step alone (no eval), wired like flows/release.py wires it."""
    run = preflight(CONFIG, artifacts, overrides, ["preflight", "approval"])
    label_flow_run(run)
    verdicts = approval_step(run, [], auto_approve=auto_approve)
    run.bundle.put_text("notifications.jsonl", run.dispatcher.jsonl())
    return decide(run.release_id, run.config.service, verdicts, run.evidence_uri).model_dump(mode="json")


class Background:
    """Run a flow in a thread; keep its result or exception."""

    def __init__(self, fn: Callable[..., Any], **kwargs: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn, kwargs), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        try:
            self.result = fn(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            self.error = exc

    def join(self, timeout: float = 60) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "flow did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def wait_paused(bg: Background, run_id: UUID | None = None, after: UUID | None = None,
                timeout: float = 45) -> FlowRun:
    """The paused run (a new pause when ``after`` names the previous paused state)."""
    flt = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert bg.thread.is_alive(), f"flow ended without pausing: {bg.error or bg.result}"
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=flt, limit=5, sort=FlowRunSort.START_TIME_DESC)
        for r in runs:
            if (run_id is None or r.id == run_id) and r.state is not None and r.state.id != after:
                return r
        time.sleep(0.1)
    raise AssertionError("no paused flow run appeared")


def release_id_of(fr: FlowRun) -> str:
    return next(t for t in fr.tags if t.startswith("release:")).removeprefix("release:")


def resume(fr: FlowRun, role: str, approver: str, decision: str = "approve", comment: str = "") -> None:
    resume_flow_run(fr.id, run_input={"decision": decision, "role": role, "approver": approver, "comment": comment})


def approvals_of(store: Path, release_id: str) -> dict[str, Any]:
    return json.loads((store / "support-bot" / "releases" / release_id / "approvals" / "approvals.json").read_text())


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {name: stack.enter_context(running_sim(EXAMPLE / "variants.yaml", name))
               for name in ("stable", "good-candidate")}


def good(sims: dict[str, str], **extra: Any) -> dict[str, Any]:
    # The cost threshold is not what these tests are about; keep the eval's verdict out of the way.
    return {"stable.endpoint": sims["stable"], "candidate.endpoint": sims["good-candidate"],
            "candidate.model": "support-bot-good", "evaluation.max_cost_increase": 100, **FAST, **extra}


def test_release_approved_from_another_process_via_cli(sims: dict[str, str], tmp_path: Path) -> None:
    bg = Background(release, config=CONFIG, artifacts=str(tmp_path), overrides=good(sims))
    paused = wait_paused(bg, timeout=60)
    rid = release_id_of(paused)
    assert paused.name == rid
    # Another process, the shipped CLI, the harness's API.
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_LOGGING_LEVEL": "ERROR"}
    proc = subprocess.run([sys.executable, "-m", "launchgate.cli", "approve", rid, "--role", "engineering",
                           "--as", "alice", "--comment", "eval and schema look right"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "accepted: alice approves" in proc.stdout and "waiting for operations" in proc.stdout, proc.stdout
    # The run pauses again for operations; the same command in-process this time.
    again = wait_paused(bg, paused.id, after=paused.state.id)  # type: ignore[union-attr]
    out = CliRunner().invoke(main, ["approve", rid, "--role", "operations", "--as", "bob"])
    assert out.exit_code == 0, out.output
    result = bg.join()
    assert again.id == paused.id
    assert result["decision"] == "passed" and result["exit_code"] == 0, result["reasons"]
    ledger = approvals_of(tmp_path, rid)
    assert ledger["outcome"] == "approved" and ledger["flow_run_id"] == str(paused.id)
    assert [(e["approver"], e["role"], e["status"]) for e in ledger["entries"]] == [
        ("alice", "engineering", "accepted"), ("bob", "operations", "accepted")]
    assert ledger["entries"][0]["comment"] == "eval and schema look right"
    d = tmp_path / "support-bot" / "releases" / rid
    assert "alice (engineering" in (d / "review.md").read_text()
    names = {a["name"] for a in json.loads((d / "index.json").read_text())["artifacts"]}
    assert {"gonogo.json", "approvals/approvals.json", "review.md", "review.json"} <= names
    events = [json.loads(x)["event"] for x in (d / "notifications.jsonl").read_text().splitlines()]
    assert events.count("approval_requested") == 2  # engineering and operations owners
    # Nothing is paused any more: the CLI says so with exit 2.
    late = CliRunner().invoke(main, ["approve", rid, "--role", "operations", "--as", "bob"])
    assert late.exit_code == 2 and "not waiting for approval" in late.output


def test_rubric_no_go_never_pauses(sims: dict[str, str], tmp_path: Path) -> None:
    freeze = tmp_path / "support-bot" / "state" / "freeze.json"
    freeze.parent.mkdir(parents=True)
    freeze.write_text(json.dumps({"active": True, "reason": "drift review found schema drift",
                                  "set_by": "drift-review", "set_at": "2026-11-20T09:00:00Z"}))
    started = time.monotonic()
    result = release(config=CONFIG, artifacts=str(tmp_path), overrides=good(sims))
    assert time.monotonic() - started < 45  # a pause would wait 60 s
    assert result["decision"] == "blocked" and result["exit_code"] == 3
    assert any(r.startswith("go_no_go [failed]") and "release_freeze" in r for r in result["reasons"])
    d = tmp_path / "support-bot" / "releases" / result["release_id"]
    gonogo = json.loads((d / "gonogo.json").read_text())
    # (A freeze gate ahead of the eval may also stop the release earlier; the rubric still names the freeze.)
    assert gonogo["decision"] == "no_go" and "release_freeze" in gonogo["failed_items"]
    assert "drift-review" in next(i["reason"] for i in gonogo["items"] if i["item"] == "release_freeze")
    assert not (d / "approvals").exists()
    (fr,) = find_release_runs(result["release_id"])
    with get_client(sync_client=True) as client:
        states = client.read_flow_run_states(fr.id)
    assert StateType.PAUSED not in {s.type for s in states}


def test_rejection_by_one_role_blocks_with_exit_3(tmp_path: Path) -> None:
    bg = Background(approval_only, artifacts=str(tmp_path), overrides=FAST)
    first = wait_paused(bg)
    resume(first, "engineering", "alice")
    second = wait_paused(bg, first.id, after=first.state.id)  # type: ignore[union-attr]
    resume(second, "operations", "bob", "reject", "no alert on schema failures yet")
    result = bg.join()
    assert result["decision"] == "blocked" and result["exit_code"] == 3
    assert "bob (operations) rejected" in result["summary"] and "no alert" in result["summary"]
    ledger = approvals_of(tmp_path, release_id_of(first))
    assert ledger["outcome"] == "rejected"
    assert [(e["approver"], e["decision"]) for e in ledger["entries"]] == [("alice", "approve"), ("bob", "reject")]


def test_unlisted_approver_is_refused_recorded_and_the_run_keeps_waiting(tmp_path: Path) -> None:
    bg = Background(approval_only, artifacts=str(tmp_path), overrides=FAST)
    first = wait_paused(bg)
    # The form has no default decision, so a bare submission is refused by the API and changes nothing.
    with pytest.raises(RuntimeError, match="decision"):
        resume_flow_run(first.id, run_input={"role": "engineering", "approver": "alice"})
    resume(first, "engineering", "mallory", comment="lgtm")
    second = wait_paused(bg, first.id, after=first.state.id)  # type: ignore[union-attr]
    resume(second, "engineering", "alice")
    third = wait_paused(bg, first.id, after=second.state.id)  # type: ignore[union-attr]
    resume(third, "operations", "bob")
    result = bg.join()
    assert result["decision"] == "passed" and result["exit_code"] == 0
    rid = release_id_of(first)
    ledger = approvals_of(tmp_path, rid)
    assert [(e["approver"], e["status"]) for e in ledger["entries"]] == [
        ("mallory", "refused"), ("alice", "accepted"), ("bob", "accepted")]
    assert "not an approver for engineering" in ledger["entries"][0]["note"]
    assert "1 submission(s) refused" in result["summary"] or "refused" in result["reasons"][0]
    notes = (tmp_path / "support-bot" / "releases" / rid / "notifications.jsonl").read_text()
    assert '"approval_refused"' in notes


def test_timeout_blocks_with_exit_3_and_the_run_completes(tmp_path: Path) -> None:
    started = time.monotonic()
    result = approval_only(artifacts=str(tmp_path), overrides={**FAST, "approvals.timeout_s": 2})
    assert time.monotonic() - started < 20
    assert result["decision"] == "blocked" and result["exit_code"] == 3
    assert re.search(r"Approval timed out after \d+ s", result["summary"])  # 2 s, 3 on a busy machine
    assert "engineering, operations did not sign off" in result["summary"]
    ledger = approvals_of(tmp_path, result["release_id"])
    assert ledger["outcome"] == "timed_out" and ledger["entries"] == [] and ledger["waited_s"] >= 2
    # The timed-out pause was reclaimed, so the flow could record all of this and finish cleanly.
    (fr,) = find_release_runs(result["release_id"])
    assert fr.state is not None and fr.state.type is StateType.COMPLETED


def test_auto_approve_only_when_the_config_allows_it(tmp_path: Path) -> None:
    result = approval_only(artifacts=str(tmp_path / "a"), overrides=FAST, auto_approve=True)
    assert result["decision"] == "passed"
    ledger = approvals_of(tmp_path / "a", result["release_id"])
    assert ledger["auto"] and {e["approver"] for e in ledger["entries"]} == {"launchgate-auto"}
    with pytest.raises(InputError, match="allow_auto_approve is false"):
        approval_only(artifacts=str(tmp_path / "b"), auto_approve=True,
                      overrides={**FAST, "approvals.allow_auto_approve": False})
    # The CLI refuses before Prefect or any model is involved.
    out = CliRunner().invoke(main, ["release", "--config", CONFIG, "--artifacts", str(tmp_path / "c"),
                                    "--set", "approvals.allow_auto_approve=false", "--auto-approve"])
    assert out.exit_code == 2 and "--auto-approve is refused" in out.output
    assert not (tmp_path / "c").exists()


def test_approve_without_a_paused_run_exits_2() -> None:
    out = CliRunner().invoke(main, ["approve", "support-bot-20000101T000000Z-00000000", "--role", "engineering",
                                    "--as", "alice"])
    assert out.exit_code == 2 and "no paused flow run found" in out.output


GATE_VERDICTS = [
    Verdict(check="eval_score", phase=Phase.SUCCESSFUL, value=0.08, threshold=0.02,
            reason="Eval score 0.930 >= baseline 0.850 + min_delta 0.020 (delta +0.080) over 267 cases."),
    Verdict(check="schema_validity", phase=Phase.SUCCESSFUL, value=1.0, threshold=0.99, reason="Schema 100%."),
    Verdict(check="cost_per_request", phase=Phase.SUCCESSFUL, value=0.0, threshold=0.2, reason="Cost +0%."),
]


@flow(name="approval-after-go")
def approval_after_go(artifacts: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Go/no-go on given gate verdicts, then the approval step, as flows/release.py runs them."""
    run = preflight(CONFIG, artifacts, overrides, ["preflight", "go_no_go", "approval"])
    label_flow_run(run)
    verdicts = list(GATE_VERDICTS)
    _, done = gonogo_step(run, verdicts)
    verdicts += done.verdicts
    verdicts += approval_step(run, verdicts)
    return decide(run.release_id, run.config.service, verdicts, run.evidence_uri).model_dump(mode="json")


def pause_description(fr: FlowRun) -> str:
    assert fr.state is not None
    return read_flow_run_input(keyset_from_paused_state(fr.state)["description"], fr.id)


def test_the_pause_form_shows_the_evidence_and_who_signed(tmp_path: Path) -> None:
    bg = Background(approval_after_go, artifacts=str(tmp_path), overrides=FAST)
    first = wait_paused(bg)
    md = pause_description(first)
    assert "Go/no-go: GO" in md and "Evaluation gate passed" in md and "successful" in md, md
    assert "0.930" in md and "baseline 0.850" in md
    assert "Load SLO met" in md and "not applicable" in md  # load and drill did not run here, and it says so
    assert str(tmp_path) in md and release_id_of(first) in md  # the bundle
    assert "alice" in md and "bob" in md
    resume(first, "engineering", "alice")
    second = wait_paused(bg, first.id, after=first.state.id)  # type: ignore[union-attr]
    assert "approved by alice" in pause_description(second)
    resume(second, "operations", "bob")
    assert bg.join()["exit_code"] == 0


def test_cli_refuses_an_unlisted_approver_before_submitting_and_reports_the_runs_answer(tmp_path: Path) -> None:
    bg = Background(approval_only, artifacts=str(tmp_path), overrides=FAST)
    first = wait_paused(bg)
    rid = release_id_of(first)
    runner = CliRunner()
    # Not listed for engineering (bob signs for operations): refused here, exit 3, nothing submitted.
    out = runner.invoke(main, ["approve", rid, "--role", "engineering", "--as", "bob"])
    assert out.exit_code == 3, out.output
    assert "not an approver for engineering" in out.output and "alice" in out.output
    assert "nothing was submitted" in out.output.lower()
    with get_client(sync_client=True) as client:
        still = client.read_flow_run(first.id)
    assert still.state is not None and still.state.id == first.state.id  # the same pause, untouched
    # A listed approver learns what the run made of it, not just that something was sent.
    ok = runner.invoke(main, ["approve", rid, "--role", "engineering", "--as", "alice", "--wait", "30"])
    assert ok.exit_code == 0, ok.output
    assert "accepted" in ok.output and "waiting for operations" in ok.output, ok.output
    second = wait_paused(bg, first.id, after=first.state.id)  # type: ignore[union-attr]
    last = runner.invoke(main, ["approve", rid, "--role", "operations", "--as", "BOB", "--wait", "30"])
    assert last.exit_code == 0 and "all roles signed" in last.output, last.output
    result = bg.join()
    assert result["exit_code"] == 0
    ledger = approvals_of(tmp_path, rid)
    assert [(e["approver"], e["status"]) for e in ledger["entries"]] == [("alice", "accepted"), ("BOB", "accepted")]
    assert second.id == first.id


def test_cli_falls_back_to_the_config_for_a_run_that_published_no_list(tmp_path: Path) -> None:
    bg = Background(approval_only, artifacts=str(tmp_path), overrides=FAST)
    first = wait_paused(bg)
    rid = release_id_of(first)
    assert first.state is not None
    # As a run of an earlier launchgate would be: no list published with its pause.
    delete_flow_run_input(f"launchgate-signoff-{first.state.state_details.pause_key}", first.id)
    out = CliRunner().invoke(main, ["approve", rid, "--role", "engineering", "--as", "mallory", "--config", CONFIG])
    assert out.exit_code == 3 and "alice" in out.output, out.output
    ok = CliRunner().invoke(main, ["approve", rid, "--role", "engineering", "--as", "alice", "--wait", "0"])
    assert ok.exit_code == 0 and "submitted" in ok.output, ok.output
    second = wait_paused(bg, first.id, after=first.state.id)
    resume(second, "operations", "bob")
    assert bg.join()["exit_code"] == 0
