"""Shared HTTP plumbing for the Wistia and Upsales clients.

One ``ApiSession`` per client wraps one ``requests.Session`` and adds what both APIs need
(see docs/api/*.md): a client-side rate limit below the documented one, retries
with exponential backoff and full jitter that honour ``Retry-After`` / ``X-RateLimit-Reset``,
fail-fast auth and client errors, and exception and log text that never carries a token.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from importlib import metadata
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_random_exponential

from wistia_pipeline import redaction

__all__ = [
    "ApiError",
    "AuthError",
    "Cancelled",
    "ApiSession",
    "SlidingWindowLimiter",
    "parse_retry_after",
    "parse_rate_limit_reset",
    "compute_retry_wait",
    "RETRY_STATUSES",
    "endpoint_of",
]

logger = logging.getLogger("wistia_pipeline.http")

# Statuses worth retrying: Wistia answers 429 (older: 503) when over its rate limit and has
# been seen to time out on full pages (docs/api/wistia.md "Limits and errors"); Upsales answers 429
# and asks for exponential backoff (docs/api/upsales.md "Rate limits and quota").
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# Connection-level failures that say nothing about the request itself: retry them.
_RETRY_EXCEPTIONS = (
    requests.ConnectionError,  # includes ConnectTimeout
    requests.Timeout,  # ReadTimeout
    requests.exceptions.ChunkedEncodingError,  # connection dropped mid-body
)

DEFAULT_TIMEOUT = (5, 60)  # (connect, read) seconds: a full Wistia page can be slow
DEFAULT_MAX_ATTEMPTS = 6  # Upsales' own app template retries 6 times (docs/api/upsales.md)
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_MAX = 60.0
REASON_MAX_CHARS = 200

# Header names whose values are credentials; their values are redacted from any message.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


def _package_version() -> str:
    try:
        return metadata.version("wistia_pipeline")
    except metadata.PackageNotFoundError:  # pragma: no cover - only when not installed
        return "0.0.0"


USER_AGENT = f"wistia-pipeline/{_package_version()}"


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class ApiError(Exception):
    """A call to Wistia or Upsales failed; ``str()`` is one line and never holds a token."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        message = redaction.one_line(message)  # one line, always (masked by the caller: ApiSession.error)
        super().__init__(message)
        self.message = message
        self.service = service
        self.status = status
        self.method = method
        self.path = path

    def __str__(self) -> str:
        return self.message


class AuthError(ApiError):
    """The service rejected the credentials (401) or refused access (403): retrying cannot help."""


class Cancelled(ApiError):
    """The caller gave up on the request (SIGINT/SIGTERM, another day's error): nothing the
    service did; raised instead of sleeping on, so a stopping run is not held by a backoff."""


# --------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Retry waits
# --------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if unusable."""
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


