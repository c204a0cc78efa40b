"""When a failed attempt is tried again, and after how long.

Ours: which failures are worth another attempt, and the idempotency rule that a write is only
sent again when it provably did not arrive (a 429, a connection that was never made), so a lost
answer never turns into a second post. The loop itself is tenacity's (``Retrying``, full-jitter
``wait_random_exponential``); the idempotent methods are urllib3's list; a connection that never
reached the server is told by urllib3's exception classes; HTTP-dates are parsed by the standard
library's ``email.utils``. The server's hint (``Retry-After``, Upsales' ``X-RateLimit-Reset`` on a
429) replaces the backoff when it gives one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_random_exponential
from urllib3.exceptions import NewConnectionError
from urllib3.util.retry import Retry as _Urllib3Retry

from .limiter import parse_rate_limit_reset

__all__ = [
    "DEFAULT_BACKOFF_BASE",
    "DEFAULT_BACKOFF_MAX",
    "DEFAULT_MAX_ATTEMPTS",
    "IDEMPOTENT_METHODS",
    "RETRY_EXCEPTIONS",
    "RETRY_STATUSES",
    "Retryable",
    "compute_retry_wait",
    "gave_up_message",
    "is_idempotent",
    "never_sent",
    "parse_retry_after",
    "retrying",
]

# Statuses worth retrying: Wistia answers 429 (older: 503) when over its rate limit and has
# been seen to time out on full pages (docs/api/wistia.md "Limits and errors"); Upsales answers 429
# and asks for exponential backoff (docs/api/upsales.md "Rate limits and quota").
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# Connection-level failures that say nothing about the request itself: retry them.
RETRY_EXCEPTIONS = (
    requests.ConnectionError,  # includes ConnectTimeout
    requests.Timeout,  # ReadTimeout
    requests.exceptions.ChunkedEncodingError,  # connection dropped mid-body
)

# Methods whose repetition has the effect of one request (RFC 9110 9.2.2): urllib3's own list
# (GET, HEAD, PUT, DELETE, OPTIONS, TRACE), the default of its ``Retry(allowed_methods=...)``.
IDEMPOTENT_METHODS = _Urllib3Retry.DEFAULT_ALLOWED_METHODS

DEFAULT_MAX_ATTEMPTS = 6  # Upsales' own app template retries 6 times (docs/api/upsales.md)
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_MAX = 60.0


def is_idempotent(method: str, idempotent: bool | None = None) -> bool:
    """The caller's word when given, else whether ``method`` is idempotent (POST is not)."""
    return method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent


# --------------------------------------------------------------------------------------
# What failed, and could it have taken effect?
# --------------------------------------------------------------------------------------


class Retryable(Exception):
    """An attempt failed in a way worth retrying (never leaves ApiSession: it becomes ApiError)."""

    def __init__(
        self,
        what: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        reason: str = "",
        sent: bool = True,
    ) -> None:
        super().__init__(what)
        self.what = what  # short label for logs: "503", "ConnectTimeout", "invalid JSON"
        self.status = status
        self.headers = dict(headers or {})
        self.reason = reason
        # Did the request possibly reach the server and take effect? A 429 or a refused
        # connection say no; a 5xx, a read timeout or a dropped response cannot tell.
        self.maybe_applied = sent and status != 429


def never_sent(exc: BaseException) -> bool:
    """True when the connection failed before the request could reach the server: a connect
    timeout, or urllib3's ``NewConnectionError`` (refused, unreachable, a name that does not
    resolve: ``NameResolutionError`` is one) under requests' ``ConnectionError``."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or not exc.args:
        return False
    cause = exc.args[0]  # urllib3's MaxRetryError (its .reason is what failed) or the error itself
    return isinstance(getattr(cause, "reason", cause), NewConnectionError)


# --------------------------------------------------------------------------------------
# How long to wait
# --------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if unusable.

    Not urllib3's ``Retry.parse_retry_after``: that one refuses fractional and negative
    seconds (which servers send; 0 is meant), measures a date on the wall clock only (no
    ``now`` to test with) and caps at its own maximum instead of the caller's ``backoff_max``.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        now = now or datetime.now(timezone.utc)
        seconds = (when - now).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def compute_retry_wait(
    backoff: float,
    *,
    status: int | None,
    headers: Mapping[str, str] | None,
    backoff_max: float,
    now: datetime | None = None,
) -> float:
    """The wait before the next attempt: the server's hint when it gives one, else ``backoff``.

    ``Retry-After`` is honoured on any retried response (Wistia sends it with 429 and 503);
    ``X-RateLimit-Reset`` only on a 429, because Upsales sends it on every response and it
    describes the rate window, not a server fault. Both are capped at ``backoff_max``.
    """
    if headers:
        hint = parse_retry_after(headers.get("Retry-After"), now=now)
        if hint is None and status == 429:
            hint = parse_rate_limit_reset(headers.get("X-RateLimit-Reset"))
        if hint is not None:
            return min(hint, backoff_max)
    return min(max(backoff, 0.0), backoff_max)


class HeaderAwareWait(wait_base):
    """tenacity wait: full-jitter exponential backoff unless the response says how long."""

    def __init__(self, backoff_base: float, backoff_max: float) -> None:
        self.backoff_max = backoff_max
        self._backoff = wait_random_exponential(multiplier=backoff_base, max=backoff_max)

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = self._backoff(retry_state)
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, Retryable):
            return compute_retry_wait(
                backoff, status=exc.status, headers=exc.headers, backoff_max=self.backoff_max
            )
        return backoff


# --------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------


def retrying(
    *,
    idempotent: bool,
    max_attempts: int,
    backoff_base: float,
    backoff_max: float,
    sleep: Callable[[float], None],
    before_sleep: Callable[[RetryCallState], None],
) -> Retrying:
    """tenacity's loop with our rules: up to ``max_attempts`` attempts, a ``Retryable`` failure
    retried when the request is idempotent or provably did not take effect, the last failure
    re-raised as it is (the session turns it into its ApiError)."""

    def worth_retrying(exc: BaseException) -> bool:
        return isinstance(exc, Retryable) and (idempotent or not exc.maybe_applied)

    return Retrying(
        stop=stop_after_attempt(max_attempts),
        wait=HeaderAwareWait(backoff_base, backoff_max),
        retry=retry_if_exception(worth_retrying),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )


def gave_up_message(service: str, exc: Retryable, method: str, path: str, *, attempts: int,
                    may_be_stored: bool) -> str:
    """The error text when the loop stops on ``exc``: a write that may have been stored (not
    retried: the caller must look it up first), else the last failure after ``attempts`` attempts."""
    if may_be_stored:
        what = f"answered {exc.status}" if exc.status is not None else f"failed ({exc.what})"
        message = f"{service} {method} {path} {what}; not retried, as the write may have been stored"
        return f"{message}: {exc.reason}" if exc.reason else message
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if exc.what == "invalid JSON":
        return (f"{service} returned a body that is not valid JSON for {method} {path}"
                f" (HTTP {exc.status}) after {tries}")
    if exc.status is not None:
        message = f"{service} returned {exc.status} for {method} {path} after {tries}"
        return f"{message}: {exc.reason}" if exc.reason else message
    return f"{service} {method} {path} failed after {tries}: {exc.what}"
