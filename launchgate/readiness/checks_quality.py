"""Readiness checks of production quality signals: user feedback and the human review queue (pure).

Read from ``Evidence.quality`` (what the gateway stored under ``quality/`` in the evidence window,
gather.py) and the loopback probe's ``POST /v1/feedback`` without a rating.
"""

from __future__ import annotations

from launchgate.readiness.evidence import Evidence
from launchgate.readiness.models import CheckResult, failed, missing, verified

SERVED = (400, 401, 403)  # the probe's rating-less body refused: the endpoint is there (403/401: behind keys)


def user_feedback(ev: Evidence) -> CheckResult:
    q, p = ev.quality, ev.probe
    status, url = (p.feedback_status, p.url) if p is not None else (None, "")
    if q is not None and q.feedback_batches:
        return verified(f"user feedback stored on {q.feedback_days} of the last {q.window_days} days "
                        f"({q.feedback_batches} batches from POST /v1/feedback)", q.newest_feedback)
    window = f"no user feedback stored in the last {q.window_days} days" if q is not None else \
        "the store's feedback was not read"
    if status in SERVED:
        return verified(f"the gateway serves POST /v1/feedback ({url} refused the probe's rating-less body with "
                        f"{status}); {window} yet", url)
    if status is not None:
        return failed(f"{window} and {url}/v1/feedback answered {status}: run a gateway that serves feedback and "
                      f"have clients send users' ratings with the answer's X-Request-ID", url)
    return missing(f"{window} and no gateway was probed on loopback")


def review_queue(ev: Evidence) -> CheckResult:
    q, sample = ev.quality, ev.config.quality.sample
    if q is None:
        return missing("the review queue was not read from the store")
    if not q.queue_batches:  # missing, not failed: a team reviewing answers elsewhere may attest it
        if sample <= 0:
            return missing(f"quality.sample is 0 and no answer was sampled in the last {q.window_days} days: set "
                           f"quality.sample (e.g. 0.01) so people review served answers", "quality.sample")
        return missing(f"quality.sample is {sample:g} but no answer was sampled in the last {q.window_days} days "
                       f"(has the gateway served since?)")
    if not q.items_labelled:
        return failed(f"{q.items_checked} of the newest sampled answers, none labelled: label them with "
                      f"`launchgate review-queue label ID --as NAME --verdict good|bad`", q.newest_queue)
    return verified(f"answers sampled on {q.queue_days} of the last {q.window_days} days; {q.items_labelled} of "
                    f"the newest {q.items_checked} labelled", q.newest_queue)
