"""Cost Explorer through boto3 over HTTP: moto_server serves canned get_cost_and_usage results."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from launchgate.config import Budget
from launchgate.errors import ExternalError
from launchgate.requestlog.reader import AT, parse_ts
from launchgate.reviews.config import CostReviewConfig
from launchgate.reviews.cost import build_report, compare_cost_explorer, month_bounds
from launchgate.reviews.costexplorer import daily_costs
from tests.support.moto import moto_server, reset
from tests.support.requestlog import PRICING, synth_requests


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def can(endpoint: str, days: dict[str, str]) -> None:
    """Queue one canned result: what Cost Explorer would bill for these days."""
    result = {"results": [{"ResultsByTime": [
        {"TimePeriod": {"Start": d, "End": d}, "Total": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
         "Groups": [], "Estimated": False} for d, amount in days.items()]}]}
    req = urllib.request.Request(f"{endpoint}/moto-api/static/ce/cost-and-usage-results", method="POST",
                                 data=json.dumps(result).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5):
        pass


def test_daily_costs_are_read_and_compared_with_the_log(moto: str) -> None:
    reset(moto)
    can(moto, {"2026-10-01": "0.30", "2026-10-02": "0.25", "2026-10-03": "0.20"})
    cfg = CostReviewConfig(cost_explorer=True, ce_endpoint_url=moto,
                           ce_filter={"Tags": {"Key": "service", "Values": ["support-bot"]}})
    billed = daily_costs(cfg, date(2026, 10, 1), date(2026, 11, 1))
    assert billed == {"2026-10-01": 0.3, "2026-10-02": 0.25, "2026-10-03": 0.2}

    lines = synth_requests(datetime(2026, 10, 1, tzinfo=UTC), days=3, per_day=400, seed=1)
    for line in lines:
        line[AT] = parse_ts(line["ts"])
    report = build_report("support-bot", "2026-10", lines, PRICING, Budget(), CostReviewConfig())
    cmp = compare_cost_explorer(billed, report.days, cfg.ce_metric)
    assert cmp["billed_usd"] == 0.75 and cmp["logged_usd"] == pytest.approx(report.total_usd)
    assert cmp["difference_pct"] == pytest.approx((0.75 / report.total_usd - 1) * 100, abs=0.01)
    assert month_bounds("2026-10")[0].date() == date(2026, 10, 1)


def test_an_empty_queue_means_no_billed_days(moto: str) -> None:
    reset(moto)
    cfg = CostReviewConfig(cost_explorer=True, ce_endpoint_url=moto)
    assert daily_costs(cfg, date(2026, 9, 1), date(2026, 10, 1)) == {}


def test_unreachable_cost_explorer_is_an_external_error() -> None:
    cfg = CostReviewConfig(cost_explorer=True, ce_endpoint_url="http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(ExternalError, match="Cost Explorer unreachable"):
        daily_costs(cfg, date(2026, 9, 1), date(2026, 10, 1))
