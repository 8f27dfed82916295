"""Exponential backoff with jitter, and the HTTP Retry-After header.

Why: a dropped stream or a 429 must not turn into a reconnect storm, and a
crowd of clients must not retry in lock step. Each delay is the capped
exponential step with "equal jitter": half fixed, half random, so the wait is
never zero and never longer than the cap. The random source is injectable so
tests see exact delays.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Optional


@dataclass
class Backoff:
    """Delays for consecutive failures: initial * multiplier**n, capped, jittered.

    ``jitter`` is the fraction of the capped step that is random (0 = exact
    exponential, 1 = full jitter). ``attempt`` counts delays handed out since the
    last ``reset()`` (a success)."""

    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if not (self.initial_s > 0 and math.isfinite(self.initial_s)):
            raise ValueError(f"Backoff.initial_s must be > 0, got {self.initial_s!r}")
        if self.max_s < self.initial_s:
            raise ValueError(f"Backoff.max_s ({self.max_s!r}) must be >= initial_s ({self.initial_s!r})")
        if self.multiplier < 1:
            raise ValueError(f"Backoff.multiplier must be >= 1, got {self.multiplier!r}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"Backoff.jitter must be within [0, 1], got {self.jitter!r}")

    def step(self, attempt: int) -> float:
        """The capped exponential step for a 0-based attempt, before jitter."""
        # multiplier**attempt overflows float for silly attempts; cap the exponent first
        exponent = min(attempt, 64)
        return min(self.max_s, self.initial_s * self.multiplier**exponent)

    def next_delay(self) -> float:
        capped = self.step(self.attempt)
        self.attempt += 1
        fixed = capped * (1.0 - self.jitter)
        return fixed + self.rng.uniform(0.0, capped * self.jitter)

    def reset(self) -> None:
        self.attempt = 0


def parse_retry_after(value: Optional[str], now_s: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header: delta-seconds (fractions
    accepted) or an HTTP date (needs ``now_s``, epoch seconds, from a Clock).
    None when absent or unreadable; never negative."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        if now_s is None:
            return None
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now_s
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
