"""The readiness review's bucket checks on moto_server over HTTP: a bucket set up the way
infra/terraform/main.tf sets it up passes all four; a bare bucket fails them; `launchgate readiness`
on an s3:// store reads them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from click.testing import CliRunner

from launchgate.cli import main
from launchgate.config import load_config
from launchgate.readiness.bucket import bucket_facts
from launchgate.readiness.checks import CHECKS
from launchgate.readiness.evidence import Evidence
from launchgate.readiness.models import Status
from tests.conftest import EXAMPLE, ROOT
from tests.support.moto import moto_s3_server

S3_CHECKS = ("s3_encryption", "s3_public_block", "s3_versioning", "s3_lifecycle")
PREFIX = "lg"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing-secret", "region_name": "us-east-1"}


def terraform_settings() -> dict[str, object]:
    """The bucket settings infra/terraform declares: read from the .tf files so a change there is tested here."""
    main = (ROOT / "infra/terraform/main.tf").read_text()
    variables = (ROOT / "infra/terraform/variables.tf").read_text()
    flags = dict(re.findall(r"^\s*(block_public_acls|block_public_policy|ignore_public_acls|restrict_public_buckets)"
                            r"\s*=\s*(true|false)", main, re.M))
    retention = re.search(r'variable "retention_days"[^}]*?default\s*=\s*(\d+)', variables, re.S)
    noncurrent = re.search(r'variable "noncurrent_version_days"[^}]*?default\s*=\s*(\d+)', variables, re.S)
    assert len(flags) == 4 and retention and noncurrent, "infra/terraform changed shape: update this test"
    return {"sse": re.search(r'sse_algorithm\s*=\s*"([^"]+)"', main).group(1),  # type: ignore[union-attr]
            "versioning": re.search(r'versioning_configuration\s*{\s*status\s*=\s*"(\w+)"', main).group(1),  # type: ignore[union-attr]
            "flags": {k: v == "true" for k, v in flags.items()}, "retention_days": int(retention.group(1)),
            "noncurrent_days": int(noncurrent.group(1))}


def terraform_bucket(s3: object, name: str) -> None:
    tf = terraform_settings()
    s3.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": tf["versioning"]})  # type: ignore[attr-defined]
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{  # type: ignore[attr-defined]
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": tf["sse"],
                                               "KMSMasterKeyID": "arn:aws:kms:us-east-1:123456789012:key/lg"},
        "BucketKeyEnabled": True}]})
    flags = tf["flags"]
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={  # type: ignore[attr-defined]
        "BlockPublicAcls": flags["block_public_acls"], "IgnorePublicAcls": flags["ignore_public_acls"],  # type: ignore[index]
        "BlockPublicPolicy": flags["block_public_policy"], "RestrictPublicBuckets": flags["restrict_public_buckets"]})  # type: ignore[index]
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [{  # type: ignore[attr-defined]
        "ID": "retention", "Status": "Enabled", "Filter": {"Prefix": f"{PREFIX}/"},
        "Expiration": {"Days": tf["retention_days"]},
        "NoncurrentVersionExpiration": {"NoncurrentDays": tf["noncurrent_days"]},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]})


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[str, object]]:
    with moto_s3_server() as endpoint:
        yield endpoint, boto3.client("s3", endpoint_url=endpoint, **CREDS)


def judge(s3: object, bucket: str) -> dict[str, tuple[Status, str]]:
    ev = Evidence(config=load_config(EXAMPLE / "release.yaml", check_files=False), now=datetime.now(UTC),
                  bucket=bucket_facts(s3, bucket, PREFIX))
    return {name: (r.status, r.reason) for name in S3_CHECKS for r in [CHECKS[name](ev)]}


def test_a_bucket_set_up_like_infra_terraform_passes_every_bucket_check(moto: tuple[str, object]) -> None:
    terraform_bucket(moto[1], "evidence-tf")
    results = judge(moto[1], "evidence-tf")
    assert all(status is Status.VERIFIED for status, _ in results.values()), results
    assert "aws:kms" in results["s3_encryption"][1] and "400 days" in results["s3_lifecycle"][1]


def test_a_bare_bucket_fails_every_bucket_check(moto: tuple[str, object]) -> None:
    moto[1].create_bucket(Bucket="bare-bucket")  # type: ignore[attr-defined]
    results = judge(moto[1], "bare-bucket")
    assert all(status is Status.FAILED for status, _ in results.values()), results


def test_a_lifecycle_rule_for_another_prefix_does_not_count(moto: tuple[str, object]) -> None:
    s3 = moto[1]
    terraform_bucket(s3, "other-prefix")
    s3.put_bucket_lifecycle_configuration(Bucket="other-prefix", LifecycleConfiguration={"Rules": [{  # type: ignore[attr-defined]
        "ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}]})
    assert judge(s3, "other-prefix")["s3_lifecycle"][0] is Status.FAILED


def test_an_unreadable_bucket_is_missing_never_verified(moto: tuple[str, object]) -> None:
    results = judge(moto[1], "no-such-bucket")
    assert all(status is Status.MISSING and "NoSuchBucket" in reason for status, reason in results.values())


def test_readiness_command_reads_the_bucket_of_an_s3_store(moto: tuple[str, object],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint, s3 = moto
    terraform_bucket(s3, "evidence-cli")
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_DEFAULT_REGION": "us-east-1",
                        "LAUNCHGATE_S3_SPOOL": "false"}.items():
        monkeypatch.setenv(name, value)
    out = CliRunner().invoke(main, ["readiness", "--config", str(EXAMPLE / "release.yaml"), "--artifacts",
                                    f"s3://evidence-cli/{PREFIX}", "--json", "--no-probe"])
    assert out.exit_code == 3, out.output[-2000:]  # an empty store is not ready
    items = {i["id"]: i for i in json.loads(out.output.splitlines()[-1])["items"]}
    for item in ("s3-encryption", "s3-public-access-blocked", "s3-versioning", "logging-retention"):
        assert items[item]["status"] == "verified", items[item]
        assert items[item]["evidence"] == "s3://evidence-cli"
