"""The readiness review's rules (pure): the catalogue's coverage, how checks, attestations and
not-applicable marks combine, expiry on a controlled clock, and the release verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from launchgate.config import ReleaseConfig, load_config
from launchgate.config.readiness import ROLES
from launchgate.readiness.attestations import Attestation, people, standing
from launchgate.readiness.catalogue import load_catalogue, service_items
from launchgate.readiness.evidence import Evidence
from launchgate.readiness.models import Status
from launchgate.readiness.review import evaluate, judge_item
from launchgate.readiness.step import readiness_verdict
from launchgate.verdicts import Phase
from tests.conftest import EXAMPLE

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
SHA = "ab" * 32


def cfg(**overrides: Any) -> ReleaseConfig:
    return load_config(EXAMPLE / "release.yaml", overrides, check_files=False)


def sign(item: str, by: str, at: datetime = T0, days: int = 90, **kw: Any) -> Attestation:
    role = load_catalogue().get(item).owner  # type: ignore[union-attr]
    return Attestation(item=item, action="sign", by=by, role=role, at=at, expires_at=at + timedelta(days=days), **kw)


def item(item_id: str) -> Any:
    found = load_catalogue().get(item_id)
    assert found is not None
    return found


def test_the_catalogue_lists_every_seed_section_with_owners_and_a_required_floor() -> None:
    cat = load_catalogue()
    assert len(cat.items) >= 60 and len({i.id for i in cat.items}) == len(cat.items)
    assert {s for i in cat.items for s in i.sources} == set(cat.sections)  # every seed list is covered
    assert all(i.owner in ROLES for i in cat.items)
    floor = {"s2.condensed", "s2.gonogo", "s2.evidence", "s2.questions", "s2.final", "s1.mvp.must"}
    # (the "every item verified" summary items are judged from the others, so never required themselves)
    assert all(i.required for i in cat.items if floor & set(i.sources) and i.check != "checklist_complete")
    # The seed's condensed checklist has 17 lines, the rubric 4, the evidence list 4, the questions 10.
    count = {s: sum(s in i.sources for i in cat.items) for s in ("s2.condensed", "s2.gonogo", "s2.evidence",
                                                                  "s2.questions")}
    assert count == {"s2.condensed": 17, "s2.gonogo": 4, "s2.evidence": 4, "s2.questions": 10}


def test_a_missing_check_may_be_attested_a_failed_one_never() -> None:
    c = cfg()
    who = people(c)
    missing_log = Evidence(config=c, now=T0)  # no request log: request-logging's check is missing
    att = [sign("request-logging", "bob")]
    r = judge_item(item("request-logging"), missing_log, att, who, T0)
    assert r.status is Status.ATTESTED and "could not decide" in r.reason and r.by == "bob"
    slow = cfg(**{"candidate.timeout_s": 300})
    r = judge_item(item("llm-timeouts"), Evidence(config=slow, now=T0), [sign("llm-timeouts", "alice")], who, T0)
    assert r.status is Status.FAILED


def test_an_attestation_expires_on_the_clock_given() -> None:
    rec = [sign("security-signoff", "dana", days=30)]
    it = item("security-signoff")
    assert standing(rec, it, T0 + timedelta(days=29), people_of_role=["dana"]).status is Status.ATTESTED
    late = standing(rec, it, T0 + timedelta(days=31), people_of_role=["dana"])
    assert late.status is Status.EXPIRED and "expired on 2026-02-09" in late.reason


def test_a_signer_no_longer_listed_no_longer_vouches() -> None:
    assert standing([sign("security-signoff", "dana")], item("security-signoff"), T0,
                    people_of_role=["erin"]).status is Status.MISSING


def test_both_needs_the_check_and_an_attestation_of_the_current_file() -> None:
    c = cfg()
    ev = Evidence(config=c, now=T0, runbook_path="runbook.md", runbook_sha256=SHA)
    it, who = item("runbook-approved"), people(c)
    assert judge_item(it, ev, [], who, T0).status is Status.MISSING
    assert judge_item(it, ev, [sign(it.id, "bob", subject_sha256=SHA)], who, T0).status is Status.ATTESTED
    stale = judge_item(it, ev, [sign(it.id, "bob", subject_sha256="cd" * 32)], who, T0)
    assert stale.status is Status.MISSING and "changed since" in stale.reason


def test_not_applicable_marks_and_added_items_show_in_every_review() -> None:
    c = cfg(**{"readiness.items": [{"id": "dpa-signed", "title": "DPA signed", "owner": "compliance"}]})
    items = service_items(c.readiness)
    assert len(items) == len(load_catalogue().items) + 1 and items[-1].added and items[-1].verify == "attest"
    report = evaluate(Evidence(config=c, now=T0), items, [], people(c), T0)
    by = {r.id: r for r in report.items}
    assert by["user-consent"].status is Status.NOT_APPLICABLE and "frank" in by["user-consent"].reason
    assert by["dpa-signed"].status is Status.MISSING and "dpa-signed" in report.blocking
    assert report.counts.total == len(items) and report.counts.not_applicable == 2


def test_the_release_verdict_names_items_and_owners_and_warn_does_not_block() -> None:
    c = cfg()
    report = evaluate(Evidence(config=c, now=T0), service_items(c.readiness), [], people(c), T0)
    v = readiness_verdict(report)
    assert v.phase is Phase.FAILED and "input-schema-enforced (engineering: missing)" in v.reason
    assert f"and {len(report.blocking) - 6} more" in v.reason
    warn = cfg(**{"readiness.enforce": "warn"})
    report = evaluate(Evidence(config=warn, now=T0), service_items(warn.readiness), [], people(warn), T0)
    v = readiness_verdict(report)
    assert v.phase is Phase.SUCCESSFUL and v.reason.startswith("(readiness.enforce is warn")