class _HeaderAwareWait(wait_base):
    """tenacity wait: full-jitter exponential backoff unless the response says how long."""

    def __init__(self, backoff_base: float, backoff_max: float) -> None:
        self.backoff_max = backoff_max
        self._backoff = wait_random_exponential(multiplier=backoff_base, max=backoff_max)

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = self._backoff(retry_state)
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, _Retryable):
            return compute_retry_wait(
                backoff, status=exc.status, headers=exc.headers, backoff_max=self.backoff_max
            )
        return backoff


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth retrying (never leaves ApiSession)."""

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


def _never_sent(exc: BaseException) -> bool:
    """True when the connection failed before the request could reach the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc.args[0]) if exc.args else ""
    return isinstance(exc, requests.ConnectionError) and (
        "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text)


# --------------------------------------------------------------------------------------
# Body helpers
# --------------------------------------------------------------------------------------


def _short_reason(text: str, secrets: Iterable[str]) -> str:
    """A server's reason for a message: masked on its full length, only then cut (redaction.clean)."""
    return redaction.clean(text, secrets, REASON_MAX_CHARS)


def error_reason(response: requests.Response, secrets: Iterable[str] = ()) -> str:
    """A short human reason from an error body: ``error`` (Wistia), ``error.msg`` (Upsales),
    ``errors`` (Wistia 422), ``msg``; plain text bodies as they are; HTML pages dropped.

    ``secrets`` are masked before the reason is cut: a token echoed near the cut would
    otherwise be cut in two and its head, no longer matching, kept."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        if not text or text.lstrip().startswith("<"):
            return ""  # empty or an HTML error page: nothing readable
        return _short_reason(text, secrets)
    return _short_reason(reason_from_body(body), secrets)


def reason_from_body(body: Any) -> str:
    """Extract a readable reason from a decoded JSON error body (see error_reason)."""
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, str) and error:
        return error
    if isinstance(error, dict):
        for key in ("msg", "message", "key"):
            if isinstance(error.get(key), str) and error[key]:
                return error[key]
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors[:5])
    if isinstance(errors, (str, dict)) and errors:
        return str(errors)
    for key in ("msg", "message"):
        if isinstance(body.get(key), str) and body[key]:
            return body[key]
    return ""


def _secrets_from_headers(headers: Mapping[str, str]) -> set[str]:
    """Credential values in headers, whole and by part (``Bearer X`` -> X, ``token=X`` -> X)."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() not in _SECRET_HEADERS or not value:
            continue
        value = str(value)
        found.add(value)
        scheme, _, rest = value.partition(" ")
        if rest:
            found.add(rest.strip())
        for part in value.split(";"):
            _, eq, cookie_value = part.partition("=")
            if eq and cookie_value.strip():
                found.add(cookie_value.strip())
    return {s for s in found if len(s) >= redaction.MIN_SECRET_CHARS}


# --------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------

# Hook that inspects a decoded 2xx JSON body and reports an embedded failure as
# (status or None, reason); used for Upsales' 200-with-error envelope.
BodyCheck = Callable[[Any], "tuple[int | None, str] | None"]


_ID_SEGMENT = re.compile(r"^\d+$")


def endpoint_of(method: str, path: str) -> str:
    """``METHOD /path`` with the query and numeric ids left out (``DELETE /v2/events/{id}``): how
    calls are counted per endpoint (issue #13: Upsales' daily quota is per call)."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    path = "/".join("{id}" if _ID_SEGMENT.match(part) else part for part in path.split("/"))
    return f"{method.upper()} {path if path.startswith('/') else '/' + path}"


class ApiSession:
    """One ``requests.Session`` per client with rate limiting, retries and safe errors.

    ``service`` names the API in messages ("Wistia", "Upsales"); ``credential`` names its
    secret ("API token", "API key"). ``rate`` is (requests, window seconds). Headers are kept
    on the underlying session and never shown by ``repr``.
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        headers: dict,
        rate: tuple[int, float],
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        *,
        credential: str = "API token",
        body_check: BodyCheck | None = None,
        secrets: Iterable[str] = (),
        limiter: SlidingWindowLimiter | None = None,
        sleep: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max(1, int(max_attempts))
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.credential = credential
        self.body_check = body_check
        # The limiter's waits wake on cancellation too (an injected limiter keeps its own sleep).
        self.limiter = limiter or SlidingWindowLimiter(rate[0], rate[1], sleep=self.wait)
        # Between retries: None waits on the real clock and wakes on cancel; a test's fake otherwise.
        self.sleep = sleep
        self.cancel = cancel  # set: every wait of this session ends at once with Cancelled
        self._local = threading.local()  # a per-thread cancel event, see cancelled_by
        self._secrets = _secrets_from_headers(headers) | {
            s for s in secrets if s and len(s) >= redaction.MIN_SECRET_CHARS}
        # Requests sent, every attempt counted (a retry is a call to the quota too), by endpoint.
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self._session.headers.update(headers)

    def __repr__(self) -> str:
        return f"ApiSession(service={self.service!r}, base_url={self.base_url!r})"

    @property
    def requests_session(self) -> requests.Session:
        """The underlying ``requests.Session`` (e.g. to mount a transport adapter in tests)."""
        return self._session

    def close(self) -> None:
        self._session.close()

    # -- cancellation --------------------------------------------------------------------

    @contextlib.contextmanager
    def cancelled_by(self, event: threading.Event) -> Iterator[None]:
        """Within this block, this thread's requests stop when ``event`` is set: no new attempt is
        sent and retry and rate-limit waits end at once with Cancelled. Per thread, so threads
        sharing the session (days fetched side by side) are stopped by their own caller only."""
        previous = getattr(self._local, "cancel", None)
        self._local.cancel = event
        try:
            yield
        finally:
            self._local.cancel = previous

    def _cancel_event(self) -> threading.Event | None:
        return getattr(self._local, "cancel", None) or self.cancel

    def _check_cancelled(self) -> None:
        cancel = self._cancel_event()
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{self.service} request cancelled", service=self.service)

    def wait(self, seconds: float) -> None:
        """Sleep on the real clock (rate limit, retry backoff), waking at once with Cancelled when
        this thread's or the session's cancel event is set; ``time.sleep`` would hold a stopping
        run for up to a minute."""
        cancel = self._cancel_event()
        if cancel is None:
            time.sleep(max(0.0, seconds))
            return
        cancel.wait(max(0.0, seconds))
        self._check_cancelled()

    def _retry_sleep(self, seconds: float) -> None:
        if self.sleep is None:
            self.wait(seconds)
            return
        self._check_cancelled()
        self.sleep(seconds)
        self._check_cancelled()

    # -- public --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        expect_json: bool | None = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send one logical request; returns the successful response or raises ApiError.

        ``expect_json`` (default: True unless ``data`` is given, since form posts answer
        text) makes an unparseable 2xx body a retryable failure: a truncated page from a
        proxy or a timed-out upstream should be fetched again, not half-read.

        ``idempotent`` (default: True for GET, False for POST) decides whether a failure
        that may have taken effect (a 5xx, a timeout, a dropped response) is retried. A
        write is only retried when it provably did not arrive (429, connection refused);
        otherwise the caller gets the error and must look the write up before trying again,
        so a lost response can never turn into a second post.
        """
        return self._send(method, path, params=params, json=json, data=data,
                          expect_json=expect_json, idempotent=idempotent)[0]

    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None, json: Any, data: Any,
              expect_json: bool | None = None, idempotent: bool | None = None) -> tuple[requests.Response, Any]:
        """``request``'s work; also returns the body it decoded (``None`` unless JSON was expected)."""
        method = method.upper()
        if expect_json is None:
            expect_json = data is None
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
        shown_path = self._shown_path(path)

        def worth_retrying(exc: BaseException) -> bool:
            return isinstance(exc, _Retryable) and (idempotent or not exc.maybe_applied)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=_HeaderAwareWait(self.backoff_base, self.backoff_max),
            retry=retry_if_exception(worth_retrying),
            before_sleep=lambda state: self._log_retry(state, method, shown_path),
            sleep=self._retry_sleep,
            reraise=True,
        )
        try:
            return retrying(
                self._attempt, method, path, shown_path, params, json, data, expect_json
            )
        except _Retryable as exc:
            if not idempotent and exc.maybe_applied:
                raise self._unconfirmed(exc, method, shown_path) from None
            raise self._exhausted(exc, method, shown_path) from None

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
    ) -> Any:
        """``request`` and return the decoded JSON body (``None`` for a 204)."""
        return self._send(method, path, params=params, json=json, data=data, expect_json=True)[1]

    def error(self, message: str, *, status: int | None, method: str, path: str) -> ApiError:
        """Build an ApiError for this service with tokens redacted (for the clients' own checks)."""
        return ApiError(
            self.redact(message),
            service=self.service,
            status=status,
            method=method,
            path=self._shown_path(path),
        )

    def redact(self, text: str) -> str:
        """``text`` as one line with every form of this session's secrets masked (redaction.clean)."""
        return redaction.clean(text, self._secrets)

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _shown_path(path: str) -> str:
        return path.split("?", 1)[0].split("#", 1)[0]

    def _url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def _attempt(
        self,
        method: str,
        path: str,
        shown_path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        expect_json: bool,
    ) -> tuple[requests.Response, Any]:
        self._check_cancelled()
        waited = self.limiter.acquire()
        self._check_cancelled()  # an injected limiter's wait does not wake on cancel
        if waited > 0.5:
            logger.debug("%s %s %s waited %.2fs for the client-side rate limit",
                         self.service, method, shown_path, waited)
        with self._calls_lock:
            self.calls[endpoint_of(method, shown_path)] += 1
        try:
            response = self._session.request(
                method, self._url(path), params=params, json=json, data=data, timeout=self.timeout
            )
        except _RETRY_EXCEPTIONS as exc:
            raise _Retryable(type(exc).__name__, sent=not _never_sent(exc)) from None
        except requests.RequestException as exc:  # invalid URL and the like: not retryable
            raise self.error(
                f"{self.service} {method} {shown_path} failed: {type(exc).__name__}",
                status=None, method=method, path=shown_path,
            ) from None

        status = response.status_code
        self._observe_budget(response.headers)
        if status in RETRY_STATUSES:
            reason = error_reason(response, self._secrets)
            response.close()
            raise _Retryable(str(status), status=status, headers=response.headers, reason=reason)
        if status in (401, 403):
            raise self._auth_error(status, error_reason(response, self._secrets), method, shown_path)
        if status >= 400:
            raise self._client_error(status, error_reason(response, self._secrets), method, shown_path)
        if status >= 300:  # redirects are followed; one left over means something is off
            raise self._client_error(status, "unexpected redirect", method, shown_path)

        body = None
        if expect_json and status != 204:
            try:
                body = response.json()
            except ValueError:
                raise _Retryable("invalid JSON", status=status) from None
            if self.body_check is not None:
                embedded = self.body_check(body)
                if embedded is not None:
                    code, reason = embedded
                    reason = _short_reason(reason, self._secrets)
                    if code in RETRY_STATUSES:
                        raise _Retryable(f"{code} in body", status=code, reason=reason)
                    if code in (401, 403):
                        raise self._auth_error(code, reason, method, shown_path)
                    raise self.error(
                        f"{self.service} reported an error for {method} {shown_path}"
                        f" (HTTP {status}{', code ' + str(code) if code else ''})"
                        f"{': ' + reason if reason else ''}",
                        status=code or status, method=method, path=shown_path,
                    )
        return response, body

    def _observe_budget(self, headers: Mapping[str, str]) -> None:
        """Let the limiter see the server's remaining budget, where the API sends one (Upsales)."""
        remaining = headers.get("X-RateLimit-Remaining")
        if remaining is None:
            return
        try:
            left = int(float(remaining))
        except (ValueError, OverflowError):
            return
        self.limiter.observe(left, parse_rate_limit_reset(headers.get("X-RateLimit-Reset")))

    def _auth_error(self, status: int, reason: str, method: str, path: str) -> AuthError:
        if status == 401:
            message = f"{self.service} rejected the {self.credential} ({status})"
        else:
            short = self.credential.removeprefix("API ").strip() or self.credential
            message = f"{self.service} refused access ({status}): the {short} lacks a permission"
            if reason:
                message += f": {reason}"
        return AuthError(self.redact(message), service=self.service, status=status,
                         method=method, path=path)

    def _client_error(self, status: int, reason: str, method: str, path: str) -> ApiError:
        message = f"{self.service} returned {status} for {method} {path}"
        if reason:
            message += f": {reason}"
        return self.error(message, status=status, method=method, path=path)

    def _unconfirmed(self, exc: _Retryable, method: str, path: str) -> ApiError:
        what = f"answered {exc.status}" if exc.status is not None else f"failed ({exc.what})"
        message = (f"{self.service} {method} {path} {what}; not retried, as the write may have been "
                   f"stored")
        if exc.reason:
            message += f": {exc.reason}"
        return self.error(message, status=exc.status, method=method, path=path)

    def _exhausted(self, exc: _Retryable, method: str, path: str) -> ApiError:
        n = self.max_attempts
        tries = f"{n} attempt{'s' if n != 1 else ''}"
        if exc.what == "invalid JSON":
            message = (f"{self.service} returned a body that is not valid JSON for {method} {path}"
                       f" (HTTP {exc.status}) after {tries}")
        elif exc.status is not None:
            message = f"{self.service} returned {exc.status} for {method} {path} after {tries}"
            if exc.reason:
                message += f": {exc.reason}"
        else:
            message = f"{self.service} {method} {path} failed after {tries}: {exc.what}"
        return self.error(message, status=exc.status, method=method, path=path)

    def _log_retry(self, state: RetryCallState, method: str, path: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        what = exc.what if isinstance(exc, _Retryable) else type(exc).__name__
        wait = state.next_action.sleep if state.next_action else 0.0
        level = logging.INFO if isinstance(exc, _Retryable) and exc.status == 429 else logging.WARNING
        logger.log(level, "%s %s %s -> %s; retry %d/%d in %.2fs", self.service, method, path,
                   what, state.attempt_number, self.max_attempts - 1, wait)
