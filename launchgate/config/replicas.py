"""``gateway.replicas``: several gateway processes of one service that share their routing state.

Off by default: one gateway process holds its routing state in memory, as it always did. With
``shared_state: true`` every replica reads one routing-state document from the artifact store,
publishes its window counters beside it and books its spend on the shared day ledger
(launchgate/gateway/replicas.py, docs/gateway.md "Replicas").
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Replicas(BaseModel):
    # Its own copy of the strict config, like observability.py: launchgate.config imports this module.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    shared_state: bool = Field(default=False, description="share routing state, stats and budget through the store")
    name: str | None = Field(default=None, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$",
                             description="this replica's name in the store; default host-pid")
    poll_s: float = Field(default=0.25, gt=0, le=1, description="how often the routing-state document is read")
    stale_s: float = Field(default=10.0, gt=0, le=600,
                           description="without a lease: revert to stable when the state was unreadable this long")
    publish_s: float = Field(default=1.0, gt=0, le=10, description="how often window counters are published")
    missing_after: int = Field(default=3, ge=2, le=60,
                               description="publish intervals without news before a replica counts as missing")
    budget_sync_s: float = Field(default=1.0, gt=0, le=60,
                                 description="how often spend is added to the day ledger and the total re-read")
