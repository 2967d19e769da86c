"""The ``data:`` section of release.yaml: what may be logged, how long each kind of data is kept,
who may read, export or delete it, and how an end user is identified without storing who they are.

    data:
      environment: production          # production refuses raw prompts without a recorded override
      log_fields: [ts, request_id, ...] # allow-list of request-log fields (unset: all); the rest are logged as null
      prompt: redacted                 # redacted | none | raw (the user's text in the request log)
      subject:                         # the end user: a header or a body field, stored only as HMAC-SHA256
        field: user
        hmac_secret: env:LAUNCHGATE_SUBJECT_KEY
      retention: {request_logs_days: 30, shadow_pairs_days: 30, queues_days: 90, evidence_days: 365,
                  spool_days: 7, replicas_days: 7, audit_days: 2555}
      access: {read_logs: [...], export: [...], delete: [...]}
      output_schema_change: {note: "...", deprecation_until: 2027-03-01}

Every field has a safe default, so a config without ``data:`` keeps today's behaviour: the full
log contract with the prompt redacted, nothing exported or deleted by anyone but the owners.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SUBJECT_FIELD = "subject_hmac"  # the one field the data policy adds to the request log


def log_contract() -> tuple[str, ...]:
    """The fields the gateway's request-log writer writes (DESIGN.md's contract plus later additions)."""
    from launchgate.gateway.logwriter import FIELDS  # imported late: the gateway reads this package's models

    return tuple(FIELDS)


# Readers join and time-order on these: a policy may not drop them.
REQUIRED_LOG_FIELDS = ("ts", "request_id", "service")
SECRET_REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|prefect:[a-z0-9][a-z0-9-]*|aws:[A-Za-z0-9/_+=.@:-]+)$")
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,100}$")
MAX_DAYS = 36_500  # a hundred years: far beyond any legal hold, small enough for date arithmetic


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Retention(_Strict):
    """Days each kind of data is kept; ``audit_days`` is the floor for promoted releases' bundles."""

    request_logs_days: int = Field(default=30, ge=1, le=MAX_DAYS, description="JSONL and Parquet request log")
    shadow_pairs_days: int = Field(default=30, ge=1, le=MAX_DAYS, description="shadow/ inside release bundles")
    queues_days: int = Field(default=90, ge=1, le=MAX_DAYS, description="handoff and review/quality queues")
    evidence_days: int = Field(default=365, ge=1, le=MAX_DAYS, description="release and check bundles")
    spool_days: int = Field(default=7, ge=1, le=MAX_DAYS, description="S3 writes waiting in the local spool")
    replicas_days: int = Field(default=7, ge=1, le=MAX_DAYS,
                               description="a gateway replica's heartbeat and window counters, after it was last seen")
    audit_days: int = Field(default=2555, ge=1, le=MAX_DAYS,
                            description="promoted releases' bundles are kept at least this long (7 years)")


class SubjectKey(_Strict):
    """Where the end user's id is found; it is logged only as HMAC-SHA256 under a secret key."""

    header: str | None = Field(default=None, description="request header, e.g. x-end-user-id")
    field: str | None = Field(default=None, description="top-level request body field, e.g. user (OpenAI's)")
    hmac_secret: str = Field(description="where the HMAC key is: env:NAME, prefect:BLOCK or aws:SECRET_ID")

    @field_validator("header")
    @classmethod
    def _header(cls, v: str | None) -> str | None:
        if v is not None and not _HEADER.match(v):
            raise ValueError(f"expected an HTTP header name like x-end-user-id, got {v!r}")
        return v.lower() if v else v

    @field_validator("hmac_secret")
    @classmethod
    def _ref(cls, v: str) -> str:
        if not SECRET_REF.match(v):
            raise ValueError("expected a secret reference env:NAME, prefect:BLOCK-NAME or aws:SECRET-ID "
                             "(the key itself never goes into release.yaml)")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> SubjectKey:
        if (self.header is None) == (self.field is None):
            raise ValueError("give exactly one of header or field: where the end user's id is found")
        return self


class DataAccess(_Strict):
    """Who may do what with logged data; names as given to ``--as``. The compliance owner may do all."""

    read_logs: list[str] = Field(default_factory=list, description="may read request logs and queues")
    export: list[str] = Field(default_factory=list, description="may export a subject's data")
    delete: list[str] = Field(default_factory=list, description="may delete a subject's data")
    override_raw_prompts: list[str] = Field(
        default_factory=list, description="may record an override letting a production gateway log raw prompts")


class SchemaChange(_Strict):
    """Accepts a breaking output-schema change: what changes for consumers, and until when the old shape holds."""

    note: str = Field(min_length=10, description="what consumers must change (shown in the release review)")
    deprecation_until: date = Field(description="last day consumers of the old output shape are supported")


class DataPolicy(_Strict):
    environment: Literal["production", "staging", "development"] = "development"
    log_fields: list[str] | None = Field(
        default=None, description="request-log fields that may be logged, others are logged as null; "
                                  "unset = every field the gateway logs")
    prompt: Literal["redacted", "none", "raw"] = Field(
        default="redacted", description="the user's text in the request log: redacted, none (empty) or raw")
    subject: SubjectKey | None = None
    retention: Retention = Retention()
    access: DataAccess = DataAccess()
    output_schema_change: SchemaChange | None = None
    scan_sample_lines: int = Field(default=2000, ge=1, le=1_000_000,
                                   description="lines per kind the unsafe-logging scan reads")

    @field_validator("log_fields")
    @classmethod
    def _known_fields(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        known = {*log_contract(), SUBJECT_FIELD}
        unknown = [f for f in v if f not in known]
        if unknown:
            raise ValueError(f"unknown request-log field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        missing = [f for f in REQUIRED_LOG_FIELDS if f not in v]
        if missing:
            raise ValueError(f"must keep {', '.join(missing)}: the reviews and the audit join on them")
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _consistent(self) -> DataPolicy:
        # A subject key without its field in the allow-list would be read and then thrown away.
        if self.subject is not None and self.log_fields is not None and SUBJECT_FIELD not in self.log_fields:
            self.log_fields.append(SUBJECT_FIELD)
        return self

    @property
    def logs_raw_prompts(self) -> bool:
        return self.prompt == "raw" and (self.log_fields is None or "prompt_redacted" in self.log_fields)

    def allows(self, field: str) -> bool:
        return self.log_fields is None or field in self.log_fields
