from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from launchgate.config import Owners
from launchgate.errors import InputError
from launchgate.notify import ConsoleNotifier, Dispatcher, make_notifier
from launchgate.notify.base import Notice, NotifyOutcome
from launchgate.settings import Settings


def notice(event: str = "eval_gate", role: str = "engineering") -> Notice:
    return Notice(event=event, role=role, service="svc", title="t", text="x")


class Recording:
    name = "recording"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []

    def send(self, n: Notice, target: str | None) -> NotifyOutcome:
        self.sent.append((n.event, target))
        return NotifyOutcome(event=n.event, role=n.role, target=target, notifier=self.name, ok=True)


class Exploding:
    name = "exploding"

    def send(self, n: Notice, target: str | None) -> NotifyOutcome:
        raise RuntimeError("boom")


def with_token(token: str | None) -> Settings:
    # Settings(slack_token=...) is ignored (the field has a validation alias), so set it like tasks/ would.
    return Settings().model_copy(update={"slack_token": None if token is None else SecretStr(token)})


def test_make_notifier_kinds() -> None:
    assert isinstance(make_notifier("console", Settings()), ConsoleNotifier)
    slack = make_notifier(" Slack ", with_token("xoxb-1"))
    assert slack.name == "slack"
    with pytest.raises(InputError, match="LAUNCHGATE_SLACK_TOKEN"):
        make_notifier("slack", with_token(None))
    with pytest.raises(InputError, match="LAUNCHGATE_SLACK_TOKEN"):
        make_notifier("slack", with_token("  "))
    with pytest.raises(InputError, match="'pager'"):
        make_notifier("pager", Settings())


def test_dispatcher_sends_to_role_owner_and_honours_mutes() -> None:
    rec = Recording()
    dispatcher = Dispatcher(
        rec, Owners(engineering="C-ENG", oncall="C-ONCALL"), {"oncall": ["*"], "engineering": ["x"]}
    )
    assert dispatcher.send(notice()).ok
    muted = dispatcher.send(notice(event="rollback", role="oncall"))
    also_muted = dispatcher.send(notice(event="x"))
    assert rec.sent == [("eval_gate", "C-ENG")]
    assert muted.muted and also_muted.muted and muted.target == "C-ONCALL"
    assert [o.muted for o in dispatcher.outcomes] == [False, True, True]
    rows = [json.loads(line) for line in dispatcher.jsonl().splitlines()]
    assert [r["muted"] for r in rows] == [False, True, True]


def test_dispatcher_never_raises() -> None:
    dispatcher = Dispatcher(Exploding(), Owners(engineering="C-ENG"))
    out = dispatcher.send(notice())
    assert not out.ok and out.error == "notifier raised RuntimeError" and out.notifier == "exploding"
    assert dispatcher.outcomes == [out]
