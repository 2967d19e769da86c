"""AWS Cost Explorer (boto3 ``ce``): what the bill says, next to what the request log metered.

The one boundary where botocore errors become ExternalError for the cost review. Optional:
only used when ``cost_review.cost_explorer`` is true. Credentials and region come from the
standard AWS settings; ``ce_endpoint_url`` points it at moto_server in tests.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from launchgate.errors import ExternalError
from launchgate.reviews.config import CostReviewConfig
from launchgate.reviews.cost import parse_cost_explorer

MAX_PAGES = 50  # a month of DAILY results is one page; the bound only stops a misbehaving endpoint


def daily_costs(cfg: CostReviewConfig, start: date, end: date) -> dict[str, float]:
    """Billed cost per day of ``[start, end)`` for ``cfg.ce_metric`` (filtered by ``cfg.ce_filter``)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client("ce", region_name=cfg.ce_region, endpoint_url=cfg.ce_endpoint_url,
                          config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 4,
                                                                                     "mode": "standard"}))
    request: dict[str, Any] = {"TimePeriod": {"Start": f"{start}", "End": f"{end}"}, "Granularity": "DAILY",
                               "Metrics": [cfg.ce_metric]}
    if cfg.ce_filter:
        request["Filter"] = cfg.ce_filter
    out: dict[str, float] = {}
    try:
        for _ in range(MAX_PAGES):
            response = client.get_cost_and_usage(**request)
            for day, usd in parse_cost_explorer(response, cfg.ce_metric).items():
                out[day] = round(out.get(day, 0.0) + usd, 8)
            token = response.get("NextPageToken")
            if not token:
                break
            request["NextPageToken"] = token
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise ExternalError(f"Cost Explorer refused get_cost_and_usage ({code}): check the IAM permission "
                            f"ce:GetCostAndUsage and cost_review.ce_filter") from exc
    except BotoCoreError as exc:
        raise ExternalError(f"Cost Explorer unreachable ({type(exc).__name__})") from exc
    return out
