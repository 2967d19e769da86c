"""Traffic router over an AWS SageMaker endpoint with two production variants.

launchgate does not deploy models here: the endpoint already serves a stable and a candidate
production variant (your deployment tool created them); the router only moves weight between them
with ``UpdateEndpointWeightsAndCapacities`` and reads it back with ``DescribeEndpoint``.

This module and metrics/cloudwatch.py are the boto3 boundary: botocore errors become RouterError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from launchgate.config import SageMakerRouting
from launchgate.errors import RouterError
from launchgate.router.base import CANDIDATE, STABLE

# An endpoint mid-update rejects another update; a rollback must wait for it rather than fail.
UPDATE_WAIT_S = 120.0


def sagemaker_clients(cfg: SageMakerRouting) -> tuple[Any, Any]:
    """(sagemaker, cloudwatch) clients with bounded timeouts and botocore's standard retries."""
    conf = Config(region_name=cfg.region, connect_timeout=5, read_timeout=20,
                  retries={"max_attempts": 4, "mode": "standard"})
    session = boto3.session.Session()
    return (session.client("sagemaker", config=conf, endpoint_url=cfg.endpoint_url),
            session.client("cloudwatch", config=conf, endpoint_url=cfg.endpoint_url))


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = " ".join(str(err.get("Message", "")).split())[:200]  # moto answers 500s with HTML
        return f"{err.get('Code', 'ClientError')} (HTTP {status}): {message}".strip()
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Translate botocore errors into RouterError; the original stays on __cause__."""
    try:
        yield
    except ClientError as exc:
        raise RouterError(f"{what} failed: {describe_error(exc)}") from exc
    except BotoCoreError as exc:
        raise RouterError(f"{what} failed: {describe_error(exc)}") from exc


def _in_progress(exc: ClientError) -> bool:
    err = exc.response.get("Error", {})
    return err.get("Code") == "ValidationException" and "in-progress" in err.get("Message", "").lower()


class SageMakerRouter:
    name = "sagemaker"

    def __init__(self, cfg: SageMakerRouting, client: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = cfg
        self.client = client
        self.sleep = sleep
        self.names = {STABLE: cfg.stable_variant, CANDIDATE: cfg.candidate_variant}

    def _describe(self) -> dict[str, Any]:
        with aws_call(f"DescribeEndpoint {self.cfg.endpoint_name}"):
            return dict(self.client.describe_endpoint(EndpointName=self.cfg.endpoint_name))

    def attach_candidate(self, url: str, model: str, prompt_version: str, release_id: str,
                         system_prompt: str | None = None) -> None:
        """Nothing to point: the candidate is a production variant already. Check that it exists."""
        present = {v["VariantName"] for v in self._describe().get("ProductionVariants", [])}
        missing = [n for n in self.names.values() if n not in present]
        if missing:
            raise RouterError(
                f"SageMaker endpoint {self.cfg.endpoint_name} has no production variant(s) {missing} "
                f"(it has {sorted(present)}): deploy the candidate as a variant first."
            )

    def set_candidate_weight(self, pct: float, reason: str) -> None:
        # SageMaker weights are relative; 100 - pct and pct make them read as percentages.
        weights = [
            {"VariantName": self.names[STABLE], "DesiredWeight": float(100 - pct)},
            {"VariantName": self.names[CANDIDATE], "DesiredWeight": float(pct)},
        ]
        deadline = time.monotonic() + UPDATE_WAIT_S
        while True:
            try:
                self.client.update_endpoint_weights_and_capacities(
                    EndpointName=self.cfg.endpoint_name, DesiredWeightsAndCapacities=weights)
                return
            except ClientError as exc:
                if not _in_progress(exc) or time.monotonic() > deadline:
                    raise RouterError(f"UpdateEndpointWeightsAndCapacities {self.cfg.endpoint_name} "
                                      f"({reason}) failed: {describe_error(exc)}") from exc
                self.sleep(2.0)  # the endpoint is Updating from an earlier change
            except BotoCoreError as exc:
                raise RouterError(f"UpdateEndpointWeightsAndCapacities {self.cfg.endpoint_name} failed: "
                                  f"{describe_error(exc)}") from exc

    def weights(self) -> dict[str, float]:
        """Current weights in percent; DesiredWeight while an update is still rolling out."""
        variants = {v["VariantName"]: v for v in self._describe().get("ProductionVariants", [])}
        raw: dict[str, float] = {}
        for label, name in self.names.items():
            v = variants.get(name, {})
            raw[label] = float(v.get("CurrentWeight", v.get("DesiredWeight", 0.0)) or 0.0)
        total = sum(raw.values())
        return {k: (100.0 * w / total if total else 0.0) for k, w in raw.items()}

    def heartbeat(self, holder: str, ttl_s: float) -> None:
        # No-op: SageMaker has no lease. Weights stay where the last update put them when the
        # orchestrator dies, so "traffic returns to stable by itself" holds only for the release
        # gateway. With SageMaker, pair the canary with a CloudWatch alarm on Invocation5XXErrors
        # of the candidate variant that triggers a rollback independently of this process.
        return None

    def release(self, holder: str) -> None:
        return None  # no lease to give back (see heartbeat)
