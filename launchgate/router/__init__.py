"""Traffic routers: the release gateway (default), SageMaker production variants, an HAProxy backend."""

from __future__ import annotations

import os

from launchgate.config import Canary
from launchgate.errors import InputError
from launchgate.router.base import CANDIDATE, STABLE, MetricsSource, TrafficRouter, WindowStats

__all__ = ["CANDIDATE", "STABLE", "MetricsSource", "TrafficRouter", "WindowStats", "make_router"]


def gateway_token(canary: Canary) -> str:
    token = os.environ.get(canary.gateway_token_env, "").strip()
    if not token:
        raise InputError(f"the release gateway's admin token is missing: set {canary.gateway_token_env}")
    return token


def traffic_url(canary: Canary) -> str | None:
    """Where clients reach the router (its root; /v1 below it): the drill's probe and demo traffic go there."""
    if canary.router == "gateway":
        return canary.gateway_url
    if canary.router == "haproxy" and canary.haproxy is not None:
        return canary.haproxy.frontend_url
    return None  # SageMaker: invoked through its own API, not an OpenAI endpoint


def make_router(canary: Canary) -> tuple[TrafficRouter, MetricsSource]:
    """The router and metrics source named by ``canary.router``; backends are imported lazily."""
    if canary.router == "sagemaker":
        assert canary.sagemaker is not None  # enforced by the config validator
        from launchgate.metrics.cloudwatch import CloudWatchMetrics
        from launchgate.router.sagemaker import SageMakerRouter, sagemaker_clients

        sm, cw = sagemaker_clients(canary.sagemaker)
        return SageMakerRouter(canary.sagemaker, sm), CloudWatchMetrics(canary.sagemaker, cw)
    if canary.router == "haproxy":
        assert canary.haproxy is not None  # enforced by the config validator
        from launchgate.router.haproxy import HAProxyRouter

        hap = HAProxyRouter(canary.haproxy)
        return hap, hap
    from launchgate.router.gateway import GatewayRouter

    router = GatewayRouter(canary.gateway_url, gateway_token(canary))
    return router, router
