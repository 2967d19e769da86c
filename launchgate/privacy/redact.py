"""PII and secret redaction for text that leaves the request path (the gateway's request log).

``redact(text)`` replaces what it finds with a typed placeholder:

    [SECRET]       API keys and tokens (sk-..., AKIA..., xox?-..., ghp_..., JWTs, bearer tokens,
                   ``password=...`` values, long hex / base64 strings)
    [EMAIL]        e-mail addresses
    [CARD]         payment card numbers (13-19 digits, Luhn-checked)
    [IBAN]         bank account numbers (ISO 13616, mod-97 checked)
    [NATIONAL_ID]  US social security numbers, UK national insurance numbers
    [PHONE]        phone numbers (international or with separators; bare digit runs only with
                   a leading 0/1 or a "phone"/"call" cue nearby)

The rules favour recall: a log line with a redacted order number is a nuisance, a log line with
a customer's card number is an incident. Checksums (Luhn, mod-97) and context cues keep
precision up where a plain pattern would hit ordinary numbers. tests/unit/test_redact.py
measures both on tests/data/pii_corpus.jsonl.

Pure: no I/O, no state; safe to call from any thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
IBAN = "[IBAN]"
NATIONAL_ID = "[NATIONAL_ID]"
SECRET = "[SECRET]"
PLACEHOLDERS = (EMAIL, PHONE, CARD, IBAN, NATIONAL_ID, SECRET)

# --------------------------------------------------------------------------- secrets
# Secrets go first: they contain digit runs and '@'-free text that the later rules would
# otherwise split into a "phone number" plus a leftover half of the key.

# (literal that must occur, pattern): the literal check costs ~50 ns and skips a ~5 us regex scan,
# which matters because the gateway redacts every logged prompt.
_KEY_RULES: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (("sk-",), re.compile(r"(?<![\w-])sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{16,}")),  # OpenAI, Anthropic
    (("AKIA", "ASIA", "AGPA", "AIDA", "AROA"),
     re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}(?![A-Za-z0-9])")),  # AWS key ids
    (("xox", "xapp-"), re.compile(r"(?<![\w-])(?:xox[abposr]|xapp)-[A-Za-z0-9-]{10,}")),  # Slack
    (("gh", "github_pat_"), re.compile(r"(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    (("glpat-",), re.compile(r"(?<![\w-])glpat-[A-Za-z0-9_-]{20,}")),  # GitLab
    (("AIza",), re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])")),  # Google
    (("_live_", "_test_"), re.compile(r"(?<![\w-])(?:rk|pk|sk)_(?:live|test)_[A-Za-z0-9]{16,}")),  # Stripe
    (("eyJ",), re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),  # JWT
    (("PRIVATE KEY",), re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)")),
]

# "Bearer <token>", "password: hunter2", "api_key=...": keep the label so the line stays readable.
_BEARER_CUES = ("bearer", "token", "basic")
_BEARER = re.compile(r"(?i)\b(bearer|token|basic)(\s+)([A-Za-z0-9._~+/=-]{12,})")
_LABELLED_CUES = ("pass", "pwd", "pin", "secret", "key", "token")
_LABELLED = re.compile(
    r"(?i)\b(passwords?|passwd|pwd|passcode|pin|secret|client[_ -]?secret|api[_ -]?key|access[_ -]?key|"
    r"auth[_ -]?token|access[_ -]?token|refresh[_ -]?token|private[_ -]?key)"
    r"(\s*(?:is|was|=|:)\s*[\"']?)([^\s\"',;]{4,})"
)


def _labelled(match: re.Match[str]) -> str:
    label, sep, value = match.groups()
    # "password: x" is a value; "password is incorrect" is prose unless the word looks like a secret.
    if ("=" in sep or ":" in sep) or re.search(r"[\d!@#$%^&*_+=?]", value):
        return f"{label}{sep}{SECRET}"
    return match.group(0)


# Long random-looking strings: 32+ hex chars, or 32+ base64 chars mixing upper, lower and digits.
_LONG_RUN = re.compile(r"[A-Za-z0-9+/_-]{32}")
_LONG_HEX = re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{32,}(?![A-Za-z0-9])")
_LONG_B64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/_=-])")


def _b64_secret(match: re.Match[str]) -> str:
    s = match.group(0)
    # Words, paths and slugs rarely mix all three classes over 32+ characters; keys nearly always do.
    if re.search(r"[a-z]", s) and re.search(r"[A-Z]", s) and re.search(r"[0-9]", s):
        return SECRET
    return s


# --------------------------------------------------------------------------- e-mail

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

# --------------------------------------------------------------------------- cards and IBANs

_NUMBER_RUN = re.compile(r"\d[\d .()-]{4,}\d")
# A pattern that starts with a plain class lets re skip ahead fast; the boundary is checked after it.
_CARD = re.compile(r"\d(?<![\d-]\d)(?:[ -]?\d){12,18}(?![\d-])")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    # All-equal runs (0000 0000 ...) pass Luhn but are placeholders people type, not cards.
    if 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1:
        return CARD
    return match.group(0)


_IBAN = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


def iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _iban(match: re.Match[str]) -> str:
    return IBAN if iban_ok(match.group(0)) else match.group(0)


# --------------------------------------------------------------------------- national ids

# US SSN with separators; area 000/666/9xx, group 00 and serial 0000 are never issued (see _ssn).
_SSN = re.compile(r"\d(?<![\d-]\d)\d{2}([- ])\d{2}\1\d{4}(?![\d-])")


def _ssn(match: re.Match[str]) -> str:
    s = match.group(0)
    area, group, serial = s[:3], s[4:6], s[7:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return s
    return NATIONAL_ID

# A bare 9-digit SSN only next to a cue, since 9-digit numbers are everywhere.
_SSN_CUE = re.compile(r"(?i)\b(ssn|social security(?: number| no\.?)?)(\W{1,4})(\d{9})\b")
# UK National Insurance number: two prefix letters (D, F, I, Q, U, V never; O not second), six digits, A-D.
_NINO = re.compile(r"(?i)\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")

# --------------------------------------------------------------------------- phones

_PHONE = re.compile(
    r"(?<![\w+.-])"
    r"(?:\+\d{1,3}[ .-]?)?"  # country code
    r"(?:\(\d{1,5}\)[ .-]?)?"  # (area code)
    r"\d{1,12}(?:[ .-]\d{1,12}){0,5}"
    # not followed by more of a word, a path, a time or a decimal; a sentence's full stop is fine
    r"(?!\w|[.:/-]\w|,\d)"
)
_PHONE_CUE = re.compile(r"(?i)(phone|tel\b|telephone|call|mobile|cell|whatsapp|text me|sms|fax|reach me)")
_DATE_LIKE = re.compile(r"(?:^|\D)(?:(?:19|20)\d\d[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ](?:19|20)\d\d)")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def _phone_replacer(text: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        s = match.group(0)
        digits = sum(ch.isdigit() for ch in s)
        if digits < 7 or digits > 15 or _IPV4.fullmatch(s) or _DATE_LIKE.search(s):
            return s
        has_plus = s.startswith("+")
        has_sep = bool(re.search(r"[\s.()-]", s))
        cue = bool(_PHONE_CUE.search(text, max(0, match.start() - 30), match.start()))
        if has_plus and digits >= 8:
            return PHONE
        if has_sep and digits >= 9 and (cue or _plausible_grouping(s)):
            return PHONE
        # Bare runs: 0xxxxxxxxx(x) national formats, 1xxxxxxxxxx US with country code; else only with a cue
        # (a 10-digit run starting 1-9 is as likely a unix timestamp or an order number).
        if not has_sep and ((digits == 11 and s[0] in "01") or (digits == 10 and s[0] == "0")):
            return PHONE
        if cue and digits >= 7:
            return PHONE
        return s

    return replace


def _plausible_grouping(s: str) -> bool:
    """Phone-like groups: (555) 123-4567, 555-123-4567, 020 7946 0958, 07700 900123."""
    groups = re.findall(r"\d+", s)
    if len(groups) < 2 or len(groups) > 5:
        return False
    # Phone numbers end in a group of 3+ digits; "12 3 45 6" style splits are rarely phones.
    return len(groups[-1]) >= 3 and all(len(g) >= 2 for g in groups[1:])


# --------------------------------------------------------------------------- the pipeline


def _has_any(text: str, needles: tuple[str, ...]) -> bool:
    # A plain loop: ~3x faster than any() over a generator, and this runs for every logged prompt.
    for needle in needles:  # noqa: SIM110
        if needle in text:
            return True
    return False


def redact(text: str) -> str:
    """Return ``text`` with PII and secrets replaced by placeholders such as ``[EMAIL]``."""
    if not text:
        return text
    for triggers, pattern in _KEY_RULES:
        for t in triggers:
            if t in text:
                text = pattern.sub(SECRET, text)
                break
    low = text.lower()
    if _has_any(low, _BEARER_CUES):
        text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{SECRET}", text)
    if _has_any(low, _LABELLED_CUES):
        text = _LABELLED.sub(_labelled, text)
    if "@" in text:
        text = _EMAIL.sub(EMAIL, text)
    if _LONG_RUN.search(text):
        text = _LONG_HEX.sub(SECRET, text)
        text = _LONG_B64.sub(_b64_secret, text)
    if not _NUMBER_RUN.search(text):
        return text  # everything below holds a run of 6+ digits; most prompts have none
    # Checksummed numbers before the looser phone rule, so a card is never half-eaten as a phone.
    text = _IBAN.sub(_iban, text)
    text = _CARD.sub(_card, text)
    text = _SSN.sub(_ssn, text)
    if "ssn" in low or "social" in low:
        text = _SSN_CUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{NATIONAL_ID}", text)
    text = _NINO.sub(NATIONAL_ID, text)
    text = _PHONE.sub(_phone_replacer(text), text)
    return text


def count_placeholders(text: str) -> dict[str, int]:
    """How many of each placeholder ``text`` holds (used by the corpus test and by log audits)."""
    return {p: text.count(p) for p in PLACEHOLDERS if p in text}
