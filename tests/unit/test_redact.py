"""Redaction on a labelled PII corpus: recall and precision, plus the rules that keep precision up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launchgate.privacy.redact import PLACEHOLDERS, count_placeholders, iban_ok, luhn_ok, redact

CORPUS = Path(__file__).resolve().parents[1] / "data" / "pii_corpus.jsonl"


def _corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _score() -> tuple[int, int, int, list[str]]:
    """(items found, items total, placeholders emitted, misses) over the whole corpus.

    An item counts as found when its value no longer appears in the output and a placeholder of
    its type does. Precision = found / placeholders emitted, so every placeholder in a negative
    example, or an extra one in a positive example, lowers it.
    """
    found = total = emitted = 0
    misses = []
    for row in _corpus():
        out = redact(row["text"])
        emitted += sum(count_placeholders(out).values())
        for item in row["pii"]:
            total += 1
            if item["value"] not in out and f"[{item['type']}]" in out:
                found += 1
            else:
                misses.append(f"{item['type']} {item['value']!r} -> {out!r}")
        if not row["pii"] and out != row["text"]:
            misses.append(f"false positive: {row['text']!r} -> {out!r}")
    return found, total, emitted, misses


def test_corpus_has_positives_and_negatives() -> None:
    rows = _corpus()
    types = {item["type"] for row in rows for item in row["pii"]}
    assert {p.strip("[]") for p in PLACEHOLDERS} <= types
    assert sum(1 for row in rows if not row["pii"]) >= 50
    assert sum(len(row["pii"]) for row in rows) >= 60


def test_recall_and_precision_on_corpus() -> None:
    found, total, emitted, misses = _score()
    recall = found / total
    precision = found / emitted if emitted else 0.0
    assert recall >= 0.97, f"recall {recall:.3f}; misses:\n" + "\n".join(misses)
    assert precision >= 0.97, f"precision {precision:.3f}; misses:\n" + "\n".join(misses)


def test_no_negative_example_is_changed() -> None:
    changed = [(row["text"], redact(row["text"])) for row in _corpus()
               if not row["pii"] and redact(row["text"]) != row["text"]]
    assert len(changed) <= 1, changed


@pytest.mark.parametrize(("text", "expected"), [
    ("card 4111 1111 1111 1111", "card [CARD]"),
    ("card 4111 1111 1111 1112", "card 4111 1111 1111 1112"),  # fails Luhn: an order number, not a card
    ("mail a.b@c.io now", "mail [EMAIL] now"),
    ("Authorization: Bearer abcdefghijkl0123456789", "Authorization: Bearer [SECRET]"),
    ("password=hunter22", "password=[SECRET]"),
    ("my password is incorrect", "my password is incorrect"),
    ("SSN 123-45-6789.", "SSN [NATIONAL_ID]."),
    ("Call +1 415 555 0132.", "Call [PHONE]."),
    ("on 2024-03-15 10:30", "on 2024-03-15 10:30"),
    ("host 10.0.12.200", "host 10.0.12.200"),
    ("", ""),
])
def test_rules(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE89 3704 0044 0532 0130 01")


def test_redaction_is_idempotent() -> None:
    for row in _corpus():
        once = redact(row["text"])
        assert redact(once) == once
