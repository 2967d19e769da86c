"""The gateway's shadow admin API (launchgate/gateway/shadow.py), on top of GatewayAdmin's client."""

from __future__ import annotations

from typing import Any

from launchgate.gateway.client import GatewayAdmin


class ShadowAdmin(GatewayAdmin):
    def shadow(self) -> dict[str, Any]:
        return self._call("GET", "/admin/shadow")

    def set_shadow(self, **settings: Any) -> dict[str, Any]:
        """enabled, sample, pool_size, daily_cost_usd, release_id, prompt_chars: omitted ones stay."""
        return self._call("POST", "/admin/shadow", json=settings)

    def pairs(self, after: int = 0, limit: int = 5000) -> dict[str, Any]:
        """Pairs recorded after sequence number ``after``: ``{pairs, last_seq, lost, ...counters}``."""
        return self._call("GET", "/admin/shadow/pairs", params={"after": after, "limit": limit})
