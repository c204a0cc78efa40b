"""The base of both API emulators: what every request goes through around the API's own routes.

Both emulators need the same things around their routes: a real HTTP server on 127.0.0.1 (so the
clients are exercised end to end, retries and all: server.py), a log of every request (so tests can
count calls and prove batching), an auth check, a sliding-window rate limiter answering 429 (so the
clients' backoff is exercised: ratelimit.py), and a fault queue (`inject(Fault(...))`,
`fail_next(...)`: faults.py) to provoke 5xx, 429 or any other answer, a slow answer (a client
timeout), a dropped connection, a cut body, or the worst case of all: a write that is stored while
its answer is lost. Subclasses supply the API specifics through a handful of hooks.

Request handling order, the same for both APIs: admin route (`/_sandbox/...`, no auth, not
recorded) -> auth check -> queued fault -> rate limiter -> the API route. Every non-admin request
is recorded with the status it got (0 when the connection was dropped without an answer).
A fault's delay and a dropped connection happen outside the emulator's lock, so a slow answer
never holds up other requests.
"""

from __future__ import annotations

import threading
import traceback
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from typing import Any

from .faults import API_RUNS, Fault, faults_admin_route, take_fault
from .messages import ADMIN_PREFIX, Request, RequestRecord, Response, guess_content_type, json_response, reason_phrase
from .ratelimit import RateDecision, RateLimiter
from .server import HOST, SandboxServer


