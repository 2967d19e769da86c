"""The review queue: served answers the gateway sampled (launchgate/gateway/review.py) and their labels.

Items are read from the store's day folders (``layout.review_queue_day``); a label is one small
object per item (``layout.review_label``), written with ``ArtifactStore.update`` so two people
labelling at once never lose one another's write (the later label wins, the earlier one is kept
in ``history``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from launchgate.errors import InputError
from launchgate.store import ArtifactStore, layout
from launchgate.store.jsonio import find_json, read_jsonl

Verdict = Literal["good", "bad"]
MAX_EXPECTED_CHARS = 20_000


class Label(BaseModel):
    item_id: str
    verdict: Verdict
    by: str = Field(min_length=1, max_length=200)
    at: str
    expected: dict[str, Any] | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)


def items(store: ArtifactStore, service: str, days: int, today: date | None = None) -> list[dict[str, Any]]:
    """Queue items of the last ``days`` UTC days, oldest first."""
    today = today or datetime.now(UTC).date()
    out: list[dict[str, Any]] = []
    for back in range(days - 1, -1, -1):
        day = (today - timedelta(days=back)).isoformat()
        for key in sorted(store.list(layout.review_queue_day(service, day))):
            out += read_jsonl(store, key)
    return sorted(out, key=lambda i: i.get("ts", ""))


def find_label(store: ArtifactStore, service: str, item_id: str) -> Label | None:
    found = find_json(store, layout.review_label(service, item_id))
    return None if found is None else Label.model_validate(found)


def parse_expected(text: str | None) -> dict[str, Any] | None:
    """``--expected``: the answer a person says was right, a JSON object (it may become a golden case)."""
    if text is None:
        return None
    if len(text) > MAX_EXPECTED_CHARS:
        raise InputError(f"--expected is {len(text)} characters; at most {MAX_EXPECTED_CHARS}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--expected is not JSON ({exc.msg} at character {exc.pos}): give the right answer as "
                         f"a JSON object, e.g. '{{\"category\": \"billing\"}}'") from None
    if not isinstance(value, dict):
        raise InputError("--expected must be a JSON object, e.g. '{\"category\": \"billing\"}'")
    return value


def label(store: ArtifactStore, service: str, item_id: str, verdict: str, by: str, expected: dict[str, Any] | None,
          days: int = 30, now: datetime | None = None) -> Label:
    """Label one item; an id that is not in the queue of the last ``days`` days is an input error."""
    if verdict not in ("good", "bad"):
        raise InputError(f"--verdict must be good or bad, got {verdict!r}")
    if not any(i.get("id") == item_id for i in items(store, service, days)):
        raise InputError(f"no review item {item_id!r} in the last {days} days: `launchgate review-queue list` "
                         f"shows the ids")
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")

    def change(current: bytes | None) -> bytes:
        history: list[dict[str, Any]] = []
        if current:
            old = Label.model_validate_json(current)
            history = [*old.history, old.model_dump(exclude={"history"})]
        new = Label(item_id=item_id, verdict=verdict, by=by, at=at, expected=expected,  # type: ignore[arg-type]
                    history=history)
        return new.model_dump_json().encode()

    return Label.model_validate_json(store.update(layout.review_label(service, item_id), change))


def golden_candidates(store: ArtifactStore, service: str, days: int) -> list[dict[str, Any]]:
    """Labelled-bad items with the right answer given, as golden cases to review and add.

    The input is the logged (redacted) prompt: a JSON object when the service's clients send one
    (as the golden set's inputs are), else ``{"body": text}``. The expected output is the answer
    as served with the labeller's corrections on top, so it keeps every field the schema asks for.
    """
    out = []
    for item in items(store, service, days):
        lab = find_label(store, service, item["id"])
        if lab is None or lab.verdict != "bad" or not lab.expected:
            continue
        text = item.get("prompt_redacted") or ""
        try:
            given = json.loads(text)
        except json.JSONDecodeError:
            given = None
        answer = item.get("answer") if isinstance(item.get("answer"), dict) else {}
        out.append({"id": f"review-{item['id']}", "input": given if isinstance(given, dict) else {"body": text},
                    "expected": {**answer, **lab.expected},
                    "tags": ["from-review-queue"], "source": {"request_id": item.get("request_id"),
                                                              "release_id": item.get("release_id"),
                                                              "labelled_by": lab.by, "labelled_at": lab.at}})
    return out
