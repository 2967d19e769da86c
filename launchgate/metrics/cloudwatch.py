"""Per-variant window stats of a SageMaker endpoint from CloudWatch (``GetMetricData``).

Read per production variant (namespace AWS/SageMaker, dimensions EndpointName + VariantName):
Invocations (Sum), Invocation5XXErrors (Sum), ModelLatency (Average, Maximum, and p50/p95/p99 when
``latency_percentiles`` is on). ModelLatency is in microseconds; WindowStats uses milliseconds.
Schema failures and cost are not SageMaker metrics: they are read from ``custom_namespace``
(SchemaFailures and CostUSD, Sum) when the service publishes them, otherwise declared unmeasured.

The whole window is one CloudWatch period (rounded up to a whole minute), so CloudWatch computes
each percentile over the whole window; percentiles of several periods cannot be combined.
SageMaker publishes these metrics once a minute, a minute or two late: with this source, a
canary interval shorter than 60 s sees the same numbers twice.

Tested against moto_server, which serves Sum/Average/Maximum but answers percentile statistics
with HTTP 500: the percentile path is exercised only as a RouterError there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from launchgate.config import SageMakerRouting
from launchgate.router.base import CANDIDATE, STABLE, WindowStats
from launchgate.router.sagemaker import aws_call

PERCENTILES = ("p50", "p95", "p99")


def _period(since: float, now: float) -> int:
    return max(60, int(math.ceil((now - since) / 60.0)) * 60)


class CloudWatchMetrics:
    def __init__(self, cfg: SageMakerRouting, client: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.client = client
        self.clock = clock
        self.names = {STABLE: cfg.stable_variant, CANDIDATE: cfg.candidate_variant}

    def _queries(self, period: int) -> list[dict[str, Any]]:
        wanted: list[tuple[str, str, str, str]] = [  # (id suffix, namespace, metric, stat)
            ("inv", "AWS/SageMaker", "Invocations", "Sum"),
            ("err", "AWS/SageMaker", "Invocation5XXErrors", "Sum"),
            ("lat_avg", "AWS/SageMaker", "ModelLatency", "Average"),
            ("lat_max", "AWS/SageMaker", "ModelLatency", "Maximum"),
        ]
        if self.cfg.latency_percentiles:
            wanted += [(f"lat_{p}", "AWS/SageMaker", "ModelLatency", p) for p in PERCENTILES]
        if self.cfg.custom_namespace:
            wanted += [("schema", self.cfg.custom_namespace, "SchemaFailures", "Sum"),
                       ("cost", self.cfg.custom_namespace, "CostUSD", "Sum")]
        queries = []
        for label, variant in self.names.items():
            dims = [{"Name": "EndpointName", "Value": self.cfg.endpoint_name},
                    {"Name": "VariantName", "Value": variant}]
            for suffix, ns, metric, stat in wanted:
                queries.append({
                    "Id": f"{label}_{suffix}",
                    "MetricStat": {"Metric": {"Namespace": ns, "MetricName": metric, "Dimensions": dims},
                                   "Period": period, "Stat": stat},
                    "ReturnData": True,
                })
        return queries

    def _fetch(self, since: float, now: float) -> dict[str, list[float]]:
        queries = self._queries(_period(since, now))
        values: dict[str, list[float]] = {q["Id"]: [] for q in queries}
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": datetime.fromtimestamp(since, UTC),
            "EndTime": datetime.fromtimestamp(now, UTC),
        }
        with aws_call(f"CloudWatch GetMetricData for {self.cfg.endpoint_name}"):
            while True:
                page = self.client.get_metric_data(**kwargs)
                for result in page.get("MetricDataResults", []):
                    values.setdefault(result["Id"], []).extend(float(v) for v in result.get("Values", []))
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        return values

    def window(self, since: float) -> dict[str, WindowStats]:
        # End on the next whole minute: CloudWatch timestamps are truncated to seconds and SageMaker
        # publishes per minute, so "now" would drop the newest, still-filling datapoint.
        end = (math.floor(self.clock() / 60.0) + 1) * 60.0
        values = self._fetch(since, end)
        unmeasured = [] if self.cfg.custom_namespace else ["schema", "cost"]
        return {label: self._stats(label, values, unmeasured) for label in self.names}

    def _stats(self, label: str, values: dict[str, list[float]], unmeasured: list[str]) -> WindowStats:
        def total(key: str) -> float:
            return sum(values.get(f"{label}_{key}", []))

        def most(key: str, scale: float = 1e-3) -> float | None:
            # Several datapoints only when the window straddles a period boundary: take the worst.
            got = values.get(f"{label}_{key}", [])
            return max(got) * scale if got else None

        count = int(round(total("inv")))
        cost = total("cost") if self.cfg.custom_namespace else None
        return WindowStats(
            count=count, errors=int(round(total("err"))),
            mean_ms=most("lat_avg"), max_ms=most("lat_max"),
            p50_ms=most("lat_p50"), p95_ms=most("lat_p95"), p99_ms=most("lat_p99"),
            schema_failures=int(round(total("schema"))),
            cost_per_request=(cost / count if cost is not None and count else None),
            unmeasured=list(unmeasured),
        )
