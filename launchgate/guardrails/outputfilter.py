"""The output filter: secrets and harmful content in model answers.

Secrets (API keys, tokens, private keys) are found with the same rules that keep them out of
the request log (launchgate/privacy/redact.py); only a ``[SECRET]`` finding counts, so an answer
with just an e-mail address or phone number in its reply is left alone. Harmful content is a short
list of unambiguous instructions for serious harm; an answer that carries one without being
marked ``refused`` is flagged or blocked per config.
"""

from __future__ import annotations

import re
from typing import Any

from launchgate.privacy.redact import SECRET, redact

_HARMFUL = re.compile(
    r"\b(?:how to (?:make|build|assemble) (?:a |an )?(?:bomb|explosive|pipe bomb|nerve agent|bioweapon)|"
    r"(?:synthesi[sz]e|cook|manufactur\w*) (?:meth\w*|fentanyl|sarin|ricin|nerve agents?)|"
    r"kill (?:yourself|your ?self)|steps? to (?:poison|kill) (?:someone|a person)|"
    r"(?:detonator|detonate (?:it|the device)))\b",
    re.I,
)


# Cheap pre-checks: redact()'s full rule set and the harmful-phrase scan run only on answers that
# hold something a rule could match (a long token-like run, or a cue word); most answers hold neither.
_SECRET_CUE = re.compile(r"[A-Za-z0-9_+/=.-]{16,}|(?i:pass|pwd|pin\b|secret|token|key|bearer|basic|private)")
_HARM_CUES = ("bomb", "explosive", "nerve", "bioweapon", "meth", "fentanyl", "sarin", "ricin", "kill", "poison",
              "detonat")


def might_hold_secret(text: str) -> bool:
    return _SECRET_CUE.search(text) is not None


def might_be_harmful(text: str) -> bool:
    lower = text.lower()
    return any(cue in lower for cue in _HARM_CUES)


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def secrets_redacted(obj: Any) -> tuple[Any, bool]:
    """``obj`` with each string value that holds a secret redacted; True when any was found.

    A string holding a secret gets the request log's whole redaction (its e-mails and phone
    numbers go too): an answer that leaks a key is suspect as a whole. Strings without a secret
    are left exactly as they were.
    """
    if isinstance(obj, str):
        if not might_hold_secret(obj):
            return obj, False
        cleaned = redact(obj)
        if SECRET not in cleaned or SECRET in obj:
            return obj, False
        return cleaned, True
    if isinstance(obj, dict):
        out, found = {}, False
        for k, v in obj.items():
            out[k], hit = secrets_redacted(v)
            found = found or hit
        return out, found
    if isinstance(obj, list):
        items = [secrets_redacted(v) for v in obj]
        return [v for v, _ in items], any(hit for _, hit in items)
    return obj, False


def harmful(obj: Any) -> list[str]:
    """The harmful phrases in an answer's string values."""
    return [m.group(0) for s in _strings(obj) if might_be_harmful(s) for m in _HARMFUL.finditer(s)]


def refused(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("refused") is True
