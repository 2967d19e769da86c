"""release.yaml's ``access:`` section: who may call the gateway's ``/v1`` and how its secrets rotate.

Client API keys live in the artifact store (``launchgate keys create|list|revoke``, docs/access.md),
only as hashes; this section says whether the gateway demands them and where its own secrets are:

    access:
      required: null            # null: required whenever the gateway listens beyond loopback
      poll_s: 5                 # how often the gateway re-reads the key registry (and on SIGHUP)
      managers: [carol]         # may create and revoke keys, besides engineering/operations approvers and owners
      max_key_age_days: 90      # readiness: a live key older than this is due for rotation
      admin_tokens: [env:LAUNCHGATE_GATEWAY_ADMIN_TOKEN, file:/run/secrets/admin-token-next]
      upstream_keys: {OPENAI_API_KEY: aws:prod/openai#key}   # re-read on SIGHUP instead of $OPENAI_API_KEY

``admin_tokens`` lists secret references (launchgate/access/secrets.py: ``env:``, ``file:``, ``prefect:``,
``aws:``); every one that resolves is a valid admin token, so a rotation window is two of them.
Empty: the env var named by ``gateway.admin_token_env``. References that do not resolve are skipped
(a rotation's "next" slot is empty most of the time), but at least one must.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

SecretRef = Annotated[str, Field(pattern=r"^(env|file|prefect|aws):.+$", max_length=500)]


class Access(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    required: bool | None = Field(default=None, description="demand an API key on /v1; null = when the gateway "
                                                            "listens beyond loopback")
    poll_s: float = Field(default=5.0, ge=0.5, le=300, description="key registry re-read interval")
    managers: list[str] = Field(default_factory=list, description="may create and revoke keys (besides engineering "
                                                                  "and operations approvers and owners)")
    max_key_age_days: int = Field(default=90, ge=1, le=3650, description="readiness: live keys older are due")
    admin_tokens: list[SecretRef] = Field(default_factory=list, max_length=4,
                                          description="secret refs of the valid admin tokens (rotation: two)")
    upstream_keys: dict[str, SecretRef] = Field(
        default_factory=dict, description="upstream api_key_env name -> secret ref, re-read on SIGHUP")

    def keys_required(self, host: str) -> bool:
        """Whether ``/v1`` demands a key on a gateway bound to ``host``."""
        return self.required if self.required is not None else not is_loopback(host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere
