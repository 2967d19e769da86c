"""Optional LLM judge: grades free-text answer fields through any OpenAI-compatible endpoint.

Off by default (``evaluation.judge: null``). When configured, the runner asks the judge only
about cases whose structured fields already passed, and only about the fields named in
``judge.fields`` (default ``reply``), which the field rules then ignore. The judge answers
``{"score": 0..1, "reason": "..."}``; anything else is a judge error, which scores the case 0
and is counted, so a broken judge can never make a candidate look better.

The paired shadow judge asks the same endpoint, through the same client, which of two answers it
prefers (``prefer``: stable, candidate or tie); there too an unreadable reply is an error, never a
preference for the candidate.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from launchgate.config import Judge
from launchgate.errors import ModelEndpointError
from launchgate.eval.modelclient import ModelClient, RetryPolicy

SYSTEM = (
    "You grade answers of a customer-support assistant. Compare the ANSWER with the REFERENCE for the "
    "given TICKET. Judge meaning, correctness and tone; ignore wording differences. Reply with only a JSON "
    'object: {"score": <number from 0 to 1>, "reason": "<one sentence>"}.'
)
PAIR_SYSTEM = (
    "You compare two answers, A and B, of a customer-support assistant to the same TICKET. Judge meaning, "
    "correctness, helpfulness and tone; ignore wording differences and which answer comes first. Reply with "
    'only a JSON object: {"preference": "A" | "B" | "tie", "reason": "<one sentence>"}.'
)
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


@dataclass(frozen=True)
class Grade:
    score: float
    reason: str
    error: str | None = None


def judge_messages(
    case_input: dict[str, Any], reference: dict[str, Any], answer: dict[str, Any]
) -> list[dict[str, str]]:
    body = json.dumps({"TICKET": case_input, "REFERENCE": reference, "ANSWER": answer}, ensure_ascii=False,
                      sort_keys=True)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": body}]


def parse_grade(content: str) -> Grade:
    """Read the judge's reply; tolerate prose or code fences around the JSON object."""
    match = _JSON_OBJECT.search(content or "")
    if match is None:
        raise ValueError(f"judge reply has no JSON object: {content[:80]!r}")
    data = json.loads(match.group(0))
    score = data.get("score") if isinstance(data, dict) else None
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise ValueError(f"judge score must be a number in [0, 1], got {score!r}")
    return Grade(float(score), str(data.get("reason", ""))[:300])


@dataclass(frozen=True)
class Preference:
    """Which answer of a pair the judge prefers: ``stable``, ``candidate`` or ``tie``; None with ``error``."""

    preference: str | None
    reason: str
    error: str | None = None


def pair_messages(ticket: Any, first: dict[str, Any], second: dict[str, Any]) -> list[dict[str, str]]:
    body = json.dumps({"TICKET": ticket, "A": first, "B": second}, ensure_ascii=False, sort_keys=True)
    return [{"role": "system", "content": PAIR_SYSTEM}, {"role": "user", "content": body}]


def parse_preference(content: str) -> tuple[str, str]:
    """``("A" | "B" | "tie", reason)`` from the judge's reply (prose or code fences around the JSON tolerated)."""
    match = _JSON_OBJECT.search(content or "")
    if match is None:
        raise ValueError(f"judge reply has no JSON object: {content[:80]!r}")
    data = json.loads(match.group(0))
    pref = data.get("preference") if isinstance(data, dict) else None
    if not isinstance(pref, str) or pref.strip().lower() not in ("a", "b", "tie"):
        raise ValueError(f"judge preference must be A, B or tie, got {pref!r}")
    p = pref.strip().lower()
    return ("tie" if p == "tie" else p.upper()), str(data.get("reason", ""))[:300]


class LLMJudge:
    """One judge endpoint; use as an async context manager to share its connection pool."""

    def __init__(self, cfg: Judge, max_connections: int = 16) -> None:
        self.cfg = cfg
        self._client = ModelClient(cfg.endpoint, cfg.model, timeout_s=cfg.timeout_s,
                                   retry=RetryPolicy(max_retries=cfg.max_retries), api_key_env=cfg.api_key_env,
                                   max_connections=max_connections)

    async def __aenter__(self) -> LLMJudge:
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.__aexit__(*exc)

    def applies(self, tags: list[str]) -> bool:
        return not self.cfg.tags or any(t in self.cfg.tags for t in tags)

    async def grade(self, case_input: dict[str, Any], expected: dict[str, Any], parsed: dict[str, Any]) -> Grade:
        fields = self.cfg.fields
        reference = {k: expected[k] for k in fields if k in expected}
        answer = {k: parsed.get(k) for k in fields}
        try:
            comp = await self._client.chat(judge_messages(case_input, reference, answer),
                                           max_tokens=self.cfg.max_output_tokens)
            return parse_grade(comp.content)
        except (ModelEndpointError, ValueError) as exc:
            return Grade(0.0, "", error=f"judge: {type(exc).__name__}: {str(exc)[:160]}")

    async def prefer(self, ticket: Any, stable: dict[str, Any], candidate: dict[str, Any], *,
                     candidate_first: bool) -> Preference:
        """Stable's and the candidate's ``fields``, shown as A and B in the order given (the caller
        alternates it against position bias); the judge's A/B answer mapped back to the two versions."""
        fields = self.cfg.fields
        s_view, c_view = ({k: stable.get(k) for k in fields}, {k: candidate.get(k) for k in fields})
        first, second = (c_view, s_view) if candidate_first else (s_view, c_view)
        try:
            comp = await self._client.chat(pair_messages(ticket, first, second), max_tokens=self.cfg.max_output_tokens)
            pref, reason = parse_preference(comp.content)
        except (ModelEndpointError, ValueError) as exc:
            return Preference(None, "", error=f"judge: {type(exc).__name__}: {str(exc)[:160]}")
        if pref == "tie":
            return Preference("tie", reason)
        return Preference("candidate" if (pref == "A") == candidate_first else "stable", reason)
