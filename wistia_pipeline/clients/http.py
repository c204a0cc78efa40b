"""The session both API clients send through: one ``requests.Session`` per client.

``ApiSession`` puts the pieces together: the client-side rate limit (``limiter.py``: a slot
before every attempt, following the server's remaining budget), retries (``retry.py``:
tenacity's loop with our idempotency rules and the server's wait hints), errors whose text never
carries a token (``errors.py``), cancellation that ends every wait at once, and a count of the
calls sent per endpoint. The connection pool is requests' ``HTTPAdapter`` with urllib3's own
retries off, so every attempt passes the limiter, is counted and follows our rules.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState
from urllib3.util.retry import Retry

from wistia_pipeline import redaction

from .errors import (
    ApiError,
    AuthError,
    Cancelled,
    auth_message,
    error_reason,
    secrets_from_headers,
    short_reason,
)
from .limiter import SlidingWindowLimiter, follow_budget_headers, parse_rate_limit_reset
from .retry import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_MAX_ATTEMPTS,
    RETRY_EXCEPTIONS,
    RETRY_STATUSES,
    Retryable,
    compute_retry_wait,
    gave_up_message,
    is_idempotent,
    never_sent,
    parse_retry_after,
    retrying,
)

# The session's public names; the errors, the limiter and the retry waits are re-exported from
# their modules (errors.py, limiter.py, retry.py) so that imports from here keep working.
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

DEFAULT_TIMEOUT = (5, 60)  # (connect, read) seconds: a full Wistia page can be slow

# Connections kept open per host: at least the threads sharing one session (6 posting to
# Upsales, 4 fetching Wistia days); a thread beyond it would open and throw away a connection.
POOL_MAXSIZE = 10
# urllib3 retries nothing (requests' default, stated here): the retry loop is ours, above the
# limiter, so that every attempt takes a rate-limit slot, is counted and is sent again only
# under our idempotency rules.
NO_TRANSPORT_RETRIES = Retry(total=0, read=False)


def _package_version() -> str:
    try:
        return metadata.version("wistia_pipeline")
    except metadata.PackageNotFoundError:  # pragma: no cover - only when not installed
        return "0.0.0"


USER_AGENT = f"wistia-pipeline/{_package_version()}"


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
        self._secrets = secrets_from_headers(headers) | {
            s for s in secrets if s and len(s) >= redaction.MIN_SECRET_CHARS}
        # Requests sent, every attempt counted (a retry is a call to the quota too), by endpoint.
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_maxsize=POOL_MAXSIZE, max_retries=NO_TRANSPORT_RETRIES)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
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
        idempotent = is_idempotent(method, idempotent)
        shown_path = self._shown_path(path)
        loop = retrying(
            idempotent=idempotent,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base,
            backoff_max=self.backoff_max,
            sleep=self._retry_sleep,
            before_sleep=lambda state: self._log_retry(state, method, shown_path),
        )
        try:
            return loop(self._attempt, method, path, shown_path, params, json, data, expect_json)
        except Retryable as exc:
            message = gave_up_message(self.service, exc, method, shown_path, attempts=self.max_attempts,
                                      may_be_stored=not idempotent and exc.maybe_applied)
            raise self.error(message, status=exc.status, method=method, path=shown_path) from None

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
        except RETRY_EXCEPTIONS as exc:
            raise Retryable(type(exc).__name__, sent=not never_sent(exc)) from None
        except requests.RequestException as exc:  # invalid URL and the like: not retryable
            raise self.error(
                f"{self.service} {method} {shown_path} failed: {type(exc).__name__}",
                status=None, method=method, path=shown_path,
            ) from None

        status = response.status_code
        follow_budget_headers(self.limiter, response.headers)
        if status in RETRY_STATUSES:
            reason = error_reason(response, self._secrets)
            response.close()
            raise Retryable(str(status), status=status, headers=response.headers, reason=reason)
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
                raise Retryable("invalid JSON", status=status) from None
            if self.body_check is not None:
                embedded = self.body_check(body)
                if embedded is not None:
                    code, reason = embedded
                    reason = short_reason(reason, self._secrets)
                    if code in RETRY_STATUSES:
                        raise Retryable(f"{code} in body", status=code, reason=reason)
                    if code in (401, 403):
                        raise self._auth_error(code, reason, method, shown_path)
                    raise self.error(
                        f"{self.service} reported an error for {method} {shown_path}"
                        f" (HTTP {status}{', code ' + str(code) if code else ''})"
                        f"{': ' + reason if reason else ''}",
                        status=code or status, method=method, path=shown_path,
                    )
        return response, body

    def _auth_error(self, status: int, reason: str, method: str, path: str) -> AuthError:
        message = auth_message(self.service, self.credential, status, reason)
        return AuthError(self.redact(message), service=self.service, status=status,
                         method=method, path=path)

    def _client_error(self, status: int, reason: str, method: str, path: str) -> ApiError:
        message = f"{self.service} returned {status} for {method} {path}"
        if reason:
            message += f": {reason}"
        return self.error(message, status=status, method=method, path=path)

    def _log_retry(self, state: RetryCallState, method: str, path: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        what = exc.what if isinstance(exc, Retryable) else type(exc).__name__
        wait = state.next_action.sleep if state.next_action else 0.0
        level = logging.INFO if isinstance(exc, Retryable) and exc.status == 429 else logging.WARNING
        logger.log(level, "%s %s %s -> %s; retry %d/%d in %.2fs", self.service, method, path,
                   what, state.attempt_number, self.max_attempts - 1, wait)
