"""Shared HTTP plumbing for the local API emulators.

Both emulators need the same things around their routes: a real HTTP server on 127.0.0.1 (so the
clients are exercised end to end, retries and all), a log of every request (so tests can count
calls and prove batching), an auth check, a sliding-window rate limiter answering 429 (so the
clients' backoff is exercised), and a fault queue (`inject(Fault(...))`, `fail_next(...)`) to provoke
5xx, 429 or any other answer, a slow answer (a client timeout), a dropped connection, a cut body, or
the worst case of all: a write that is stored while its answer is lost. Subclasses supply the API
specifics through a handful of hooks.

Request handling order, the same for both APIs: admin route (`/_sandbox/...`, no auth, not
recorded) -> auth check -> queued fault -> rate limiter -> the API route. Every non-admin request
is recorded with the status it got (0 when the connection was dropped without an answer).
A fault's delay and a dropped connection happen outside the emulator's lock, so a slow answer
never holds up other requests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import dataclasses
import json
import math
import socket
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

HOST = "127.0.0.1"
ADMIN_PREFIX = "/_sandbox/"


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it: what tests assert on (counts, batching, auth)."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int


@dataclass
class Request:
    """A parsed incoming request handed to the emulator's routes."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any  # http.client.HTTPMessage: case-insensitive .get()
    body: bytes = b""

    def param(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter (APIs read single-valued params this way)."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8") or "null")


@dataclass
class Response:
    """What a route answers; the handler turns it into bytes on the wire."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (or before dropping)
    drop: bool = False  # close the connection without answering at all
    cut: bool = False  # send the headers and half the body, then close the connection


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer, the content type both APIs use."""
    return Response(
        status,
        json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        "application/json; charset=utf-8",
        dict(headers or {}),
    )


def text_response(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status, text.encode("utf-8"), content_type)


def guess_content_type(body: str) -> str:
    """Content type for an injected body: JSON if it parses, HTML if it looks like it, else text."""
    stripped = body.lstrip()
    try:
        json.loads(body)
        return "application/json; charset=utf-8"
    except ValueError:
        pass
    if stripped.startswith("<"):
        return "text/html; charset=utf-8"
    return "text/plain; charset=utf-8"


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


FAULT_MODES = ("respond", "delay", "drop", "drop_after_write", "truncate")
# Modes in which the API itself handles the request (so a write is stored) before the fault acts.
_API_RUNS = ("delay", "drop_after_write", "truncate")


@dataclass
class Fault:
    """What the next matching request(s) get instead of the plain answer (`Emulator.inject`).

    `mode`:

    - `respond` (default): answer `status`, `headers` and `body` instead of the API; nothing is
      stored. With `delay`, the answer comes late (longer than the client's read timeout: a
      timeout for a request that never took effect).
    - `delay`: the API handles the request (a write is stored) and the answer leaves after
      `delay` seconds: longer than the client's read timeout, a timeout after the write.
    - `drop`: the connection is closed before the API sees the request: nothing stored, no answer.
    - `drop_after_write`: the API handles the request (a write is stored), then the connection is
      closed without an answer: the response is lost.
    - `truncate`: the API handles the request; its answer is cut off halfway through the body
      (the headers promise the whole body, the connection closes after half of it).

    A fault matches requests whose path starts with `path_prefix` (with or without the API root)
    and whose method is `method` (None: any). The first `skip` matching requests pass untouched
    (`skip` counts down as they do), the next `count` get the fault (`fired` counts them). `on_fire` (only in the sandbox's own process) is called each
    time the fault acts: after the API handled the request in the modes where it does, else before
    the answer; a test uses it to, say, SIGKILL the pipeline at that exact moment.
    """

    status: int | None = None
    count: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    path_prefix: str | None = None
    method: str | None = None
    mode: str = "respond"
    delay: float = 0.0
    skip: int = 0
    on_fire: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    fired: int = field(default=0, init=False)  # how many requests got it so far

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}, got {self.mode!r}")
        if self.mode == "respond" and self.status is None:
            raise ValueError("a 'respond' fault needs a status")
        if self.count < 1 or self.skip < 0 or self.delay < 0:
            raise ValueError("count must be >= 1, skip and delay >= 0")
        self.status = None if self.status is None else int(self.status)
        self.headers = {str(k): str(v) for k, v in (self.headers or {}).items()}
        self.method = self.method.upper() if self.method else None

    @property
    def remaining(self) -> int:
        return self.count - self.fired

    def to_json(self) -> dict[str, Any]:
        """The fault as `POST /_sandbox/faults` takes it (without `on_fire`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init and f.name != "on_fire"}

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """A fault from `POST /_sandbox/faults`' body; ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        known = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "on_fire"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(str(exc)) from None


