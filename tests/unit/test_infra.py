"""infra/: what can be checked without terraform, docker or a cluster.

- Terraform: parse every .tf file (python-hcl2) and check the evidence bucket's settings and
  that the worker policy only reaches its bucket prefix, its KMS key and named endpoints.
- compose.yaml: parse and check services, health checks, start order, pinned public images.
- The Kubernetes base job template: Prefect's own validator, and the spool volume.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"
TF = INFRA / "terraform"


def _clean(value: Any) -> Any:
    """python-hcl2 keeps HCL's quotes on strings and block labels, and adds marker keys."""
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@pytest.fixture(scope="module")
def tf() -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for path in sorted(TF.glob("*.tf")):
        for block_type, blocks in _clean(hcl2.loads(path.read_text())).items():
            merged.setdefault(block_type, []).extend(blocks)
    return merged


def labelled(tf: dict[str, list[Any]], block_type: str, kind: str) -> dict[str, Any]:
    """name -> body of every ``block_type "kind" "name"`` (resource / data)."""
    found: dict[str, Any] = {}
    for block in tf.get(block_type, []):
        for name, body in block.get(kind, {}).items():
            found[name] = body
    return found


def resource(tf: dict[str, list[Any]], kind: str, name: str = "evidence") -> dict[str, Any]:
    bodies = labelled(tf, "resource", kind)
    assert name in bodies, f"missing resource {kind}.{name}"
    return bodies[name]


def variables(tf: dict[str, list[Any]]) -> dict[str, Any]:
    return {name: body for block in tf["variable"] for name, body in block.items()}


def test_bucket_versioned_kms_encrypted_and_private(tf: dict[str, list[Any]]) -> None:
    versioning = resource(tf, "aws_s3_bucket_versioning")
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"

    sse = resource(tf, "aws_s3_bucket_server_side_encryption_configuration")
    default = sse["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert default["sse_algorithm"] == "aws:kms"
    assert default["kms_master_key_id"] == "${aws_kms_key.evidence.arn}"  # our key, not aws/s3
    assert resource(tf, "aws_kms_key")["enable_key_rotation"] is True

    block = resource(tf, "aws_s3_bucket_public_access_block")
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert block[flag] is True, flag
    assert resource(tf, "aws_s3_bucket")["force_destroy"] is False

    policy = labelled(tf, "data", "aws_iam_policy_document")["bucket"]
    denies = {s["sid"]: s for s in policy["statement"] if s["effect"] == "Deny"}
    assert denies["DenyInsecureTransport"]["condition"][0]["variable"] == "aws:SecureTransport"


def test_lifecycle_keeps_evidence_for_the_retention_variable(tf: dict[str, list[Any]]) -> None:
    rules = resource(tf, "aws_s3_bucket_lifecycle_configuration")["rule"]
    retention = [r for r in rules if r["id"] == "retention"]
    assert retention and retention[0]["status"] == "Enabled"
    assert retention[0]["expiration"][0]["days"] == "${var.retention_days}"
    assert retention[0]["filter"][0]["prefix"] == "${var.prefix}/"
    assert "noncurrent_version_expiration" in retention[0]
    assert "retention_days" in variables(tf) and variables(tf)["retention_days"]["type"] == "number"


def test_object_lock_is_optional_and_off_by_default(tf: dict[str, list[Any]]) -> None:
    assert variables(tf)["object_lock_enabled"]["default"] is False
    assert resource(tf, "aws_s3_bucket")["object_lock_enabled"] == "${var.object_lock_enabled}"
    lock = resource(tf, "aws_s3_bucket_object_lock_configuration")
    assert lock["count"] == "${var.object_lock_enabled ? 1 : 0}"
    assert lock["rule"][0]["default_retention"][0]["days"] == "${var.object_lock_days}"


def _statements(tf: dict[str, list[Any]]) -> list[dict[str, Any]]:
    doc = labelled(tf, "data", "aws_iam_policy_document")["worker"]
    statements = list(doc["statement"])
    for dyn in doc.get("dynamic", []):
        statements.extend(dyn["statement"]["content"])
    return statements


def test_worker_policy_is_scoped_to_the_prefix_key_and_endpoints(tf: dict[str, list[Any]]) -> None:
    locals_ = {k: v for block in tf["locals"] for k, v in block.items()}
    objects = locals_["evidence_objects"]
    assert objects == "${aws_s3_bucket.evidence.arn}/${var.prefix}/*"
    statements = _statements(tf)
    actions = {a for s in statements for a in s["actions"]}
    assert not any(a.endswith("*") for a in actions), "no wildcard actions"
    assert not any("Delete" in a for a in actions), "the worker never deletes evidence"
    for s in statements:
        assert s.get("effect", "Allow") == "Allow"
        services = {a.split(":")[0] for a in s["actions"]}
        assert len(services) == 1, s["sid"]
        service = services.pop()
        if service == "s3" and s["actions"] == ["s3:ListBucket"]:
            assert s["resources"] == ["${aws_s3_bucket.evidence.arn}"]
            assert s["condition"][0]["variable"] == "s3:prefix"
            assert all(v.startswith("${var.prefix}/") for v in s["condition"][0]["values"])
        elif service == "s3":
            assert s["resources"] == ["${local.evidence_objects}"], s["sid"]
        elif service == "kms":
            assert s["resources"] == ["${aws_kms_key.evidence.arn}"]
        elif service == "sagemaker":
            assert set(s["actions"]) == {"sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"}
            assert s["resources"] == "${local.sagemaker_endpoint_arns}"
            assert ":endpoint/" in locals_["sagemaker_endpoint_arns"]
        else:  # read-only APIs without resource-level permissions
            assert s["actions"] in (["cloudwatch:GetMetricData"], ["ce:GetCostAndUsage"]), s["sid"]
            assert s["resources"] == ["*"]
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket", "kms:GenerateDataKey", "kms:Decrypt",
            "cloudwatch:GetMetricData"} <= actions


