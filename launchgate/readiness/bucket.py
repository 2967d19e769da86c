"""The evidence bucket's settings, read with boto3's get_bucket_* calls (the one boto3 boundary here).

"Not configured" answers (no encryption, no public access block, no lifecycle) become None; any
other error is recorded per call, so its check says *missing* with the reason, never *verified*.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from launchgate.readiness.evidence import BucketFacts

_NOT_SET = {"ServerSideEncryptionConfigurationNotFoundError", "NoSuchPublicAccessBlockConfiguration",
            "NoSuchLifecycleConfiguration"}


def _call(facts: BucketFacts, name: str, fn: Any) -> Any:
    try:
        return fn(Bucket=facts.bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in _NOT_SET:
            facts.errors[name] = f"{code or 'error'}: {exc.response.get('Error', {}).get('Message', '')[:120]}"
    except BotoCoreError as exc:
        facts.errors[name] = f"{type(exc).__name__}: {str(exc)[:120]}"
    return None


def bucket_facts(client: Any, bucket: str, prefix: str = "") -> BucketFacts:
    facts = BucketFacts(bucket=bucket, prefix=prefix)
    enc = _call(facts, "get_bucket_encryption", client.get_bucket_encryption)
    if enc is not None:
        facts.encryption = enc.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    block = _call(facts, "get_public_access_block", client.get_public_access_block)
    if block is not None:
        facts.public_access_block = block.get("PublicAccessBlockConfiguration", {})
    ver = _call(facts, "get_bucket_versioning", client.get_bucket_versioning)
    if ver is not None:
        facts.versioning = ver.get("Status")
    life = _call(facts, "get_bucket_lifecycle_configuration", client.get_bucket_lifecycle_configuration)
    if life is not None:
        facts.lifecycle = life.get("Rules", [])
    return facts
