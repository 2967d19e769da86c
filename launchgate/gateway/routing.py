"""Which variant serves a request: weighted, or sticky by session key (pure).

Weights are in percent, ``candidate`` in [0, 100] and ``stable = 100 - candidate``.

Sticky routing maps a session key to a fixed point ``u`` in [0, 1) by hashing it, and sends
the session to the candidate iff ``u < candidate / 100``. Two properties follow:

* over many sessions the split matches the weights (the hash is uniform);
* raising the candidate weight only moves sessions stable -> candidate, never back, and
  lowering it only moves them candidate -> stable: a user is not bounced between variants
  while a canary steps 10 -> 25 -> 50, and a rollback moves everyone to stable at once.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

STABLE = "stable"
CANDIDATE = "candidate"


@dataclass(frozen=True)
class Weights:
    candidate: float = 0.0  # percent

    def __post_init__(self) -> None:
        if not 0.0 <= self.candidate <= 100.0:
            raise ValueError(f"candidate weight must be within 0..100 percent, got {self.candidate}")

    @property
    def stable(self) -> float:
        return 100.0 - self.candidate

    def as_dict(self) -> dict[str, float]:
        return {STABLE: self.stable, CANDIDATE: self.candidate}


def session_point(session: str) -> float:
    """A uniform point in [0, 1) fixed by the session key, stable across processes and restarts."""
    digest = hashlib.blake2b(session.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def choose_variant(weights: Weights, session: str | None, rng: random.Random) -> str:
    """Pick ``stable`` or ``candidate`` for one request.

    With a session key the choice is deterministic (see module docstring); without one it is a
    fresh draw from ``rng``, so consecutive requests of a client are independent.
    """
    if weights.candidate <= 0.0:
        return STABLE
    if weights.candidate >= 100.0:
        return CANDIDATE
    u = session_point(session) if session else rng.random()
    return CANDIDATE if u < weights.candidate / 100.0 else STABLE
