"""What counts as bad user feedback (POST /v1/feedback): one definition for the reviews and replay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BAD_SCORE_MAX = 2  # a 1-5 score of 1 or 2 is bad feedback, as a thumbs down is


def is_bad_feedback(f: Mapping[str, Any]) -> bool:
    score = f.get("score")
    return f.get("thumbs") == "down" or (isinstance(score, int) and not isinstance(score, bool)
                                         and score <= BAD_SCORE_MAX)
