"""The release gateway's configuration: where it listens, what it proxies to, how it logs.

Usually derived from a service's release.yaml (``from_release_config``): the stable and
candidate variants become the upstreams, ``pricing`` prices the tokens, the output schema
checks answers, ``artifacts.uri`` receives the request log and the optional ``gateway:``
section sets the listener and timeouts. The admin token itself is never part of the config,
only the name of the env var that holds it.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from launchgate.config import Budget, HttpUrl, Owners, Pricing, ReleaseConfig
from launchgate.config.access import Access
from launchgate.config.files import read_json
from launchgate.config.guardrails import Guardrails
from launchgate.config.replicas import Replicas
from launchgate.errors import ConfigError, DataFileError, InputError
from launchgate.eval.golden import load_prompt

DEFAULT_ADMIN_TOKEN_ENV = "LAUNCHGATE_GATEWAY_ADMIN_TOKEN"
VARIANTS = ("stable", "candidate")
# Upstream keys read from access.upstream_keys' secret refs (gateway/secretset.py, again on SIGHUP), by the
# env var name they stand in for: a process's environment cannot change, a mounted file or AWS can.
_REREAD_KEYS: dict[str, str] = {}


def set_upstream_keys(keys: dict[str, str]) -> None:
    global _REREAD_KEYS
    _REREAD_KEYS = dict(keys)  # replaced whole: a request never sees half of a reload


def upstream_key(env_name: str) -> str | None:
    """The upstream API key for ``env_name``: the re-read secret when configured, else the environment."""
    return _REREAD_KEYS.get(env_name) or os.environ.get(env_name)


class Upstream(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="OpenAI-compatible base URL including /v1, e.g. http://host:8000/v1")
    model: str = Field(min_length=1, description="deployment name sent upstream as `model`")
    prompt_version: str = Field(default="unknown", min_length=1)
    api_key_env: str | None = Field(default=None, description="env var with the upstream's API key")
    system_prompt: str | None = Field(
        default=None, description="the variant's versioned prompt; applied to requests that carry no system message"
    )

    def api_key(self) -> str | None:
        return upstream_key(self.api_key_env) if self.api_key_env else None


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    host: str = "127.0.0.1"  # loopback unless an operator decides otherwise
    port: int = Field(default=8300, ge=0, le=65535)  # = gateway.port and canary.gateway_url defaults
    stable: Upstream
    candidate: Upstream | None = None
    release_id: str | None = None
    initial_candidate_pct: float = Field(default=0.0, ge=0, le=100)
    pricing: Pricing = Pricing(input_per_1k=0.0, output_per_1k=0.0)
    output_schema: Path | None = None
    admin_token_env: str = DEFAULT_ADMIN_TOKEN_ENV
    log_store_uri: str = ".launchgate/store"
    log_flush_s: float = Field(default=2.0, gt=0, le=300)
    log_writer: str | None = Field(default=None, description="writer name in log keys; default host-pid")
    log_max_buffered_lines: int = Field(default=1_000_000, ge=1000)
    prompt_log_chars: int = Field(default=2000, ge=0, description="redacted prompt is cut to this length")
    upstream_timeout_s: float = Field(default=30.0, gt=0, le=600)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    upstream_retries: int = Field(default=1, ge=0, le=5, description="retries on connection failures only")
    upstream_max_connections: int = Field(default=256, ge=1, le=10_000,
                                          description="connection pool size, per upstream (stable, candidate)")
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    stats_capacity: int = Field(default=200_000, ge=100, description="per-request records kept for /admin/stats")
    lease_check_s: float = Field(default=0.5, gt=0, le=10)
    ready_check_s: float = Field(default=2.0, gt=0, le=60,
                                 description="how often /health/ready's answer is refreshed (a TCP connect to stable)")
    # Budget guard (launchgate/gateway/budget.py): None = this gateway enforces no daily cap.
    budget: Budget | None = None
    owners: Owners = Owners()
    notifier: str = Field(default="console", description="where budget alerts go: console | slack")
    # Runtime guardrails (guard.py): None = a plain weighted proxy, as without a guardrails: section.
    guardrails: Guardrails | None = None
    input_schema: Path | None = None
    input_schema_enforced: bool = False
    output_schema_enforced: bool = False
    max_context_chars: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    # data.subject: where the end user's id is read; the recorder passes it to the log writer, whose
    # installed data policy (privacy/logpolicy.py) writes only its HMAC.
    subject_header: str | None = None
    subject_field: str | None = None
    # quality: the share of served answers sampled into the review queue from start (review.py);
    # POST /admin/review-queue changes it at run time.
    review_sample: float = Field(default=0.0, ge=0, le=1)
    review_answer_chars: int = Field(default=2000, ge=0, le=100_000)
    # access: client API keys on /v1 (required beyond loopback unless set), admin token and upstream key refs.
    access: Access = Access()
    # gateway.replicas: off = this process's routing state lives in its memory only (replicas.py).
    replicas: Replicas = Replicas()

    def writer_name(self) -> str:
        name = self.log_writer or f"{socket.gethostname()}-{os.getpid()}"
        return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80]

    def load_output_schema(self) -> dict[str, Any] | None:
        if self.output_schema is None:
            return None
        schema = read_json(self.output_schema, "output schema")
        if not isinstance(schema, dict):
            raise DataFileError(str(self.output_schema), "output schema must be a JSON object")
        return schema

    def load_input_schema(self) -> dict[str, Any] | None:
        if self.input_schema is None:
            return None
        schema = read_json(self.input_schema, "input schema")
        if not isinstance(schema, dict):
            raise DataFileError(str(self.input_schema), "input schema must be a JSON object")
        return schema

    def admin_token(self) -> str:
        """The bearer token for /admin, read from the environment; a missing token is an input error."""
        token = os.environ.get(self.admin_token_env, "")
        if len(token) < 16:
            raise InputError(
                f"set {self.admin_token_env} to the admin API token (16+ characters) before starting the gateway"
            )
        return token


def from_release_config(cfg: ReleaseConfig, *, host: str | None = None, port: int | None = None) -> GatewayConfig:
    """The gateway config for a service's release.yaml (its ``gateway:`` section, if any, plus flags)."""
    section = cfg.gateway
    timeout = section.upstream_timeout_s or max(cfg.stable.timeout_s, cfg.candidate.timeout_s)
    try:
        return GatewayConfig(
            service=cfg.service,
            host=host or section.listen,
            port=section.port if port is None else port,
            # The prompt version is part of a release: the gateway applies each variant's own prompt.
            stable=Upstream(url=cfg.stable.endpoint, model=cfg.stable.model,
                            prompt_version=cfg.stable.prompt.version, api_key_env=cfg.stable.api_key_env,
                            system_prompt=load_prompt(cfg.stable.prompt.file)),
            candidate=Upstream(url=cfg.candidate.endpoint, model=cfg.candidate.model,
                               prompt_version=cfg.candidate.prompt.version, api_key_env=cfg.candidate.api_key_env,
                               system_prompt=load_prompt(cfg.candidate.prompt.file)),
            pricing=cfg.pricing,
            output_schema=cfg.contracts.output_schema,
            admin_token_env=section.admin_token_env,
            log_store_uri=cfg.artifacts.uri,
            budget=cfg.budget, owners=cfg.owners, notifier=cfg.notifications.notifier,
            log_flush_s=section.log_flush_s,
            upstream_timeout_s=timeout,
            guardrails=cfg.guardrails,
            input_schema=cfg.contracts.input_schema,
            input_schema_enforced=cfg.contracts.input_schema_enforced,
            output_schema_enforced=cfg.contracts.output_schema_enforced,
            max_context_chars=cfg.contracts.max_context_chars,
            max_output_tokens=cfg.contracts.max_output_tokens,
            subject_header=cfg.data.subject.header if cfg.data.subject else None,
            subject_field=cfg.data.subject.field if cfg.data.subject else None,
            review_sample=cfg.quality.sample,
            review_answer_chars=cfg.quality.answer_chars,
            access=cfg.access,
            replicas=section.replicas,
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ConfigError("gateway", [str(exc)]) from None
