"""Prompt-injection heuristics: the input guard's default (a classifier endpoint can replace it).

Each rule names a technique seen in injection attempts against support assistants: overriding
earlier instructions, asking for the system prompt, role-play jailbreaks, fake system turns.
A cheap literal pre-check skips the regex scan for the common case (no cue word at all), so the
guard costs a few microseconds per request. The rules favour precision: a flagged support ticket
goes to a person, a blocked one is refused, so false alarms cost something.
"""

from __future__ import annotations

import re

_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("override_instructions", re.compile(
        r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|all|your|system)\b"
        r"[^.\n]{0,20}\b(?:instructions?|rules|prompts?|guidelines|directions)\b", re.I)),
    ("reveal_prompt", re.compile(
        r"\b(?:reveal|show|print|repeat|output|tell me|what is|what's)\b[^.\n]{0,30}\b(?:your|the)\s+"
        r"(?:system|hidden|initial|original)\s+(?:prompt|instructions|message)", re.I)),
    ("role_play", re.compile(
        r"\b(?:you are now|pretend (?:to be|you are)|act as)\b[^.\n]{0,40}\b(?:DAN|unrestricted|jailbr\w*|"
        r"without (?:any )?(?:rules|restrictions|filters))", re.I)),
    ("developer_mode", re.compile(r"\b(?:developer|god|jailbreak|DAN)\s+mode\b", re.I)),
    ("fake_turn", re.compile(r"(?:^|\n)\s*(?:system|assistant)\s*:|<\|?(?:im_start|system)\|?>|\[/?INST\]", re.I)),
]
_CUES = ("ignor", "disregard", "forget", "overrid", "reveal", "prompt", "instruction", "pretend", "act as",
         "you are now", "mode", "system", "assistant", "<|", "[inst", "[/inst")


def scan(text: str) -> list[str]:
    """Names of the rules ``text`` matches (empty: nothing suspicious)."""
    lower = text.lower()
    if not any(cue in lower for cue in _CUES):
        return []
    return [name for name, rule in _RULES if rule.search(text)]


def neutralise(text: str) -> str:
    """``text`` with every matched span replaced by ``[REMOVED]`` (the guard's redact mode)."""
    for _, rule in _RULES:
        text = rule.sub("[REMOVED]", text)
    return text
