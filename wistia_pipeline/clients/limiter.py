"""The client-side rate limit: a sliding window below the documented limit that also follows the
budget the server says is left (Upsales' ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset``).

One limiter per ``ApiSession``; every attempt, retries included, takes a slot before it is sent.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

__all__ = ["SlidingWindowLimiter", "follow_budget_headers", "parse_rate_limit_reset"]


class SlidingWindowLimiter:
    """Blocks until fewer than ``limit`` calls were started in the last ``period`` seconds.

    Thread-safe (the lock only guards the bookkeeping; waiting happens outside it), so
    concurrent posting later shares one budget per client.

    Why not pyrate-limiter (no longer a dependency): its v4 ``Limiter`` can do this, but its
    blocking wait calls a module-level ``time.sleep`` and reads a clock stored on the bucket
    class, so neither can be injected to test the spacing with a fake clock without patching
    library internals; by default it also starts a background leak thread per bucket (one per
    client); and its v3 ``Limiter`` API is incompatible with v4. A sliding-window log of
    ``limit`` timestamps is twenty lines.
    """

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("rate limit needs limit >= 1 and period > 0")
        self.limit = int(limit)
        self.period = float(period)
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a slot, sleeping while the window is full; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                horizon = now - self.period
                while self._starts and self._starts[0] <= horizon:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return waited
                delay = self._starts[0] - horizon
            # Sleep outside the lock so other threads can re-check; re-check after waking
            # because another thread may have taken the freed slot first.
            delay = max(delay, 0.001)
            self._sleep(delay)
            waited += delay

    def observe(self, remaining: int, reset: float | None) -> None:
        """Agree with the server's own count (Upsales' ``X-RateLimit-Remaining``).

        When the server has fewer requests left than this window thinks (another client of the
        same key: the vendor's app, a script, the previous stage's client), the difference counts
        as spent until the server's reset, so the next burst waits instead of meeting a 429.
        """
        with self._lock:
            now = self._clock()
            horizon = now - self.period
            while self._starts and self._starts[0] <= horizon:
                self._starts.popleft()
            missing = self.limit - len(self._starts) - max(0, remaining)
            if missing <= 0:
                return
            # A start at `leaves - period` leaves the window when the server's budget resets.
            leaves = now + min(max(0.0, reset or 0.0), self.period)
            for _ in range(missing):
                bisect.insort(self._starts, leaves - self.period)

    def __repr__(self) -> str:
        return f"SlidingWindowLimiter(limit={self.limit}, period={self.period})"


def parse_rate_limit_reset(value: str | None) -> float | None:
    """Seconds from Upsales' ``X-RateLimit-Reset``; None when absent, invalid, 0 or negative.

    docs/api/upsales.md: the header is "seconds to the reset; can be negative". A reset that is
    already due says nothing useful, so the caller falls back to the backoff.
    """
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    if math.isnan(seconds) or seconds <= 0:
        return None
    return seconds


def follow_budget_headers(limiter: SlidingWindowLimiter, headers: Mapping[str, str]) -> None:
    """Let ``limiter`` see the server's remaining budget, where the API sends one (Upsales);
    a response without it (Wistia) or with an unreadable one changes nothing."""
    remaining = headers.get("X-RateLimit-Remaining")
    if remaining is None:
        return
    try:
        left = int(float(remaining))
    except (ValueError, OverflowError):
        return
    limiter.observe(left, parse_rate_limit_reset(headers.get("X-RateLimit-Reset")))