def inject_remote(root_url: str, *faults: Fault, timeout: float = 5.0) -> None:
    """Queue faults in a sandbox running in another process (`POST <root>/_sandbox/faults`).

    `root_url` is the emulator's `http://127.0.0.1:<port>` (its API URL works too).
    """
    import urllib.request

    root = root_url.rstrip("/")
    for suffix in ("/v1", "/api"):
        root = root.removesuffix(suffix)
    body = json.dumps([f.to_json() for f in faults]).encode("utf-8")
    request = urllib.request.Request(root + ADMIN_PREFIX + "faults", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - loopback only
        answer.read()


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that is quiet, does not block on close and can drop live connections."""

    daemon_threads = True
    block_on_close = False  # a client's idle keep-alive connection must not hang stop()
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 makes bursts of new connections wait 1 s

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._connections_lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def drop_connections(self) -> None:
        """Close keep-alive connections so a stopped sandbox really stops answering."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients dropping connections is normal here."""


class _Handler(BaseHTTPRequestHandler):
    """Parses the request, asks the emulator, writes the answer. No logging."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs behind a load balancer
    server_version = "WistiaPipelineSandbox/1.0"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK hold every body back ~40 ms.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: a test run or `wistia-pipeline sandbox` must not be flooded with access logs."""

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(parts.path) or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
        )
        response = self.server.emulator.handle(request)
        if response.delay > 0:  # outside the emulator's lock: other requests go on meanwhile
            time.sleep(response.delay)
        if response.drop:  # no answer at all: the client sees the connection close
            self._hang_up()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.content_type and response.body:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.cut:  # the headers promised the whole body: half of it, then the line goes dead
            self.wfile.write(response.body[: len(response.body) // 2])
            self._hang_up()
            return
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def _hang_up(self) -> None:
        """Close the connection without another byte, as a dead upstream or a cut line does."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None  # kept after stop(), so URLs stay printable

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (port 0: an ephemeral one) and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError(f"{self.service} emulator already started")
        self._server = _Server((HOST, port), self)
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
        fault = self._take_fault(request)
        if fault is not None and fault.mode not in _API_RUNS:
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

    def _take_fault(self, request: Request) -> Fault | None:
        for fault in self._faults:
            if fault.method is not None and fault.method != request.method.upper():
                continue
            if fault.path_prefix is not None and not self.path_matches(request.path, fault.path_prefix):
                continue
            if fault.skip > 0:  # let this one through, count it
                fault.skip -= 1
                return None
            fault.fired += 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            return fault
        return None

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
        path = request.path.rstrip("/")
        if request.method == "GET" and path == "/_sandbox/state":
            return json_response(200, self.admin_state())
        if path == "/_sandbox/faults":
            if request.method == "GET":
                return json_response(200, {"faults": [f.to_json() for f in self._faults]})
            if request.method == "DELETE":
                self._faults.clear()
                return json_response(200, {"faults": []})
            if request.method == "POST":
                try:
                    data = request.json()
                    faults = [Fault.from_json(item) for item in (data if isinstance(data, list) else [data])]
                except ValueError as exc:
                    return json_response(400, {"error": f"invalid fault: {exc}"})
                self._faults.extend(faults)
                return json_response(200, {"queued": len(faults)})
        return json_response(404, {"error": "Not found"})


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
