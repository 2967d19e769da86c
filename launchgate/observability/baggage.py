"""The release id as W3C baggage on the pipeline's own model calls (eval, load test, canary traffic).

Whoever traces the model server (or reads the gateway's spans) can then tell launchgate's
requests, and which release sent them, from users'. OpenTelemetry's baggage API and W3C
propagator hold and encode it; the value lives in the current context (contextvars), so every
request made inside ``release_baggage`` carries it, including those of asyncio tasks started there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import baggage, context
from opentelemetry.baggage.propagation import W3CBaggagePropagator

RELEASE_KEY = "launchgate.release_id"
_PROPAGATOR = W3CBaggagePropagator()


@contextmanager
def release_baggage(release_id: str) -> Iterator[None]:
    token = context.attach(baggage.set_baggage(RELEASE_KEY, release_id))
    try:
        yield
    finally:
        context.detach(token)


def baggage_headers() -> dict[str, str]:
    """``{"baggage": "launchgate.release_id=..."}`` inside ``release_baggage``, else {}."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def release_of(headers: object) -> str | None:
    """The release id a request's ``baggage`` header carries, if any."""
    value = _PROPAGATOR.extract(headers)  # type: ignore[arg-type]
    found = baggage.get_baggage(RELEASE_KEY, value)
    return str(found) if found is not None else None
