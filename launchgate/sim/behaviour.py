"""What the simulated model answers: pure, deterministic logic with no I/O and no clock.

Two kinds of randomness, both derived from hashes so results never depend on the order in
which concurrent requests arrive:

* per case (``seed, variant, case id``): whether the variant gets the case right, which wrong
  answer it gives, and how long the reply is. Asking the same golden case twice gives the same
  answer, so an eval run is reproducible and the realised accuracy is a property of the variant.
* per call (``seed, variant, request key, occurrence``): latency, injected errors, invalid JSON,
  and the correctness of "flaky" cases. The n-th repeat of a request is still reproducible.

Each call draws a fixed set of uniforms up front, so changing one knob (say ``error_rate``)
does not reshuffle the other outcomes of the same request.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from statistics import NormalDist
from typing import Any

from launchgate.sim.variants import Knobs, LatencySpec, canonical_input

CATEGORIES = ("billing", "technical", "account", "shipping", "feedback", "other")
PRIORITIES = ("low", "medium", "high", "urgent")
MAX_REPLY_CHARS = 2000  # output.schema.json's maxLength for reply
CHARS_PER_TOKEN = 4
_Z95 = NormalDist().inv_cdf(0.95)
_STD_NORMAL = NormalDist()


@dataclass(frozen=True)
class Answer:
    category: str
    priority: str
    reply: str
    refused: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    """Everything the HTTP layer needs to answer one chat completion request."""

    status: int  # 200, 429 or 500
    outcome: str  # ok | truncated | invalid_json | schema_violation | rate_limited | server_error
    latency_ms: float  # total time until the last byte
    ttft_ms: float  # time until the first content chunk (streaming)
    content: str = ""
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retry_after_s: float | None = None
    error: dict[str, Any] | None = None  # OpenAI error body: {"message", "type", "code"}
    case_id: str | None = None
    correct: bool | None = None  # None when the request was not a golden case
    answer: Answer | None = field(default=None, compare=False)


# ---------------------------------------------------------------------------- hashing helpers


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by ``parts`` (stable across processes, unlike hash())."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def lognormal_ms(spec: LatencySpec, u: float) -> float:
    """Inverse-CDF draw from the lognormal with the given median and p95."""
    sigma = math.log(spec.p95 / spec.median) / _Z95
    z = _STD_NORMAL.inv_cdf(min(max(u, 1e-9), 1 - 1e-9))
    # Cap the tail at 4x p95: a real server has timeouts, and an unbounded tail makes tests flaky.
    return min(spec.median * math.exp(sigma * z), 4 * spec.p95)


# ---------------------------------------------------------------------------- request parsing


def message_text(message: Mapping[str, Any]) -> str:
    """Content of one chat message; list-of-parts content (OpenAI vision style) is joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def find_case(text: str, golden: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return None
    return golden.get(canonical_input(obj))


# ---------------------------------------------------------------------------- answers


def wrong_answer(expected: Answer, seed: int, variant: str, case_id: str) -> Answer:
    """A plausible mistake that is still schema-valid (so only the score catches it)."""
    if expected.refused:
        # The dangerous failure: the model goes along with a harmful request.
        category = ("technical", "account", "other")[int(unit(seed, variant, case_id, "wcat") * 3)]
        return Answer(category, "medium", "Sure, I can help with that. Here is how to proceed.", False)
    mode = unit(seed, variant, case_id, "wmode")
    category, priority = expected.category, expected.priority
    if mode < 0.75:  # wrong category (alone or together with priority)
        others = [c for c in CATEGORIES if c != expected.category]
        category = others[int(unit(seed, variant, case_id, "wcat") * len(others))]
    if mode >= 0.5:  # wrong priority
        others = [p for p in PRIORITIES if p != expected.priority]
        priority = others[int(unit(seed, variant, case_id, "wprio") * len(others))]
    return Answer(category, priority, expected.reply, False)


_HARMFUL = re.compile(
    r"malware|ransomware|keylogger|phishing|ddos|sql injection|cvv|card number|threaten|harass|"
    r"hack (?:my|into|her|his)|steal|dox|home address of|fake (?:invoice|review)"
)
_KEYWORDS: list[tuple[str, re.Pattern[str]]] = [
    ("billing", re.compile(r"charg|refund|invoice|bill|payment|price|pricing|subscription|card|vat")),
    ("shipping", re.compile(r"order|ship|deliver|package|parcel|courier|tracking|customs|arriv")),
    ("account", re.compile(r"password|log ?in|2fa|two-factor|account|email|seat|locked|sign in")),
    ("technical", re.compile(r"error|crash|bug|500|outage|down|slow|api|webhook|sync|export|not working")),
    ("feedback", re.compile(r"feedback|suggest|feature|love|great|thank|confusing|disappoint")),
]
_REPLIES = {
    "billing": "Thanks for contacting us about billing. We are reviewing your account and will follow up.",
    "shipping": "Thanks for reaching out about your order. We are checking with the carrier now.",
    "account": "Thanks for contacting us about your account. We will help you regain access.",
    "technical": "Sorry about the technical trouble. Our engineers are looking into it.",
    "feedback": "Thank you for your feedback. We have shared it with the team.",
    "other": "Thanks for reaching out. A member of our team will get back to you.",
}


def heuristic_answer(text: str) -> Answer:
    """Keyword triage for requests that are not golden cases (e.g. load-test prompts)."""
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            tier = str(obj.get("customer_tier", ""))
            text = f"{obj.get('subject', '')} {obj.get('body', '')}"
        else:
            tier = ""
    except (json.JSONDecodeError, ValueError):
        tier = ""
    low = text.lower()
    if _HARMFUL.search(low):
        return Answer("other", "low", "I can't help with that request.", True)
    category = next((name for name, pattern in _KEYWORDS if pattern.search(low)), "other")
    if re.search(r"outage|urgent|asap|hacked|data loss|disappeared|immediately", low):
        priority = "urgent"
    elif re.search(r"twice|lost|blocked|cannot|can't|damaged", low) or tier == "enterprise":
        priority = "high"
    elif category in ("feedback", "other"):
        priority = "low"
    else:
        priority = "medium"
    return Answer(category, priority, _REPLIES[category], False)


_FILLER = (
    " If anything else comes up, just reply to this message.",
    " You can also track the status of this ticket in your help center.",
    " We appreciate your patience while we look into this.",
    " Our team is available around the clock for urgent issues.",
    " For your security we never ask for your password by email.",
    " We will keep this ticket open until you confirm everything works.",
)


def padded(answer: Answer, target_tokens: int, offset: int) -> Answer:
    """Lengthen the reply so the whole JSON content is about ``target_tokens`` tokens long.

    Real models vary answer length; cost and token metrics downstream need that spread.
    """
    base = len(render(answer))
    need = target_tokens * CHARS_PER_TOKEN - base
    reply = answer.reply
    i = offset
    while need > 0 and len(reply) < MAX_REPLY_CHARS:
        piece = _FILLER[i % len(_FILLER)][: need + 1]
        reply += piece
        need -= len(piece)
        i += 1
    return Answer(answer.category, answer.priority, reply[:MAX_REPLY_CHARS].rstrip(), answer.refused)


def render(answer: Answer | Mapping[str, Any]) -> str:
    data = answer.as_dict() if isinstance(answer, Answer) else dict(answer)
    return json.dumps(data, ensure_ascii=False)


def invalid_json(content: str, u: float) -> str:
    """Ways real models break JSON: chatter around it, code fences, cut-offs, Python reprs."""
    if u < 0.25:
        return "Sure! Here is the triage for this ticket:\n" + content
    if u < 0.5:
        return "```json\n" + content + "\n```"
    if u < 0.75:
        return content[: max(1, len(content) * 2 // 3)]
    return repr(json.loads(content))  # single quotes, True/False: not JSON


def schema_violation(answer: Answer, u: float) -> str:
    """Valid JSON that fails output.schema.json."""
    data = answer.as_dict()
    if u < 0.3:
        data["priority"] = "critical"
    elif u < 0.5:
        data["category"] = "general"
    elif u < 0.7:
        data["confidence"] = 0.9
    elif u < 0.85:
        del data["refused"]
    else:
        data["refused"] = "false"
    return json.dumps(data, ensure_ascii=False)


# ---------------------------------------------------------------------------- the decision


def _either(a: float, b: float) -> float:
    """Probability that at least one of two independent events happens."""
    return 1 - (1 - a) * (1 - b)


def _error(message: str, type_: str, code: str) -> dict[str, Any]:
    return {"message": message, "type": type_, "code": code, "param": None}


def decide(
    knobs: Knobs,
    *,
    seed: int,
    variant: str,
    golden: Mapping[str, dict[str, Any]],
    messages: Sequence[Mapping[str, Any]],
    max_tokens: int | None = None,
    occurrence: int = 0,
    elapsed_s: float = 0.0,
) -> Decision:
    """Decide the response to one chat completion request.

    ``occurrence`` is how many times this same request was seen before (the server counts);
    ``elapsed_s`` is the time since the server started, which switches the fault on.
    """
    text = last_user_text(messages)
    case = find_case(text, golden)
    key = case["id"] if case else "h:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    u_lat, u_ttft, u_rl, u_err, u_flaky, u_bad, u_mode, u_len = (
        unit(seed, variant, key, occurrence, name)
        for name in ("lat", "ttft", "rl", "err", "flaky", "bad", "mode", "len")
    )

    fault = knobs.fault if knobs.fault and elapsed_s >= knobs.fault.after_s else None
    latency = lognormal_ms(knobs.latency_ms, u_lat) + (fault.extra_latency_ms if fault else 0.0)
    if knobs.ttft_ms.fraction is not None:
        ttft = latency * knobs.ttft_ms.fraction
    else:
        ttft_spec = LatencySpec(median=knobs.ttft_ms.median, p95=knobs.ttft_ms.median * 2)
        ttft = min(lognormal_ms(ttft_spec, u_ttft), latency)

    # Failures come back after the time to first byte, not the full generation time.
    if u_rl < knobs.rate_limit_rate:
        return Decision(
            429, "rate_limited", ttft, ttft, retry_after_s=knobs.retry_after_s,
            error=_error("Rate limit reached for requests. Please retry after a short wait.",
                         "requests", "rate_limit_exceeded"),
        )
    if u_err < _either(knobs.error_rate, fault.error_rate if fault else 0.0):
        return Decision(
            500, "server_error", ttft, ttft,
            error=_error("The server had an error while processing your request.",
                         "server_error", "internal_error"),
        )

    correct: bool | None = None
    if case is not None:
        exp = case["expected"]
        expected = Answer(exp["category"], exp["priority"], exp.get("reply", ""), bool(exp.get("refused")))
        flaky = unit(seed, variant, key, "is_flaky") < knobs.flaky_rate
        draw = u_flaky if flaky else unit(seed, variant, key, "correct")
        correct = draw < knobs.accuracy
        answer = expected if correct else wrong_answer(expected, seed, variant, key)
        # Length is a per-case trait so a golden case always renders to the same content.
        u_len = unit(seed, variant, key, "len")
    else:
        answer = heuristic_answer(text)
    z = _STD_NORMAL.inv_cdf(min(max(u_len, 1e-9), 1 - 1e-9))
    target = max(1, round(knobs.output_tokens.mean + knobs.output_tokens.sd * z))
    answer = padded(answer, target, offset=int(u_len * len(_FILLER)))
    if knobs.reply_suffix:
        answer = replace(answer, reply=answer.reply + knobs.reply_suffix)
    if knobs.category_flip_rate and unit(seed, variant, key, occurrence, "flip") < knobs.category_flip_rate:
        others = [c for c in CATEGORIES if c != answer.category]
        answer = replace(answer, category=others[int(unit(seed, variant, key, occurrence, "flipto") * len(others))])

    invalid_rate = _either(knobs.invalid_json_rate, fault.invalid_json_rate if fault else 0.0)
    schema_rate = _either(knobs.schema_violation_rate, fault.schema_violation_rate if fault else 0.0)
    if u_bad < invalid_rate:
        outcome, content = "invalid_json", invalid_json(render(answer), u_mode)
    elif u_bad < invalid_rate + schema_rate:
        outcome, content = "schema_violation", schema_violation(answer, u_mode)
    else:
        outcome, content = "ok", render(answer)

    completion_tokens = estimate_tokens(content)
    finish_reason = "stop"
    if max_tokens is not None and max_tokens < completion_tokens:
        # A length cut mid-JSON is a classic production failure: the client sees invalid JSON.
        content = content[: max_tokens * CHARS_PER_TOKEN]
        completion_tokens, finish_reason, outcome = max_tokens, "length", "truncated"
        latency = ttft + (latency - ttft) * max_tokens / max(1, estimate_tokens(render(answer)))

    prompt_tokens = estimate_tokens("".join(message_text(m) for m in messages))
    return Decision(
        200, outcome, latency, ttft, content=content, finish_reason=finish_reason,
        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
        case_id=case["id"] if case else None, correct=correct, answer=answer,
    )


def score(content: str, expected: Mapping[str, Any]) -> bool:
    """Exactly right in category + priority + refused (the reply is not scored)."""
    try:
        got = json.loads(content)
    except (json.JSONDecodeError, ValueError):
        return False
    if not isinstance(got, dict):
        return False
    return all(got.get(k) == expected.get(k) for k in ("category", "priority", "refused"))


def judge_content(dislike: str, messages: Sequence[Mapping[str, Any]]) -> str:
    """The judge mode's reply (variants.JudgeSpec): a rule, so a test knows which answer wins."""
    try:
        asked = json.loads(last_user_text(messages))
    except ValueError:
        asked = None
    if not isinstance(asked, dict):
        return "I can only judge a JSON object with A and B, or ANSWER and REFERENCE."

    def bad(value: Any) -> bool:
        return dislike in json.dumps(value, ensure_ascii=False)

    if "A" in asked and "B" in asked:
        a, b = bad(asked["A"]), bad(asked["B"])
        pref = "tie" if a == b else ("B" if a else "A")
        return json.dumps({"preference": pref, "reason": f"{'both' if a and b else 'one'} " + (
            f"contain {dislike!r}" if a or b else "read alike")})
    if "ANSWER" in asked:
        return json.dumps({"score": 0.0 if bad(asked["ANSWER"]) else 1.0, "reason": "rule-based sim judge"})
    return "I can only judge a JSON object with A and B, or ANSWER and REFERENCE."