def test_outputs_give_the_worker_its_settings(tf: dict[str, list[Any]]) -> None:
    outputs = {name: body for block in tf["output"] for name, body in block.items()}
    assert {"artifacts_uri", "kms_key_arn", "worker_policy_arn", "bucket_name"} <= set(outputs)
    assert outputs["worker_env"]["value"]["LAUNCHGATE_S3_SSE"] == "aws:kms"


# -- compose -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((INFRA / "compose.yaml").read_text())


def test_compose_services_healthchecks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "prefect-server", "worker"} <= set(services)
    for name, svc in services.items():
        assert "build" not in svc, f"{name}: public images only"
        image = svc["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{name}: pin {image}"
        if "tools" not in svc.get("profiles", []):  # long-running: must say when it is ready
            assert svc["healthcheck"]["test"], name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond["condition"] == "service_healthy", f"{name} -> {dep}"
            assert not services[dep].get("profiles"), f"{name} must not depend on optional {dep}"
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: publish on loopback only"
    assert "postgres" in services["prefect-server"]["depends_on"]
    assert "prefect-server" in services["worker"]["depends_on"]
    db_url = services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert db_url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in db_url


def test_compose_worker_runs_the_process_pool_with_a_persistent_spool(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    command = " ".join(worker["command"])
    assert "prefect worker start --pool launchgate-process --type process" in command
    env = worker["environment"]
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    spool = env["LAUNCHGATE_SPOOL_DIR"]
    assert any(v.endswith(":" + spool) and v.split(":")[0] in compose["volumes"] for v in worker["volumes"])
    assert compose["services"]["moto"]["profiles"] == ["local-s3"]


def test_kubernetes_base_job_template_is_valid_and_mounts_the_spool() -> None:
    from prefect.server.schemas.actions import validate_base_job_template

    template = json.loads((INFRA / "kubernetes" / "base-job-template.json").read_text())
    validate_base_job_template(template)  # raises on placeholders without a variable
    props = template["variables"]["properties"]
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["spool"] == props["env"]["default"]["LAUNCHGATE_SPOOL_DIR"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "{{ spool_claim }}"
    assert props["service_account_name"]["default"]  # IRSA: the pod gets the worker policy


def test_log_readers_have_their_own_read_only_role(tf: dict[str, list[Any]]) -> None:
    docs = labelled(tf, "data", "aws_iam_policy_document")
    reader = docs["log_reader"]["statement"]
    actions = {a for s in reader for a in s["actions"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}, "read-only: no put, no delete"
    objects = next(s for s in reader if s["actions"] == ["s3:GetObject"])["resources"]
    assert objects == "${local.log_reader_objects}"
    locals_ = {k: v for block in tf["locals"] for k, v in block.items()}
    assert all(p.split("${var.prefix}/*/")[1] in ("logs/*", "handoff/*", "quality/*")
               for p in locals_["log_reader_objects"]), "logs and queues only: no bundles, no state"
    role = resource(tf, "aws_iam_role", "log_reader")
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.log_reader_trust.json}"
    attached = resource(tf, "aws_iam_role_policy_attachment", "log_reader")
    assert attached["policy_arn"] == "${aws_iam_policy.log_reader.arn}"  # not the worker's policy
    deleters = {name for name, doc in docs.items()
                if any("s3:DeleteObject" in s["actions"] for s in doc["statement"])}
    assert deleters == {"retention"}, "only the retention policy may delete"


def test_logs_and_queues_expire_by_their_own_lifecycle_rules(tf: dict[str, list[Any]]) -> None:
    lifecycle = resource(tf, "aws_s3_bucket_lifecycle_configuration")
    dynamic = lifecycle["dynamic"][0]["rule"]
    assert "local.data_prefixes" in dynamic["for_each"]
    assert dynamic["content"][0]["expiration"][0]["days"] == "${rule.value.days}"
    assert variables(tf)["log_retention_days"]["default"] == 30


def test_glue_table_matches_the_parquet_log_and_athena_keeps_results_encrypted(tf: dict[str, list[Any]]) -> None:
    import pyarrow as pa

    from launchgate.requestlog.columns import PARTITION_COLUMNS, SCHEMA
    from launchgate.store import layout

    athena_type = {pa.timestamp("us"): "timestamp", pa.string(): "string", pa.float64(): "double",
                   pa.int64(): "bigint", pa.bool_(): "boolean", pa.int32(): "int"}
    locals_ = {k: v for block in tf["locals"] for k, v in block.items()}
    declared = [(c["name"], c["type"]) for c in locals_["request_log_columns"]]
    assert declared == [(f.name, athena_type[f.type]) for f in SCHEMA], "Glue columns = columns.SCHEMA, in order"
    assert layout.requests_parquet_prefix("svc") == "svc/logs/requests-parquet/"
    assert '${var.prefix}/${s}/logs/requests-parquet"' in locals_["request_log_locations"]

    table = resource(tf, "aws_glue_catalog_table", "requests")
    assert [(k["name"], k["type"]) for k in table["partition_keys"]] == [(c, "string") for c in PARTITION_COLUMNS]
    params = table["parameters"]
    assert params["projection.enabled"] == "true" and params["projection.hour.digits"] == "2"
    assert params["storage.location.template"].endswith("/date=$${date}/hour=$${hour}/")
    sd = table["storage_descriptor"][0]
    assert sd["ser_de_info"][0]["serialization_library"].endswith("ParquetHiveSerDe")

    wg = resource(tf, "aws_athena_workgroup", "logs")["configuration"][0]
    assert wg["enforce_workgroup_configuration"] is True and wg["bytes_scanned_cutoff_per_query"]
    enc = wg["result_configuration"][0]["encryption_configuration"][0]
    assert enc == {"encryption_option": "SSE_KMS", "kms_key_arn": "${aws_kms_key.evidence.arn}"}

    policy = labelled(tf, "data", "aws_iam_policy_document")["athena_reviews"]["statement"]
    actions = {a for s in policy for a in s["actions"]}
    assert not any("Delete" in a or a.endswith("*") for a in actions)
    writes = [s for s in policy if "s3:PutObject" in s["actions"]]
    assert len(writes) == 1
    assert writes[0]["resources"] == ["${aws_s3_bucket.evidence.arn}/${var.prefix}/athena-results/*"]
