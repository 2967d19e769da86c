"""Contracts: the golden set and the schemas are checked before any model is called.

The golden set goes through a Great Expectations suite (one row per JSONL line): required
fields, unique ids, inputs present and valid against the input schema, rendered input length
<= ``contracts.max_context_chars``, expected outputs valid against the output schema, tags from
``evaluation.known_tags``. Both schemas must themselves be valid JSON Schema. Every failed
expectation becomes a FAILED verdict naming the rows (line number and case id) so the person
fixing the file knows where to look.

Evidence: ``contracts/validation_result.json`` (GX's result) and GX Data Docs (HTML, built in
a temporary folder, then copied into the bundle under ``contracts/data_docs/``).

Great Expectations takes ~3.5 s and ~200 MB to import, so it is imported inside the
functions that need it: importing this module (or the flow) stays cheap.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from launchgate.config.files import decode_text, read_bytes
from launchgate.eval.golden import read_json_file, render_messages
from launchgate.verdicts import Phase, Verdict

EVIDENCE = "contracts/validation_result.json"
DOCS_PREFIX = "contracts/data_docs/"
SUITE = "golden_set"
ROW_KEYS = ["line", "id"]
SHOWN_ROWS = 8
# Data Docs ship ~3.4 MB of tutorial GIFs that no generated page references: not evidence.
DOCS_SKIP_SUFFIXES = (".gif",)


@dataclass(frozen=True)
class GoldenRules:
    """What the golden set must satisfy (taken from the release config)."""

    output_schema: dict[str, Any]
    input_schema: dict[str, Any] | None  # None: input_schema_enforced is off, only "an object" is checked
    prompts: list[str]  # system prompts the inputs are rendered with; the longest rendering counts
    max_context_chars: int
    known_tags: list[str] | None = None


@dataclass
class ExpectationOutcome:
    name: str  # short, stable: unique_ids, input_length, ...
    expectation: str  # GX expectation type and column
    meaning: str  # what a passing golden set looks like, in words
    success: bool
    unexpected_count: int = 0
    element_count: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)  # {"line", "id"} of failing rows
    error: str | None = None


@dataclass
class ContractsReport:
    success: bool
    rows: int
    outcomes: list[ExpectationOutcome]
    validation_result: dict[str, Any]
    sha256: str  # of the golden set bytes that were validated
    docs: dict[str, bytes] = field(default_factory=dict)  # Data Docs files by relative path

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


# ---------------------------------------------------------------------------- golden set rows


def read_golden_rows(path: Path) -> tuple[list[dict[str, Any]], str]:
    """Raw JSONL rows with their line numbers, and the sha256 of the bytes read.

    Raw, not GoldenCase models: a contract must see the row as written (a missing field, an id
    that is a number) to name it. Unreadable files are input errors (exit 2), as in preflight.
    """
    data = read_bytes(path, "golden set")
    text = decode_text(data, path, "golden set")
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj: Any = json.loads(line)
        except json.JSONDecodeError:
            obj = None
        rows.append({"line": lineno, "obj": obj})
    return rows, hashlib.sha256(data).hexdigest()


def _json_or_none(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def golden_records(rows: list[dict[str, Any]], prompts: list[str]) -> list[dict[str, Any]]:
    """One flat record per line: the columns the GX suite checks."""
    out = []
    for row in rows:
        obj = row["obj"] if isinstance(row["obj"], dict) else {}
        case_id = obj.get("id")
        case_input = obj.get("input")
        rendered = None
        if isinstance(case_input, dict):
            rendered = max(sum(len(m["content"]) for m in render_messages(p, case_input)) for p in prompts)
        out.append({
            "line": row["line"],
            "is_object": isinstance(row["obj"], dict),
            "id": case_id if isinstance(case_id, str) and case_id.strip() else None,
            "input": _json_or_none(obj, "input"),
            "expected": _json_or_none(obj, "expected"),
            "tags": json.dumps(obj.get("tags", []), ensure_ascii=False),
            "rendered_chars": rendered,
        })
    return out


@functools.lru_cache(maxsize=16)
def _compiled_validator(schema_text: str) -> Any:
    schema = json.loads(schema_text)
    cls = validator_for(schema)
    cls.check_schema(schema)  # once per schema, not once per row
    return cls(schema)


@functools.cache
def _match_json_schema() -> type:
    """GX's ExpectColumnValuesToMatchJsonSchema, backed by a compiled validator.

    GX's own metric calls ``jsonschema.validate`` per row, which re-checks the schema against
    its meta-schema every time: ~18 ms a row for the example's 2020-12 output schema, so 7 s
    for 267 cases and minutes for a large golden set. This subclass only swaps the metric for
    one that compiles the validator once (same verdict per value; ~0.1 ms a row); arguments,
    ``mostly``, results and the Data Docs renderer are GX's own. Built on first use so that
    importing this module does not import GX.
    """
    _gx()
    import great_expectations.expectations as gxe
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.metrics.map_metric_provider import (
        ColumnMapMetricProvider,
        column_condition_partial,
    )

    class ColumnValuesMatchJsonSchemaCompiled(ColumnMapMetricProvider):  # registered with GX on definition
        condition_metric_name = "column_values.match_json_schema_compiled"
        condition_value_keys = ("json_schema",)

        @column_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column: Any, json_schema: dict[str, Any], **kwargs: Any) -> Any:
            validator = _compiled_validator(json.dumps(json_schema, sort_keys=True))
            return column.map(lambda value: validator.is_valid(json.loads(value)))

    class ExpectColumnValuesToMatchJsonSchemaCompiled(gxe.ExpectColumnValuesToMatchJsonSchema):
        map_metric = "column_values.match_json_schema_compiled"

    return ExpectColumnValuesToMatchJsonSchemaCompiled


def _suite_spec(rules: GoldenRules) -> list[tuple[str, str, Any]]:
    """(name, meaning, expectation) triples; built lazily because they are GX objects."""
    import great_expectations.expectations as gxe

    match_json_schema = _match_json_schema()

    tag_items: dict[str, Any] = {"type": "string", "minLength": 1}
    if rules.known_tags is not None:
        tag_items = {"enum": sorted(rules.known_tags)}
    input_schema = rules.input_schema if rules.input_schema is not None else {"type": "object"}
    return [
        ("not_empty", "the golden set has at least one case",
         gxe.ExpectTableRowCountToBeBetween(min_value=1)),
        ("rows_are_objects", "every line is a JSON object",
         gxe.ExpectColumnValuesToBeInSet(column="is_object", value_set=[True])),
        ("required_id", "every case has a non-empty string id",
         gxe.ExpectColumnValuesToNotBeNull(column="id")),
        ("required_input", "every case has a non-null input",
         gxe.ExpectColumnValuesToNotBeNull(column="input")),
        ("required_expected", "every case has a non-null expected output",
         gxe.ExpectColumnValuesToNotBeNull(column="expected")),
        ("unique_ids", "case ids are unique",
         gxe.ExpectColumnValuesToBeUnique(column="id")),
        ("input_schema", "inputs are valid against the input schema",
         match_json_schema(column="input", json_schema=input_schema)),
        ("input_length", f"the rendered input (system prompt + case input) is at most max_context_chars "
                         f"{rules.max_context_chars} characters",
         gxe.ExpectColumnValuesToBeBetween(column="rendered_chars", max_value=rules.max_context_chars)),
        ("expected_schema", "expected outputs are valid against the output schema",
         match_json_schema(column="expected", json_schema=rules.output_schema)),
        ("tags", "tags are a list of strings" + (
            f" from the known set {sorted(rules.known_tags)}" if rules.known_tags is not None else ""),
         match_json_schema(column="tags", json_schema={"type": "array", "items": tag_items})),
    ]


@functools.cache
def _gx() -> Any:
    """Import GX once, quietly: its import warns about deprecated stdlib modules, and each
    ephemeral context logs a temp-dir line at INFO; neither helps a person reading a release log."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx


