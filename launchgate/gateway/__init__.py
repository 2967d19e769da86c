"""The release gateway: a weighted, lease-guarded reverse proxy in front of stable and candidate.

    launchgate gateway --config services/<svc>/release.yaml

- ``app``        Gateway (aiohttp application wiring), serve()
- ``proxy``      OpenAI-compatible pass-through (chat completions incl. streaming, models)
- ``recorder``   per-request records (log line, stats, metrics, budget), batched after the answer
- ``httpclient`` the upstream HTTP/1.1 client: answers parsed by llhttp (httptools), keep-alive pool
                 per upstream, deadlines, streaming
- ``admin``      the /admin API (weights, stats, lease, upstreams, guardrails level)
- ``guard``      the guardrails' state and checks; ``guarded`` one request through them; ``slots``
                 (in-flight bound), ``ratelimit`` (the limits library), ``handoff`` (the queue writer)
- ``routing``    weighted and sticky variant choice (pure)
- ``state``      weights, upstreams, lease and events (pure)
- ``window``     windowed per-variant stats (pure)
- ``payload``    reading OpenAI payloads and SSE streams (pure)
- ``schemacheck`` schema_ok per answer through jsonschema-rs (the gates' validator, compiled once)
- ``logwriter``  the JSONL request log in the artifact store
- ``budget``     the daily budget guard: alert, then 429 budget_exceeded
- ``fallback``   OpenAI-shaped 404/405 for unknown routes and wrong methods
- ``metrics``    Prometheus metrics
- ``client``     GatewayAdmin, a sync client of the admin API
- ``config``     GatewayConfig, derived from release.yaml

No Prefect imports here: the gateway is a long-running server that tasks talk to over HTTP.
"""
