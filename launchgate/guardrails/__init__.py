"""The gateway's runtime guardrails as pure logic: breaker, degradation levels, injection heuristics,
output filter and canonical answers; plus the fallback drill and the gameday cores.

Nothing here touches the network on the request path; the gateway (launchgate/gateway/guard.py)
wires these into each request.
"""
