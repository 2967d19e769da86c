"""Slack via slack-sdk's WebClient: chat.postMessage with Block Kit.

This module is the boundary where slack-sdk and network errors stop: ``send`` always returns
a NotifyOutcome, because a notice that cannot be delivered must never fail a release. Error
strings are built from Slack's error code / the exception type, then scrubbed of the token.
"""

from __future__ import annotations

import random
import re
import threading
from typing import Any

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import BackoffRetryIntervalCalculator, Jitter, RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from launchgate.notify.base import Notice, NotifyOutcome
from launchgate.notify.blocks import build_blocks, fallback_text

ERROR_MAX = 300
_SLACK_CODE = re.compile(r"[a-z0-9_.]{1,80}")


class _ScaledJitter(Jitter):
    """slack-sdk's default jitter adds up to 1 s regardless of the backoff; scale it instead."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def recalculate(self, duration: float) -> float:
        return duration + random.random() * self.scale


class _CountingHandler(RetryHandler):
    """Delegates to a slack-sdk handler and counts the retries it grants (for ``attempts``)."""

    def __init__(self, inner: RetryHandler, tally: threading.local) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner = inner
        self.tally = tally

    def can_retry(self, **kwargs: Any) -> bool:
        return self.inner.can_retry(**kwargs)

    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        self.inner.prepare_for_next_attempt(**kwargs)
        self.tally.retries = getattr(self.tally, "retries", 0) + 1


class SlackNotifier:
    name = "slack"

    def __init__(
        self,
        token: SecretStr,
        base_url: str = "https://slack.com/api/",
        timeout: float = 10.0,
        max_retries: int = 3,
        *,
        backoff_s: float = 0.5,
    ) -> None:
        """``backoff_s`` scales the wait between retries of 5xx/connection errors (doubling each
        time, plus up to ``backoff_s`` jitter); 429s wait for Slack's Retry-After instead."""
        self._token = token
        # slack-sdk joins base_url + method name, so a missing slash silently breaks every call.
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self.max_retries = max_retries
        self._tally = threading.local()
        backoff = BackoffRetryIntervalCalculator(backoff_factor=backoff_s, jitter=_ScaledJitter(backoff_s))
        handlers: list[RetryHandler] = [
            RateLimitErrorRetryHandler(max_retry_count=max_retries),
            ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=backoff),
            ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=backoff),
        ]
        self.client = WebClient(
            token=token.get_secret_value(),
            base_url=self.base_url,
            timeout=timeout,  # type: ignore[arg-type]  # annotated int, urllib takes float seconds
            retry_handlers=[_CountingHandler(h, self._tally) for h in handlers],
        )

    def send(self, notice: Notice, target: str | None) -> NotifyOutcome:
        def outcome(ok: bool, error: str | None = None, attempts: int = 1) -> NotifyOutcome:
            return NotifyOutcome(
                event=notice.event,
                role=notice.role,
                target=target,
                notifier=self.name,
                ok=ok,
                attempts=attempts,
                error=None if error is None else self._scrub(error),
            )

        if not target:
            return outcome(False, f"no owner configured for role {notice.role}", attempts=0)
        self._tally.retries = 0
        try:
            self.client.chat_postMessage(
                channel=target,
                text=fallback_text(notice),
                blocks=build_blocks(notice),
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            return outcome(False, _api_error(exc), attempts=self._attempts())
        except (SlackClientError, OSError, ValueError) as exc:
            # OSError covers URLError, refused connections and socket timeouts.
            return outcome(False, _network_error(exc), attempts=self._attempts())
        except Exception as exc:  # the contract is "never raises"; keep the type for debugging
            return outcome(False, f"unexpected {type(exc).__name__}", attempts=self._attempts())
        return outcome(True, attempts=self._attempts())

    def _attempts(self) -> int:
        return 1 + int(getattr(self._tally, "retries", 0))

    def _scrub(self, text: str) -> str:
        secret = self._token.get_secret_value()
        if secret:
            text = text.replace(secret, "***")
        return text[:ERROR_MAX]

    def __repr__(self) -> str:
        return f"SlackNotifier(base_url={self.base_url!r})"


def _api_error(exc: SlackApiError) -> str:
    response = exc.response
    status = getattr(response, "status_code", None)
    code = None
    try:
        code = response.get("error") if response is not None else None
    except Exception:
        code = None
    if status == 429:
        return "rate limited by Slack (HTTP 429) after retries"
    # Slack error codes look like "channel_not_found"; anything else is slack-sdk describing a
    # non-JSON body (a proxy's HTML page), which is noise in a notification record.
    if isinstance(code, str) and _SLACK_CODE.fullmatch(code):
        return f"slack error {code} (HTTP {status})"
    if isinstance(status, int) and status >= 500:
        return f"slack server error (HTTP {status}) after retries"
    return f"slack HTTP {status}: unexpected response"


def _network_error(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    detail = type(reason).__name__ if isinstance(reason, BaseException) else type(exc).__name__
    if isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError) or "timed out" in str(exc):
        return f"slack request timed out ({detail})"
    return f"cannot reach Slack ({detail}: {reason or exc})"
