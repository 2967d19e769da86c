"""The gateway's own 404/405 answers speak the OpenAI error shape like everything else it says."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.gateway import running_gateway

DEAD = "http://127.0.0.1:9/v1"  # no upstream is called on these paths


@pytest.mark.parametrize(("method", "path", "status", "code", "allow"), [
    ("GET", "/nope", 404, "not_found", None),
    ("POST", "/", 404, "not_found", None),
    ("GET", "/v1/chat/completions/", 404, "not_found", None),
    ("GET", "/v1/embeddings", 404, "not_found", None),
    ("GET", "/v1/chat/completions", 405, "method_not_allowed", {"POST"}),
    ("DELETE", "/v1/models", 405, "method_not_allowed", {"GET", "HEAD"}),
    ("POST", "/health", 405, "method_not_allowed", {"GET", "HEAD"}),
    ("GET", "/admin", 404, "not_found", None),
    ("GET", "/admin/", 404, "not_found", None),
    ("GET", "/admin/nope", 404, "not_found", None),
    ("PUT", "/admin/state", 405, "method_not_allowed", {"GET", "HEAD"}),
    ("GET", "/admin/weights", 405, "method_not_allowed", {"POST"}),
    ("PATCH", "/admin/lease", 405, "method_not_allowed", {"POST", "DELETE"}),
])
def test_unrouted_requests_get_openai_shaped_json(tmp_path: Path, method: str, path: str, status: int, code: str,
                                                   allow: set[str] | None) -> None:
    with running_gateway(DEAD, None, str(tmp_path)) as (url, token):
        for headers in ({}, {"Authorization": f"Bearer {token}"}):
            r = httpx.request(method, url + path, headers=headers)
            assert r.status_code == status, r.text
            assert r.headers["Content-Type"].startswith("application/json"), r.headers
            err = r.json()["error"]
            assert err["code"] == code and err["type"] == "invalid_request_error", err
            assert path.rstrip("/") in err["message"] or path == "/", err
            if allow is not None:
                assert set(r.headers["Allow"].split(", ")) == allow
                assert all(m in err["message"] for m in allow)


def test_served_routes_are_untouched(tmp_path: Path) -> None:
    with running_gateway(DEAD, None, str(tmp_path)) as (url, token):
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        assert httpx.get(f"{url}/admin/state").status_code == 401  # the token check still comes first
        state = httpx.get(f"{url}/admin/state", headers={"Authorization": f"Bearer {token}"})
        assert state.status_code == 200 and "weights" in state.json()
        assert httpx.head(f"{url}/nope").status_code == 404
