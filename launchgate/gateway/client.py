"""GatewayAdmin: a small synchronous client of the gateway's admin API (httpx).

This is the boundary where httpx errors become ``GatewayError`` (launchgate.errors): callers
see a message a person can act on and the HTTP status (``exc.status``, None if unreachable),
never the token.

    admin = GatewayAdmin("http://127.0.0.1:8300", token)
    admin.acquire_lease("canary-<release_id>", ttl_s=15)
    admin.set_weights(10, "canary step 1", release_id=rid)
    stats = admin.stats(since=t0, variant="candidate")
"""

from __future__ import annotations

from typing import Any

import httpx

from launchgate.errors import GatewayError


class GatewayAdmin:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        # The base URL may be given with or without the /v1 suffix that clients use.
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport,
                                    headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> GatewayAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ calls

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/admin/state")

    def set_weights(self, candidate_pct: float, reason: str, release_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"candidate": candidate_pct, "reason": reason}
        if release_id is not None:
            body["release_id"] = release_id
        return self._call("POST", "/admin/weights", json=body)

    def stats(self, since: float, variant: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"since": repr(float(since))}
        if variant is not None:
            params["variant"] = variant
        return self._call("GET", "/admin/stats", params=params)

    def acquire_lease(self, holder: str, ttl_s: float) -> dict[str, Any]:
        """Acquire or renew; GatewayError with status 409 when another holder's lease is live."""
        return self._call("POST", "/admin/lease", json={"holder": holder, "ttl_s": ttl_s})

    def release_lease(self, holder: str) -> dict[str, Any]:
        return self._call("DELETE", "/admin/lease", params={"holder": holder})

    def set_candidate(self, url: str, model: str, prompt_version: str, release_id: str,
                      system_prompt: str | None = None) -> dict[str, Any]:
        return self._call("POST", "/admin/upstreams", json={
            "candidate": {"url": url, "model": model, "prompt_version": prompt_version,
                          "system_prompt": system_prompt},
            "release_id": release_id,
        })

    def set_stable(self, url: str, model: str, prompt_version: str, reason: str = "",
                   system_prompt: str | None = None) -> dict[str, Any]:
        return self._call("POST", "/admin/upstreams", json={
            "stable": {"url": url, "model": model, "prompt_version": prompt_version,
                       "system_prompt": system_prompt},
            "reason": reason,
        })

    def guard(self) -> dict[str, Any]:
        """The guardrails' state: level, breakers, in-flight, the last level changes."""
        return self._call("GET", "/admin/guard")

    def set_degradation(self, level: str, reason: str, by: str) -> dict[str, Any]:
        """Set the degradation level (normal | reduced | fallback_only); audited by the gateway."""
        return self._call("POST", "/admin/degradation", json={"level": level, "reason": reason, "by": by})

    # --------------------------------------------------------------------------- plumbing

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        what = f"gateway admin {method} {path} at {self.base_url}"
        try:
            resp = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise GatewayError(f"{what} timed out") from exc
        except httpx.HTTPError as exc:
            raise GatewayError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 400:
            raise GatewayError(f"{what} answered {resp.status_code}: {_message(resp)}", resp.status_code)
        try:
            data = resp.json()
        except ValueError as exc:
            raise GatewayError(f"{what} answered with a body that is not JSON", resp.status_code) from exc
        if not isinstance(data, dict):
            raise GatewayError(f"{what} answered with unexpected JSON", resp.status_code)
        return data


def _message(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error", {})
        text = f"{err.get('code')}: {err.get('message')}"
    except (ValueError, AttributeError):
        text = resp.text
    return text[:300]
