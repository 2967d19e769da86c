"""Answers for requests no route takes: 404 ``not_found`` and 405 ``method_not_allowed``, in the
OpenAI error shape every other gateway answer uses (aiohttp's own are plain text).

A catch-all route registered last in each application (the gateway and its ``/admin`` sub-app)
rather than a middleware: aiohttp's router tries the most specific path first, so a request a real
route serves never reaches the catch-all and costs nothing more, while any middleware in the app
tree would run on every proxied request. The catch-all works out 404 from 405 itself, by asking
the other routes which methods they would have taken.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_urldispatcher import PrefixedSubAppResource

from launchgate.gateway.proxy import error_body

_PATH_SHOWN = 200  # a path is echoed back, clipped: it is the client's own input


async def _allowed_methods(request: web.Request) -> set[str]:
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is request.match_info.route.resource or isinstance(resource, PrefixedSubAppResource):
            continue
        match, methods = await resource.resolve(request)
        if match is None:
            allowed |= methods
    return allowed


async def not_routed(request: web.Request) -> web.StreamResponse:
    path = request.path if len(request.path) <= _PATH_SHOWN else request.path[:_PATH_SHOWN] + "..."
    allowed = await _allowed_methods(request)
    if allowed:
        methods = ", ".join(sorted(allowed))
        body = error_body(405, "method_not_allowed", f"{request.method} is not allowed on {path}; use {methods}")
        return web.json_response(body, status=405, headers={"Allow": methods})
    return web.json_response(error_body(404, "not_found", f"no route for {request.method} {path}"), status=404)


def add_fallback(app: web.Application, *, subapp: bool = False) -> None:
    """Register the catch-all; call it after every other route of ``app``. A sub-app also needs its
    bare prefix (``/admin``) caught, which ``/{tail}`` under the prefix does not match."""
    if subapp:
        app.router.add_route("*", "", not_routed)
    app.router.add_route("*", "/{tail:.*}", not_routed)