class Emulator(ABC):
    """Base class of the two API emulators: server lifecycle, request log, faults, rate limit.

    All state lives behind `self.lock` (re-entrant); every request is handled under it, so
    tests can add data while a client is reading without torn reads.
    """

    service = "emulator"
    api_prefix = ""  # the path the API root sits under ("/v1", "/api")
    default_rate_limit: tuple[int, float] | None = None

    def __init__(self, token: str, rate_limit: tuple[int, float] | None = None) -> None:
        self.token = token
        self.lock = threading.RLock()
        self.requests: list[RequestRecord] = []
        self.errors: list[str] = []  # tracebacks of emulator bugs (answered 500)
        self._faults: list[Fault] = []
        self._limiter: RateLimiter | None = None
        self.rate_limit = rate_limit if rate_limit is not None else self.default_rate_limit
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None  # kept after stop(), so URLs stay printable

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (port 0: an ephemeral one) and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError(f"{self.service} emulator already started")
        self._server = SandboxServer((HOST, port), self)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # how fast stop() returns
            name=f"sandbox-{self.service}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket and any open client connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The listening port (the last one after stop()); start() must have run."""
        if self._port is None:
            raise RuntimeError(f"{self.service} emulator was never started")
        return self._port

    @property
    def root_url(self) -> str:
        """`http://127.0.0.1:<port>` (admin routes hang off this)."""
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The API root a client is configured with."""
        return self.root_url + self.api_prefix

    # -- test controls ---------------------------------------------------------------------------

    @property
    def rate_limit(self) -> tuple[int, float] | None:
        """(requests, window seconds); None disables limiting. Setting it starts a fresh window."""
        limiter = self._limiter
        return None if limiter is None else (limiter.limit, limiter.window)

    @rate_limit.setter
    def rate_limit(self, value: tuple[int, float] | None) -> None:
        with self.lock:
            self._limiter = None if value is None else RateLimiter(int(value[0]), float(value[1]))

    def inject(self, *faults: Fault) -> None:
        """Queue faults (see `Fault`); they apply in the order queued, the first match wins."""
        with self.lock:
            self._faults.extend(faults)

    def fail_next(
        self,
        status: int | None = None,
        count: int = 1,
        headers: dict | None = None,
        body: str | None = None,
        path_prefix: str | None = None,
        *,
        method: str | None = None,
        mode: str = "respond",
        delay: float = 0.0,
        skip: int = 0,
        on_fire: Callable[[], None] | None = None,
    ) -> Fault:
        """Answer the next `count` requests matching `path_prefix` with `status` instead.

        Faults queue up in order; the auth check still comes first and the request is recorded.
        `path_prefix` may be given with or without the API root (`/v2/events` or `/api/v2/events`).
        The keyword arguments are those of `Fault` (other modes, a delay, a method, ...).
        """
        fault = Fault(status, count, dict(headers or {}), body, path_prefix, method=method, mode=mode,
                      delay=delay, skip=skip, on_fire=on_fire)
        self.inject(fault)
        return fault

    @property
    def faults(self) -> list[Fault]:
        """Faults still queued."""
        with self.lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def request_count(self, path_prefix: str | None = None, method: str | None = None) -> int:
        """How many recorded requests match the path prefix (with or without API root) and method."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method.upper() == method.upper())
                and (path_prefix is None or self.path_matches(r.path, path_prefix))
            )

    def path_matches(self, path: str, prefix: str) -> bool:
        """Prefix match on the full path or on the path below the API root."""
        if not prefix.startswith("/"):
            prefix = "/" + prefix
        if path.startswith(prefix):
            return True
        root = self.api_prefix
        return bool(root) and path.startswith(root + "/") and path[len(root) :].startswith(prefix)

    def request_counts_by_path(self) -> dict[str, int]:
        with self.lock:
            return dict(Counter(r.path for r in self.requests))

    # -- request handling ------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Run one request through admin -> auth -> fault -> rate limit -> route, and record it."""
        with self.lock:
            try:
                if request.path.startswith(ADMIN_PREFIX):
                    return self.admin_route(request)
                response = self._handle_api(request)
            except Exception:  # an emulator bug must surface as a 500, not a hung client
                self.errors.append(traceback.format_exc())
                response = self.server_error()
            self.requests.append(RequestRecord(request.method, request.path, request.query, response.status))
            return response

    def _handle_api(self, request: Request) -> Response:
        if self.requires_auth(request) and not self.authorized(request):
            return self.with_budget_headers(self.unauthorized(), None)
        fault = take_fault(self._faults, request, self.path_matches)
        if fault is not None and fault.mode not in API_RUNS:
            if fault.on_fire is not None:
                fault.on_fire()
            if fault.mode == "drop":
                return Response(0, delay=fault.delay, drop=True)
            response = self.fault_response(fault)
            response.delay = fault.delay
            return self.with_budget_headers(response, None, override=fault.headers)
        decision = self._limiter.hit() if self._limiter is not None else None
        if decision is not None and not decision.allowed:
            response = self.with_budget_headers(self.rate_limited(decision), decision)
        else:
            response = self.with_budget_headers(self.route(request), decision)
        if fault is not None:  # the API has handled it (a write is stored); now the fault acts
            if fault.on_fire is not None:
                fault.on_fire()
            response.headers.update(fault.headers)
            response.delay = fault.delay
            if fault.mode == "drop_after_write":
                response.status, response.drop = 0, True
            elif fault.mode == "truncate":
                response.cut = True
        return response

    def with_budget_headers(
        self, response: Response, decision: RateDecision | None, override: dict[str, str] | None = None
    ) -> Response:
        """Add the API's rate-budget headers (if it sends any), then explicit overrides."""
        if decision is None and self._limiter is not None:
            decision = self._limiter.peek()
        if decision is not None:
            for name, value in self.budget_headers(decision).items():
                response.headers.setdefault(name, value)
        response.headers.update(override or {})
        return response

    def fault_response(self, fault: Fault) -> Response:
        if fault.body is None:
            return self.default_error(fault.status)
        return Response(fault.status, fault.body.encode("utf-8"), guess_content_type(fault.body))

    # -- hooks for the concrete APIs -------------------------------------------------------------

    def requires_auth(self, request: Request) -> bool:
        return True

    @abstractmethod
    def authorized(self, request: Request) -> bool:
        """Each API answers this its own way."""

    @abstractmethod
    def unauthorized(self) -> Response:
        """Each API answers this its own way."""

    @abstractmethod
    def rate_limited(self, decision: RateDecision) -> Response:
        """Each API answers this its own way."""

    def budget_headers(self, decision: RateDecision) -> dict[str, str]:
        """Headers describing the rate budget; none by default (Wistia sends none)."""
        return {}

    def default_error(self, status: int) -> Response:
        """Body for an injected fault given without one."""
        return json_response(status, {"error": reason_phrase(status)})

    def server_error(self) -> Response:
        return self.default_error(500)

    @abstractmethod
    def route(self, request: Request) -> Response:
        """Each API answers this its own way."""

    def admin_state(self) -> dict[str, Any]:
        return {"service": self.service, "requests": self.request_counts_by_path()}

    def admin_route(self, request: Request) -> Response:
        """Test controls for a sandbox running in another process; subclasses add more.

        `GET /_sandbox/state`; `POST /_sandbox/faults` with one fault or a list of them (the
        fields of `Fault`, e.g. `{"status": 503, "headers": {"Retry-After": "1"}}` or
        `{"mode": "drop_after_write", "path_prefix": "/v2/events", "method": "POST"}`);
        `GET /_sandbox/faults` lists the queued ones; `DELETE /_sandbox/faults` clears them.
        """
        if request.method == "GET" and request.path.rstrip("/") == ADMIN_PREFIX + "state":
            return json_response(200, self.admin_state())
        answer = faults_admin_route(self._faults, request)
        return answer if answer is not None else json_response(404, {"error": "Not found"})
