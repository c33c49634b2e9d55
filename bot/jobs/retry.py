"""How long a failed job waits before its next try, and how many tries it gets."""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RetryPolicy"]

#: 2**62 seconds is far past any cap; larger exponents would only overflow floats.
MAX_BACKOFF_EXPONENT = 62


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a cap and a bounded number of attempts.

    ``delay(n)`` is the wait after the n-th failure (n >= 1):
    ``min(cap, base * 2**(n-1))``, shortened by up to ``jitter`` (a fraction) so
    that many jobs failing together do not retry in lockstep, and never below a
    ``retry_after`` the service asked for (itself capped).
    """

    max_attempts: int
    base: float
    cap: float
    jitter: float = 0.2

    def delay(self, failures: int, retry_after: float | None = None,
              rng: Callable[[], float] = random.random) -> float:
        if failures < 1:
            raise ValueError("failures counts from 1")
        exponent = min(failures - 1, MAX_BACKOFF_EXPONENT)
        raw = min(self.cap, self.base * 2.0**exponent)
        value = raw * (1.0 - self.jitter * rng())
        if retry_after is not None:
            value = max(value, min(self.cap, retry_after))
        return value

    def exhausted(self, failures: int) -> bool:
        """True when the n-th failure is the last one allowed."""
        return failures >= self.max_attempts
