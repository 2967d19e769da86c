"""The data policy: release.yaml's data: section is checked field by field, and the request log writes what it
allows (allow-listed fields, prompt redacted or none, the subject only as an HMAC)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from launchgate.config import load_config
from launchgate.config.datapolicy import DataPolicy, log_contract
from launchgate.errors import ConfigError
from launchgate.gateway.logwriter import FIELDS, RequestLogWriter
from launchgate.privacy import logpolicy
from launchgate.store import LocalStore
from tests.conftest import EXAMPLE

LOG_CONTRACT = tuple(FIELDS)


def test_defaults_keep_todays_log() -> None:
    policy = load_config(EXAMPLE / "release.yaml", check_files=False).data
    assert policy.log_fields is None and log_contract() == LOG_CONTRACT
    assert policy.prompt == "redacted" and policy.subject is None
    assert policy.retention.audit_days >= policy.retention.evidence_days


@pytest.mark.parametrize(("override", "field", "words"), [
    ({"data.log_fields": ["ts", "request_id", "service", "prompt_text"]}, "data.log_fields", "prompt_text"),
    ({"data.log_fields": ["ts", "service"]}, "data.log_fields", "request_id"),
    ({"data.prompt": "plain"}, "data.prompt", "redacted"),
    ({"data.retention.request_logs_days": 0}, "data.retention.request_logs_days", "1 <= value"),
    ({"data.subject": {"header": "x-user", "field": "user", "hmac_secret": "env:K"}}, "data.subject", "exactly one"),
    ({"data.subject": {"field": "user", "hmac_secret": "hunter2"}}, "data.subject.hmac_secret", "env:NAME"),
    ({"data.subject": {"header": "x user", "hmac_secret": "env:K"}}, "data.subject.header", "header name"),
    ({"data.environment": "prod"}, "data.environment", "production"),
    ({"data.output_schema_change": {"note": "short"}}, "data.output_schema_change", ""),
    ({"data.retention.spool_dayz": 3}, "data.retention.spool_dayz", "unknown key"),
])
def test_bad_policy_names_the_field(override: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(EXAMPLE / "release.yaml", override, check_files=False)
    text = "\n".join(err.value.errors)
    assert any(line.startswith(field) for line in err.value.errors), text
    assert words in text


def _record(**extra: object) -> dict[str, object]:
    rec: dict[str, object] = {k: f"v-{k}" for k in FIELDS}
    rec.update(extra)
    return rec


def test_apply_policy_filters_and_hashes() -> None:
    policy = DataPolicy.model_validate({"log_fields": ["ts", "request_id", "service", "prompt_redacted"],
                                        "prompt": "none", "subject": {"field": "user", "hmac_secret": "env:K"}})
    out = logpolicy.apply_policy(_record(subject="alice"), policy, b"key")
    assert set(out) == {*LOG_CONTRACT, "subject_hmac"}  # every contract key present, as readers expect
    assert out["ts"] == "v-ts" and out["model"] is None and out["prompt_redacted"] == ""
    assert out["subject_hmac"] == logpolicy.subject_hmac(b"key", "alice") != logpolicy.subject_hmac(b"k2", "alice")
    assert "alice" not in json.dumps(out)


def test_the_gateway_log_writer_applies_the_installed_policy(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    policy = DataPolicy.model_validate({"log_fields": ["ts", "request_id", "service", "status"],
                                        "subject": {"header": "x-end-user", "hmac_secret": "env:K"}})
    writer = RequestLogWriter(store, "svc-a", "w1")
    logpolicy.install("svc-a", policy, b"key")
    try:
        writer.extend([(_record(subject="alice"), time.time()), (_record(), time.time())])
        writer.flush()
    finally:
        logpolicy.uninstall("svc-a")
    writer.extend([(_record(subject="bob"), time.time())])  # no policy: the writer's own lines, unchanged
    writer.flush()
    lines = [json.loads(x) for key in store.list("svc-a/") for x in store.get(key).splitlines()]
    assert lines[0]["subject_hmac"] == logpolicy.subject_hmac(b"key", "alice") and lines[0]["model"] is None
    assert "subject_hmac" not in lines[1] and lines[1]["status"] == "v-status"
    assert set(lines[2]) == set(LOG_CONTRACT) and lines[2]["model"] == "v-model"
    assert "alice" not in json.dumps(lines) and "bob" not in json.dumps(lines)


def test_the_subject_is_read_from_the_named_header_or_field() -> None:
    by_header = DataPolicy.model_validate({"subject": {"header": "X-End-User", "hmac_secret": "env:K"}})
    by_field = DataPolicy.model_validate({"subject": {"field": "user", "hmac_secret": "env:K"}})
    assert logpolicy.subject_of(by_header, {"x-end-user": "alice"}, {"user": "bob"}) == "alice"
    assert logpolicy.subject_of(by_field, {"x-end-user": "alice"}, {"user": "bob"}) == "bob"
    assert logpolicy.subject_of(by_field, {}, {"user": 7}) is None
    assert logpolicy.subject_of(DataPolicy(), {"x-end-user": "alice"}, {"user": "bob"}) is None