def _context() -> Any:
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    # tqdm bars from GX would garble the CLI's own progress line and Prefect's logs.
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def _plain(value: Any) -> Any:
    """numpy scalars and NaN (from pandas) -> JSON-friendly Python values."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _outcome(res: Any) -> ExpectationOutcome:
    cfg = res.expectation_config
    meta = cfg.meta or {}
    name, meaning = meta.get("name", cfg.type), meta.get("meaning", cfg.type)
    column = cfg.kwargs.get("column")
    expectation = f"{cfg.type}({column})" if column else cfg.type
    info = res.exception_info or {}
    if info.get("raised_exception"):
        return ExpectationOutcome(name, expectation, meaning, False,
                                  error=str(info.get("exception_message", "expectation raised"))[:300])
    result = res.result or {}
    rows = [{k: _plain(r.get(k)) for k in ROW_KEYS} for r in result.get("unexpected_index_list") or []]
    return ExpectationOutcome(
        name, expectation, meaning, bool(res.success), unexpected_count=int(result.get("unexpected_count") or 0),
        element_count=int(result.get("element_count") or 0), rows=rows,
    )


def _build_docs(ctx: Any) -> dict[str, bytes]:
    """Build Data Docs into a temp folder and return its files (the store copies them)."""
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="launchgate-gx-docs-") as tmp:
        # The ephemeral context already has a site named local_site; ours writes to tmp only.
        ctx.add_data_docs_site(site_name="launchgate_evidence", site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": tmp},
        })
        ctx.build_data_docs(site_names=["launchgate_evidence"])
        root = Path(tmp)
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.endswith(DOCS_SKIP_SUFFIXES):
                files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def validate_golden_set(path: Path, rules: GoldenRules, *, data_docs: bool = True) -> ContractsReport:
    """Run the GX suite over the golden set at ``path``."""
    import pandas as pd

    gx = _gx()

    rows, digest = read_golden_rows(path)
    frame = pd.DataFrame(golden_records(rows, rules.prompts),
                         columns=["line", "is_object", "id", "input", "expected", "tags", "rendered_chars"])
    ctx = _context()
    batch = (ctx.data_sources.add_pandas("golden").add_dataframe_asset("rows")
             .add_batch_definition_whole_dataframe("all_rows"))
    suite = ctx.suites.add(gx.ExpectationSuite(name=SUITE))
    for name, meaning, expectation in _suite_spec(rules):
        # meta travels with the result (and shows in Data Docs): it maps a result back to its name.
        expectation.meta = {"name": name, "meaning": meaning}
        suite.add_expectation(expectation)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="golden_rows", data=batch, suite=suite))
    result = vd.run(batch_parameters={"dataframe": frame},
                    result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ROW_KEYS})
    outcomes = [_outcome(res) for res in result.results]
    docs = _build_docs(ctx) if data_docs else {}
    return ContractsReport(success=all(o.success for o in outcomes), rows=len(rows), outcomes=outcomes,
                           validation_result=result.to_json_dict(), sha256=digest, docs=docs)


def golden_set_ready(path: Path, rules: GoldenRules) -> bool:
    """Would the GX suite pass? The same expectations in plain Python, in milliseconds, without GX.

    Never a verdict (GX's result is the verdict and the evidence): a caller uses it to decide
    whether model calls may start before GX has answered (``launchgate check``). It is at least
    as strict as ``_suite_spec``, so a golden set it passes never reaches a model by mistake;
    anything it cannot judge counts as not ready.
    """
    try:
        rows, _ = read_golden_rows(path)
        records = golden_records(rows, rules.prompts)
        tag_items: dict[str, Any] = ({"enum": sorted(rules.known_tags)} if rules.known_tags is not None
                                     else {"type": "string", "minLength": 1})
        schemas = {
            "input": rules.input_schema if rules.input_schema is not None else {"type": "object"},
            "expected": rules.output_schema,
            "tags": {"type": "array", "items": tag_items},
        }
        valid = {col: _compiled_validator(json.dumps(schema, sort_keys=True)) for col, schema in schemas.items()}
        ids = [r["id"] for r in records]
        return bool(records) and len(set(ids)) == len(ids) and all(
            r["is_object"] and r["id"] is not None and r["input"] is not None and r["expected"] is not None
            and r["rendered_chars"] is not None and r["rendered_chars"] <= rules.max_context_chars
            and all(valid[col].is_valid(json.loads(r[col])) for col in schemas)
            for r in records
        )
    except Exception:  # noqa: BLE001 - unreadable file, bad schema, odd row: not "surely passes"
        return False


def warm_up() -> None:
    """Import Great Expectations now (a worker process does this while its parent starts the eval)."""
    _gx()


# ---------------------------------------------------------------------------- verdicts


def _where(rows: list[dict[str, Any]]) -> str:
    shown = [f"line {r['line']}" + (f" ({r['id']})" if r.get("id") else "") for r in rows[:SHOWN_ROWS]]
    more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
    return ", ".join(shown) + more


def contract_verdicts(report: ContractsReport, path: Path) -> list[Verdict]:
    """One FAILED verdict per failed expectation (naming the rows), or one SUCCESSFUL verdict."""
    if report.success:
        return [Verdict(
            check="golden_set_contract", phase=Phase.SUCCESSFUL, value={"rows": report.rows}, evidence=EVIDENCE,
            reason=f"Golden set {path.name}: {report.rows} cases meet all {len(report.outcomes)} expectations "
                   f"(required fields, unique ids, input length, schemas, tags).",
        )]
    out = []
    for o in report.failed:
        if o.error:
            out.append(Verdict(
                check=f"golden_set_{o.name}", phase=Phase.ERROR, value=None, evidence=EVIDENCE,
                reason=f"Golden set check {o.expectation} could not run ({o.error}): fix the file or the schema "
                       f"it is checked against.",
            ))
            continue
        rows = f": {_where(o.rows)}" if o.rows else ""
        count = f"{o.unexpected_count} of {o.element_count} rows break" if o.element_count else "fails"
        out.append(Verdict(
            check=f"golden_set_{o.name}", phase=Phase.FAILED,
            value={"unexpected_count": o.unexpected_count, "rows": o.rows}, threshold=o.expectation,
            evidence=EVIDENCE,
            reason=f"Golden set {path.name} {count} {o.expectation} ({o.meaning}){rows}. Fix these rows in the "
                   f"golden set.",
        ))
    return out


def schema_verdicts(schemas: dict[str, tuple[Path, Any]]) -> list[Verdict]:
    """Each schema must be a valid JSON Schema of the draft it declares (2020-12 when it names none)."""
    out = []
    for what, (path, schema) in schemas.items():
        check = f"{what}_schema_valid"
        try:
            if not isinstance(schema, dict):
                raise SchemaError(f"a schema must be a JSON object, got {type(schema).__name__}")
            cls = validator_for(schema)
            cls.check_schema(schema)
        except SchemaError as exc:
            out.append(Verdict(check=check, phase=Phase.FAILED, evidence=EVIDENCE, value=str(path),
                               reason=f"The {what} schema {path.name} is not valid JSON Schema: {exc.message}. "
                                      f"Fix the schema file."))
            continue
        out.append(Verdict(check=check, phase=Phase.SUCCESSFUL, evidence=EVIDENCE, value=str(path),
                           reason=f"The {what} schema {path.name} is valid JSON Schema ({cls.__name__})."))
    return out


def load_schemas(output_schema: Path, input_schema: Path) -> dict[str, tuple[Path, Any]]:
    return {"output": (output_schema, read_json_file(output_schema, "output schema")),
            "input": (input_schema, read_json_file(input_schema, "input schema"))}


# ---------------------------------------------------------------------------- schema rate for the eval gate


def expect_schema_valid(flags: list[tuple[str, bool]], mostly: float) -> dict[str, Any]:
    """Schema validity of the candidate's answers as a GX expectation with ``mostly``.

    ``flags`` holds (case id, schema_ok) per completed call. Returns the pieces the eval gate's
    SchemaExpectation needs plus GX's full result, for eval/schema_validation.json.
    """
    import pandas as pd

    gx = _gx()
    import great_expectations.expectations as gxe

    frame = pd.DataFrame({"case_id": [c for c, _ in flags], "schema_ok": [ok for _, ok in flags]},
                         columns=["case_id", "schema_ok"])
    ctx = _context()
    batch = (ctx.data_sources.add_pandas("answers").add_dataframe_asset("candidate")
             .add_batch_definition_whole_dataframe("all_calls"))
    suite = ctx.suites.add(gx.ExpectationSuite(name="candidate_answers"))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="schema_ok", value_set=[True], mostly=mostly))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="schema_validity", data=batch, suite=suite))
    result = vd.run(batch_parameters={"dataframe": frame},
                    result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["case_id"]})
    res = result.results[0]
    info = res.result or {}
    n = int(info.get("element_count") or 0)
    bad = int(info.get("unexpected_count") or 0)
    failing = sorted({str(r.get("case_id")) for r in info.get("unexpected_index_list") or []})
    return {"success": bool(res.success), "observed": (n - bad) / n if n else None, "mostly": mostly,
            "element_count": n, "failing_cases": failing, "validation_result": result.to_json_dict()}
