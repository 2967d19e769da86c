"""The contracts step of a release: schemas and the golden set checked, evidence written, a StepResult back.

The suite and its verdicts are launchgate/eval/contracts.py; this module runs them for one release
(or one ``launchgate check``) and writes ``contracts/``: GX's validation result, its Data Docs,
``summary.json`` and ``contracts.md``. What a person should see in the orchestrator comes back as
data: the Markdown summary and a table of the golden-set rows that break a contract.
"""

from __future__ import annotations

import mimetypes
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from launchgate.config import ReleaseConfig
from launchgate.eval.contracts import (
    DOCS_PREFIX,
    EVIDENCE,
    SUITE,
    ContractsReport,
    GoldenRules,
    contract_verdicts,
    golden_set_ready,
    load_schemas,
    schema_verdicts,
    validate_golden_set,
)
from launchgate.store.bundle import ReleaseBundle
from launchgate.verdicts import Phase, StepResult, Verdict

if TYPE_CHECKING:  # preflight pulls in the store and notifier stacks; only the type is needed here
    from launchgate.release.preflight import ReleaseRun

STEP = "contracts"
SUMMARY = "contracts/summary.json"
MARKDOWN = "contracts/contracts.md"
FAILING_ROWS_TABLE = "contracts-failing-rows"
SHOWN_TABLE_ROWS = 50  # per expectation, in the orchestrator's table; the evidence lists every row


def golden_rules(config: ReleaseConfig, schemas: dict[str, tuple[Any, Any]], prompts: dict[str, str]) -> GoldenRules:
    return GoldenRules(
        output_schema=schemas["output"][1],
        input_schema=schemas["input"][1] if config.contracts.input_schema_enforced else None,
        prompts=[prompts["candidate"], prompts["stable"]],
        max_context_chars=config.contracts.max_context_chars, known_tags=config.evaluation.known_tags,
    )


def contracts_ready(config: ReleaseConfig, prompts: dict[str, str]) -> bool:
    """Would the contracts step pass? Schemas and golden set checked in plain Python, no GX, no writes.

    A guess for scheduling only (see ``golden_set_ready``): the step's own result decides.
    """
    try:
        schemas = load_schemas(config.contracts.output_schema, config.contracts.input_schema)
    except Exception:  # noqa: BLE001 - whatever the step would say about it, it is not "surely passes"
        return False
    if any(v.blocks for v in schema_verdicts(schemas)):
        return False
    return golden_set_ready(config.evaluation.golden_set, golden_rules(config, schemas, prompts))


def contracts_markdown(report: ContractsReport | None, verdicts: list[Verdict]) -> str:
    lines = ["# Contracts: golden set and schemas", "", "| check | phase | reason |", "|---|---|---|"]
    lines += [f"| {v.check} | {v.phase.value} | {v.reason} |" for v in verdicts]
    if report is not None:
        lines += ["", f"Great Expectations suite `{SUITE}` over {report.rows} rows:", "",
                  "| expectation | meaning | result |", "|---|---|---|"]
        for o in report.outcomes:
            status = "error" if o.error else ("ok" if o.success else f"{o.unexpected_count} rows")
            lines.append(f"| `{o.expectation}` | {o.meaning} | {status} |")
        lines += ["", f"Data Docs: `{DOCS_PREFIX}index.html`", ""]
    return "\n".join(lines)


def check_contracts(config: ReleaseConfig, prompts: dict[str, str], hashes: dict[str, str],
                    bundle: ReleaseBundle) -> StepResult:
    """The step on plain, picklable inputs (a worker process may run it): verdicts, and evidence in ``bundle``.

    ``hashes`` are preflight's: a golden set that changed on disk since is an ERROR verdict.
    """
    schemas = load_schemas(config.contracts.output_schema, config.contracts.input_schema)
    verdicts = schema_verdicts(schemas)
    report: ContractsReport | None = None
    written: list[str] = []
    if not any(v.blocks for v in verdicts):  # an invalid schema would make the GX suite itself error
        path = config.evaluation.golden_set
        report = validate_golden_set(path, golden_rules(config, schemas, prompts))
        if report.sha256 != hashes.get("golden_set", report.sha256):
            verdicts.append(Verdict(
                check="golden_set_unchanged", phase=Phase.ERROR, evidence=EVIDENCE,
                value={"preflight": hashes.get("golden_set"), "contracts": report.sha256},
                reason=f"Golden set {path.name} changed on disk since preflight hashed it: rerun the release so "
                       f"the evidence describes one version of the file.",
            ))
        verdicts += contract_verdicts(report, path)
        bundle.put_json(EVIDENCE, report.validation_result)
        written.append(EVIDENCE)
        for rel, data in report.docs.items():
            bundle.put_bytes(DOCS_PREFIX + rel, data, mimetypes.guess_type(rel)[0] or "application/octet-stream")
            written.append(DOCS_PREFIX + rel)
    bundle.put_json(SUMMARY, {
        "verdicts": verdicts,
        "rows": report.rows if report else None,
        "golden_set_sha256": report.sha256 if report else None,
        "expectations": [asdict(o) for o in report.outcomes] if report else [],
    })
    md = contracts_markdown(report, verdicts)
    bundle.put_text(MARKDOWN, md, "text/markdown")
    written += [SUMMARY, MARKDOWN]
    failing = [{"expectation": o.expectation, "line": r.get("line"), "case": r.get("id") or ""}
               for o in (report.failed if report else []) for r in o.rows[:SHOWN_TABLE_ROWS]]
    blocking = [v for v in verdicts if v.blocks]
    summary = (f"{len(blocking)} check(s) failed; first: {blocking[0].reason}" if blocking else
               f"golden set ({report.rows if report else '?'} rows) and schemas are valid")
    return StepResult(step=STEP, verdicts=verdicts, evidence=written, summary=summary, markdown=md,
                      tables={FAILING_ROWS_TABLE: failing} if failing else {})


def contracts_step(run: ReleaseRun) -> StepResult:
    """The contracts step of a release."""
    return check_contracts(run.config, run.prompts, run.hashes, run.bundle)
