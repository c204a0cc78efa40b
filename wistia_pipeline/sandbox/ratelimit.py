"""The emulators' rate limit: a sliding window answering 429 over it, and the budget that the
APIs' headers announce (Upsales' `X-RateLimit-*`, `Retry-After`)."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    """Outcome of one rate-limiter check, with what the budget headers need."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float  # until the oldest request in the window leaves it


class RateLimiter:
    """Sliding window: at most `limit` accepted requests in any `window` seconds.

    Rejected requests are not counted, so a client that waits the advertised time gets through.
    """

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("rate limit needs limit >= 1 and window > 0")
        self.limit = int(limit)
        self.window = float(window)
        self._hits: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._hits and self._hits[0] <= now - self.window:
            self._hits.popleft()

    def _decision(self, allowed: bool, now: float) -> RateDecision:
        reset = (self._hits[0] + self.window - now) if self._hits else self.window
        return RateDecision(allowed, self.limit, max(0, self.limit - len(self._hits)), max(0.0, reset))

    def hit(self, now: float | None = None) -> RateDecision:
        """Count one request if the window has room; say whether it was allowed."""
        now = time.monotonic() if now is None else now
        self._expire(now)
        if len(self._hits) >= self.limit:
            return self._decision(False, now)
        self._hits.append(now)
        return self._decision(True, now)

    def peek(self, now: float | None = None) -> RateDecision:
        """The current budget without spending any (for headers on 401s and faults)."""
        now = time.monotonic() if now is None else now
        self._expire(now)
        return self._decision(len(self._hits) < self.limit, now)


def ceil_seconds(seconds: float) -> int:
    """Whole seconds for Retry-After / X-RateLimit-Reset, never 0 while still limited."""
    return max(1, math.ceil(seconds)) if seconds > 0 else 0

