"""Readiness checks of quality signals: user feedback, the human review queue, shadow evaluation and replay (pure).

Read from ``Evidence.quality`` (what the gateway stored under ``quality/`` in the evidence window,
gather.py), the loopback probe's ``POST /v1/feedback`` without a rating, the release bundle's shadow
summary and the newest ``launchgate replay`` report.
"""

from __future__ import annotations

from datetime import timedelta

from launchgate.readiness.evidence import Evidence
from launchgate.readiness.models import CheckResult, failed, missing, verified

SHADOW_STRATEGIES = ("shadow", "shadow_then_canary")
REPLAY_WINDOW = timedelta(days=28)  # the evidence window of the other runtime checks (gather.LOG_WINDOW)
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


def shadow_evaluation(ev: Evidence) -> CheckResult:
    strategy, s = ev.config.canary.strategy, ev.shadow_summary
    key = ev.key("shadow/shadow_summary.json")
    if s is not None and (s.get("decision") == "worse" or s.get("phase") == "failed"):
        return failed(f"the last shadow evaluation blocked the candidate ({s.get('reason') or s.get('decision')}): "
                      f"fix the answers shadow/pairs.jsonl shows before shifting traffic", key)
    if s is None:
        when = " (it runs later in this release)" if ev.in_release and strategy in SHADOW_STRATEGIES else ""
        return missing(f"no shadow evaluation in the release bundle{when}: set canary.strategy: shadow_then_canary "
                       f"(canary.strategy is {strategy})")
    if s.get("decision") != "not_worse":
        return missing(f"the last shadow evaluation did not decide ({s.get('decision')}): watch longer or raise "
                       f"shadow.sample", key)
    if strategy not in SHADOW_STRATEGIES:
        return missing(f"the last release's shadow passed but canary.strategy is now {strategy}: set "
                       f"canary.strategy: shadow_then_canary so every release is shadowed", key)
    test = s.get("test") or {}
    return verified(f"canary.strategy is {strategy} and the last shadow found the candidate not worse than stable "
                    f"over {test.get('pairs', '?')} pairs", key)


def replay_failures(ev: Evidence) -> CheckResult:
    how = ("run `launchgate replay --config release.yaml --from-log DATE..DATE --filter errors` to re-send the "
           "logged failures to both versions and compare their answers")
    if ev.replay_at is None:
        return missing(f"no replay report in the store (reviews/replay/): {how}")
    if ev.now - ev.replay_at > REPLAY_WINDOW:  # missing, not failed: nothing found fault, the evidence is old
        return missing(f"the newest replay report is from {ev.replay_at:%Y-%m-%d}, older than "
                       f"{REPLAY_WINDOW.days} days: {how}", ev.replay_key)
    return verified(f"production requests replayed from the log on {ev.replay_at:%Y-%m-%d} and the versions' "
                    f"answers compared", ev.replay_key)
