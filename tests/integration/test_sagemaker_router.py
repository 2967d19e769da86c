"""SageMaker router and CloudWatch metrics over HTTP against a real moto_server.

What moto cannot test (and so these tests do not claim): percentile statistics (moto answers them
with HTTP 500, asserted below as a RouterError), the Updating state of a real endpoint after a
weight change (moto applies weights at once), and actual invocations routed by weight.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config

from launchgate.canary.judge import Action, CanaryJudge, JudgeConfig
from launchgate.config import SageMakerRouting
from launchgate.errors import RouterError
from launchgate.metrics.cloudwatch import CloudWatchMetrics
from launchgate.router import make_router
from launchgate.router.base import MetricsSource, TrafficRouter
from launchgate.router.sagemaker import SageMakerRouter
from tests.support.moto import moto_server, reset

ENDPOINT = "support-bot"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    reset(moto_endpoint)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(key, value)
    kw = {"endpoint_url": moto_endpoint, "region_name": "us-east-1",
          "config": Config(retries={"max_attempts": 1})}  # moto's 500s need no retrying here
    sm, cw = boto3.client("sagemaker", **kw), boto3.client("cloudwatch", **kw)
    for model in ("support-bot-v1", "support-bot-v2"):
        sm.create_model(ModelName=model, ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
                        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/bot:1"})
    sm.create_endpoint_config(EndpointConfigName="support-bot-cfg", ProductionVariants=[
        {"VariantName": "blue", "ModelName": "support-bot-v1", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0},
        {"VariantName": "green", "ModelName": "support-bot-v2", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large", "InitialVariantWeight": 0.0},
    ])
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="support-bot-cfg")
    cfg = SageMakerRouting(endpoint_name=ENDPOINT, stable_variant="blue", candidate_variant="green",
                           endpoint_url=moto_endpoint, latency_percentiles=False)
    return {"sm": sm, "cw": cw, "cfg": cfg, "endpoint": moto_endpoint}


def put_variant_metrics(cw: Any, variant: str, invocations: int, errors: int, latencies_us: list[float]) -> None:
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]
    now = datetime.now(UTC)
    cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
        {"MetricName": "Invocations", "Dimensions": dims, "Value": invocations, "Timestamp": now},
        {"MetricName": "Invocation5XXErrors", "Dimensions": dims, "Value": errors, "Timestamp": now},
        {"MetricName": "ModelLatency", "Dimensions": dims, "Values": latencies_us,
         "Counts": [1.0] * len(latencies_us), "Timestamp": now, "Unit": "Microseconds"},
    ])


def test_weights_shift_and_read_back(aws: dict[str, Any]) -> None:
    router = SageMakerRouter(aws["cfg"], aws["sm"])
    assert isinstance(router, TrafficRouter)
    router.attach_candidate("unused", "support-bot-v2", "v2", "rel-1")
    assert router.weights() == {"stable": 100.0, "candidate": 0.0}
    router.set_candidate_weight(10, "canary step 1")
    assert router.weights() == pytest.approx({"stable": 90.0, "candidate": 10.0})
    variants = {v["VariantName"]: v for v in aws["sm"].describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]}
    assert variants["green"]["DesiredWeight"] == 10.0 and variants["blue"]["DesiredWeight"] == 90.0
    router.set_candidate_weight(0, "rollback")
    assert router.weights() == {"stable": 100.0, "candidate": 0.0}
    router.heartbeat("flow-1", 15)  # no lease on SageMaker: must not fail
    router.release("flow-1")


def test_missing_endpoint_or_variant_is_a_router_error(aws: dict[str, Any]) -> None:
    wrong = aws["cfg"].model_copy(update={"candidate_variant": "purple"})
    with pytest.raises(RouterError, match="purple"):
        SageMakerRouter(wrong, aws["sm"]).attach_candidate("unused", "m", "v2", "rel-1")
    gone = aws["cfg"].model_copy(update={"endpoint_name": "no-such-endpoint"})
    with pytest.raises(RouterError, match="UpdateEndpointWeightsAndCapacities no-such-endpoint") as info:
        SageMakerRouter(gone, aws["sm"]).set_candidate_weight(5, "drill")
    assert info.value.__cause__ is not None
    with pytest.raises(RouterError, match="DescribeEndpoint"):
        SageMakerRouter(gone, aws["sm"]).weights()


def test_cloudwatch_window_per_variant_feeds_the_judge(aws: dict[str, Any]) -> None:
    since = time.time() - 30
    put_variant_metrics(aws["cw"], "blue", 900, 4, [40_000.0, 60_000.0, 120_000.0])
    put_variant_metrics(aws["cw"], "green", 100, 9, [45_000.0, 70_000.0, 150_000.0])
    source = CloudWatchMetrics(aws["cfg"], aws["cw"])
    assert isinstance(source, MetricsSource)
    stats = source.window(since)
    assert stats["stable"].count == 900 and stats["stable"].errors == 4
    c = stats["candidate"]
    assert (c.count, c.errors) == (100, 9)
    assert c.max_ms == pytest.approx(150.0) and c.mean_ms == pytest.approx(88.33, abs=0.01)  # us -> ms
    assert c.p95_ms is None and c.unmeasured == ["schema", "cost"]
    j = CanaryJudge(JudgeConfig()).judge(stats, at_s=30)
    assert j.action is Action.ROLLBACK
    assert "error rate 9.0% > 1.5% over 100 canary requests" in j.reason
    assert {v.check for v in j.verdicts} == {"canary_error_rate", "canary_latency_p95"}


def test_healthy_cloudwatch_window_promotes_with_max_latency_bound(aws: dict[str, Any]) -> None:
    since = time.time() - 30
    put_variant_metrics(aws["cw"], "blue", 900, 2, [40_000.0, 90_000.0])
    put_variant_metrics(aws["cw"], "green", 100, 0, [42_000.0, 95_000.0])
    stats = CloudWatchMetrics(aws["cfg"], aws["cw"]).window(since)
    j = CanaryJudge(JudgeConfig()).judge(stats, at_s=300, final=True)
    assert j.action is Action.PROMOTE, j.reason
    latency = next(v for v in j.verdicts if v.check == "canary_latency_p95")
    assert "max latency 95 ms <= 2000 ms" in latency.reason


def test_percentiles_fail_on_moto_as_router_error(aws: dict[str, Any]) -> None:
    put_variant_metrics(aws["cw"], "green", 10, 0, [40_000.0])
    cfg = aws["cfg"].model_copy(update={"latency_percentiles": True})
    with pytest.raises(RouterError, match=r"GetMetricData .*HTTP 500"):
        CloudWatchMetrics(cfg, aws["cw"]).window(time.time() - 30)


def test_make_router_builds_sagemaker_pair_from_config(aws: dict[str, Any]) -> None:
    from launchgate.config import Canary

    canary = Canary(enabled=True, router="sagemaker", sagemaker=aws["cfg"])
    router, metrics = make_router(canary)
    assert isinstance(router, SageMakerRouter) and isinstance(metrics, CloudWatchMetrics)
    router.set_candidate_weight(25, "step")
    assert router.weights()["candidate"] == pytest.approx(25.0)


def test_custom_namespace_brings_schema_and_cost_checks(aws: dict[str, Any]) -> None:
    since = time.time() - 30
    put_variant_metrics(aws["cw"], "blue", 900, 2, [40_000.0])
    put_variant_metrics(aws["cw"], "green", 200, 0, [42_000.0])
    now = datetime.now(UTC)
    for variant, schema, cost in (("blue", 3, 0.18), ("green", 12, 0.08)):
        dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]
        aws["cw"].put_metric_data(Namespace="SupportBot", MetricData=[
            {"MetricName": "SchemaFailures", "Dimensions": dims, "Value": schema, "Timestamp": now},
            {"MetricName": "CostUSD", "Dimensions": dims, "Value": cost, "Timestamp": now},
        ])
    cfg = aws["cfg"].model_copy(update={"custom_namespace": "SupportBot"})
    stats = CloudWatchMetrics(cfg, aws["cw"]).window(since)
    assert stats["candidate"].unmeasured == [] and stats["candidate"].schema_failures == 12
    assert stats["candidate"].cost_per_request == pytest.approx(0.08 / 200)
    j = CanaryJudge(JudgeConfig()).judge(stats, at_s=60)
    assert j.action is Action.ROLLBACK and "schema failure rate 6.0% > 1.0%" in j.reason
