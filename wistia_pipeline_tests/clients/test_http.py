"""Unit tests for the HTTP plumbing: no network (a fake transport and a fake clock)."""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from wistia_pipeline.clients.errors import ApiError, AuthError
from wistia_pipeline.clients.http import POOL_MAXSIZE, USER_AGENT, ApiSession
from wistia_pipeline.clients.limiter import SlidingWindowLimiter, parse_rate_limit_reset
from wistia_pipeline.clients.retry import compute_retry_wait, never_sent, parse_retry_after

from .conftest import mount, recording_sleep

TOKEN = "tok-9f8e7d6c5b4a"


def make_session(**kwargs) -> ApiSession:
    options = {"max_attempts": 4, "backoff_base": 0.01, "backoff_max": 0.05}
    options.update(kwargs)
    return ApiSession("Wistia", "https://api.example.test/v1/",
                      {"Authorization": f"Bearer {TOKEN}"}, (1000, 1.0), **options)


# -- Retry-After / X-RateLimit-Reset parsing ----------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("0", 0.0), ("3", 3.0), (" 7 ", 7.0), ("1.5", 1.5), ("-4", 0.0),
    (None, None), ("", None), ("soon", None), ("nan", None),
])
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)  # "Wed, 25 Nov 2026 12:00:30 GMT"
    assert parse_retry_after(later, now=now) == pytest.approx(30.0)
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize("value, expected", [
    ("10", 10.0), ("2.5", 2.5), ("0", None), ("-3", None), ("x", None), (None, None),
])
def test_parse_rate_limit_reset(value, expected):
    assert parse_rate_limit_reset(value) == expected


def test_wait_prefers_retry_after_then_reset_then_backoff_and_caps():
    w = lambda status, headers: compute_retry_wait(0.25, status=status, headers=headers,  # noqa: E731
                                                   backoff_max=60)
    assert w(429, {"Retry-After": "0"}) == 0.0
    assert w(503, {"Retry-After": "12"}) == 12.0
    assert w(429, {"Retry-After": "5", "X-RateLimit-Reset": "9"}) == 5.0
    assert w(429, {"X-RateLimit-Reset": "9"}) == 9.0
    assert w(429, {"X-RateLimit-Reset": "0"}) == 0.25  # 0 -> the backoff
    assert w(429, {"X-RateLimit-Reset": "-2"}) == 0.25  # negative -> the backoff
    # Upsales sends X-RateLimit-Reset on every response; only a 429 is about the rate window.
    assert w(500, {"X-RateLimit-Reset": "9"}) == 0.25
    assert w(502, {}) == 0.25
    assert compute_retry_wait(0.25, status=429, headers={"Retry-After": "3600"}, backoff_max=60) == 60
    assert compute_retry_wait(0.25, status=429, headers={"X-RateLimit-Reset": "90"}, backoff_max=60) == 60


def test_backoff_is_full_jitter_exponential_and_capped():
    """Observed waits for a header-less 503: uniform in [0, min(max, base * 2**(n-1))]."""
    random.seed(1)
    slept, sleep = recording_sleep()
    session = make_session(max_attempts=8, backoff_base=0.5, backoff_max=4.0, sleep=sleep)
    mount(session, [(503, "", {})])
    with pytest.raises(ApiError):
        session.request("GET", "/medias.json")
    assert len(slept) == 7
    for attempt, wait in enumerate(slept, start=1):
        assert 0 <= wait <= min(4.0, 0.5 * 2 ** (attempt - 1))
    assert len(set(slept)) > 1  # jittered, not fixed


# -- the limiter ----------------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when someone sleeps (thread-safe)."""

    def __init__(self):
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def test_limiter_spaces_requests_with_a_fake_clock():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 10.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(7):
        limiter.acquire()
        starts.append(clock.now - 1000.0)
    assert starts == [0, 0, 0, 10, 10, 10, 20]


def test_limiter_slides_rather_than_resets():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 10.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()           # t=0
    clock.sleep(6)
    limiter.acquire()           # t=6
    waited = limiter.acquire()  # must wait until t=10, when the t=0 slot leaves the window
    assert waited == pytest.approx(4.0)
    assert clock.now - 1000.0 == pytest.approx(10.0)
    waited = limiter.acquire()  # next free slot at t=16
    assert clock.now - 1000.0 == pytest.approx(16.0)


def test_limiter_never_admits_more_than_limit_per_window_across_threads():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 10.0, clock=clock, sleep=clock.sleep)
    admitted: list[float] = []

    class RecordingDeque(deque):
        def append(self, value):  # called under the limiter's lock with the admit time
            admitted.append(value)
            super().append(value)

    limiter._starts = RecordingDeque()

    def worker():
        for _ in range(5):
            limiter.acquire()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(admitted) == 30
    assert admitted == sorted(admitted)
    for i in range(len(admitted) - 5):  # any 6 consecutive admits span at least the window
        assert admitted[i + 5] - admitted[i] >= 10.0 - 1e-9


def test_limiter_counts_what_the_server_says_others_spent_until_its_reset():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 10.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()                      # t=0, ours: 1 of 5
    limiter.observe(remaining=2, reset=4)  # the server has 2 left: someone else spent 2 more
    limiter.acquire()
    limiter.acquire()                      # the server's 2
    assert clock.now - 1000.0 == 0.0
    limiter.acquire()                      # waits for the server's reset, not our own window
    assert clock.now - 1000.0 == pytest.approx(4.0)


@pytest.mark.parametrize("remaining, reset", [(4, 4.0), (50, 4.0), (0, None), (0, 0.0)])
def test_limiter_ignores_a_server_budget_it_already_respects(remaining, reset):
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 10.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(remaining=remaining, reset=reset)  # no reset left: the budget is back already
    for _ in range(4):
        limiter.acquire()
    assert clock.now - 1000.0 == 0.0


def test_session_passes_upsales_budget_headers_to_its_limiter():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(10, 10.0, clock=clock, sleep=clock.sleep)
    session = make_session(limiter=limiter)
    mount(session, [(200, [], {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"}),
                    (200, [], {"X-RateLimit-Remaining": "many"}), (200, [], {})])
    session.request("GET", "/a")
    session.request("GET", "/b")  # waits the 3 s the server said, though our own window has room
    assert clock.now - 1000.0 == pytest.approx(3.0)
    session.request("GET", "/c")  # an unreadable header is ignored
    assert clock.now - 1000.0 == pytest.approx(3.0)


def test_session_takes_a_limiter_slot_before_every_attempt():
    taken = []

    class CountingLimiter(SlidingWindowLimiter):
        def acquire(self):
            taken.append(1)
            return 0.0

    session = make_session(limiter=CountingLimiter(1, 1.0))
    mount(session, [(503, "", {}), (502, "", {}), (200, [], {})])
    session.request("GET", "/projects.json")
    assert len(taken) == 3


# -- responses and errors -------------------------------------------------------------------


def test_headers_user_agent_bearer_and_no_token_in_url():
    session = make_session()
    transport = mount(session, [(200, [], {})])
    session.request("GET", "/projects.json", params={"per_page": 1})
    sent = transport.requests[0]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("wistia-pipeline/")
    assert TOKEN not in sent.url
    assert sent.url == "https://api.example.test/v1/projects.json?per_page=1"


def test_repr_shows_no_headers():
    session = make_session()
    assert TOKEN not in repr(session)
    assert "Bearer" not in repr(session)


def test_401_is_auth_error_at_once():
    session = make_session()
    transport = mount(session, [(401, {"error": "Invalid credentials."}, {})])
    with pytest.raises(AuthError) as info:
        session.request("GET", "/projects.json", params={"per_page": 1})
    assert str(info.value) == "Wistia rejected the API token (401)"
    assert info.value.status == 401 and info.value.service == "Wistia"
    assert info.value.method == "GET" and info.value.path == "/projects.json"
    assert len(transport.requests) == 1


def test_403_names_the_missing_permission():
    session = make_session()
    mount(session, [(403, {"error": "This token does not have permission to read stats."}, {})])
    with pytest.raises(AuthError) as info:
        session.request("GET", "/stats/events.json")
    assert str(info.value) == ("Wistia refused access (403): the token lacks a permission: "
                               "This token does not have permission to read stats.")


@pytest.mark.parametrize("status, body, reason", [
    (404, "<html><body>Not found</body></html>", None),
    (404, "", None),
    (422, {"errors": ["name is required"]}, "name is required"),
    (400, {"error": {"key": "FailedValidation", "code": 400, "errorCode": 26,
                     "msg": "No such attribute: id"}, "metadata": None}, "No such attribute: id"),
    (400, "Bad thing\nhappened", "Bad thing happened"),
])
def test_other_4xx_fail_at_once_with_one_line(status, body, reason):
    session = make_session()
    transport = mount(session, [(status, body, {})])
    with pytest.raises(ApiError) as info:
        session.request("GET", "/medias/abc.json", params={"secret_param": "x"})
    message = str(info.value)
    assert not isinstance(info.value, AuthError)
    assert len(transport.requests) == 1
    assert "\n" not in message and "?" not in message and "secret_param" not in message
    expected = f"Wistia returned {status} for GET /medias/abc.json"
    assert message == (f"{expected}: {reason}" if reason else expected)


def test_long_reason_truncated_to_200_chars():
    session = make_session()
    mount(session, [(400, {"error": "x" * 1000}, {})])
    with pytest.raises(ApiError) as info:
        session.request("GET", "/medias.json")
    reason = str(info.value).split(": ", 1)[1]
    assert len(reason) == 200 and reason.endswith("...")


def test_token_echoed_by_server_is_redacted():
    session = make_session()
    mount(session, [(403, {"error": f"token {TOKEN} lacks stats access"}, {})])
    with pytest.raises(AuthError) as info:
        session.request("GET", "/stats/events.json")
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    assert "***" in str(info.value)


def test_retry_then_success_and_logs_without_token_or_query(caplog):
    caplog.set_level(logging.INFO, logger="wistia_pipeline.http")
    slept, sleep = recording_sleep()
    session = make_session(sleep=sleep)
    transport = mount(session, [(429, "Rate limit exceeded", {"Retry-After": "0"}),
                                (503, "", {}), (200, [{"id": 1}], {})])
    response = session.request("GET", "/projects.json", params={"page": 1, "per_page": 100})
    assert response.json() == [{"id": 1}]
    assert len(transport.requests) == 3
    assert slept[0] == 0.0 and 0 <= slept[1] <= 0.05
    lines = [r.getMessage() for r in caplog.records if r.name == "wistia_pipeline.http"]
    assert len(lines) == 2
    assert "GET /projects.json -> 429" in lines[0] and "GET /projects.json -> 503" in lines[1]
    assert caplog.records[0].levelno == logging.INFO and caplog.records[1].levelno == logging.WARNING
    for line in lines:
        assert TOKEN not in line and "?" not in line and "per_page" not in line


def test_exhausted_retries_raise_with_last_status():
    slept, sleep = recording_sleep()
    session = make_session(max_attempts=3, sleep=sleep)
    transport = mount(session, [(502, "", {}), (500, {"error": "boom"}, {})])
    with pytest.raises(ApiError) as info:
        session.request("GET", "/medias.json", params={"page": 2})
    assert len(transport.requests) == 3
    assert info.value.status == 500
    assert str(info.value) == "Wistia returned 500 for GET /medias.json after 3 attempts: boom"


def test_invalid_json_is_retried_then_fails():
    session = make_session(max_attempts=2, sleep=lambda s: None)
    transport = mount(session, [(200, '[{"event_key": "trunc', {}), (200, [{"ok": 1}], {})])
    assert session.request("GET", "/stats/events.json").json() == [{"ok": 1}]
    assert len(transport.requests) == 2

    session = make_session(max_attempts=2, sleep=lambda s: None)
    mount(session, [(200, "<html>proxy error</html>", {})])
    with pytest.raises(ApiError) as info:
        session.request("GET", "/stats/events.json")
    assert "not valid JSON" in str(info.value) and info.value.status == 200


def test_form_posts_do_not_expect_json():
    session = make_session(sleep=lambda s: None)
    transport = mount(session, [(200, "98765", {})])
    response = session.request("POST", "/external/formSubmit", data={"Contact.email": "a@b.se"})
    assert response.text == "98765"
    assert len(transport.requests) == 1
    assert transport.requests[0].headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_connection_errors_are_retried_then_reported():
    # Port 9 on localhost: nothing listens there, the connection is refused at once.
    session = ApiSession("Upsales", "http://127.0.0.1:9/api", {"Cookie": f"token={TOKEN}"},
                         (100, 1.0), timeout=(0.5, 0.5), max_attempts=2,
                         backoff_base=0.01, backoff_max=0.02, credential="API key")
    with pytest.raises(ApiError) as info:
        session.request("GET", "/v2/self")
    assert info.value.status is None
    assert str(info.value) == "Upsales GET /v2/self failed after 2 attempts: ConnectionError"
    assert TOKEN not in repr(info.value)


def test_embedded_error_check_retries_only_429_and_5xx():
    def check(body):
        error = body.get("error") if isinstance(body, dict) else None
        return (error["code"], error["msg"]) if error else None

    session = make_session(body_check=check, sleep=lambda s: None)
    transport = mount(session, [(200, {"error": {"code": 503, "msg": "busy"}}, {}),
                                (200, {"error": None, "data": []}, {})])
    assert session.request("GET", "/x").json()["data"] == []
    assert len(transport.requests) == 2

    session = make_session(body_check=check, sleep=lambda s: None)
    transport = mount(session, [(200, {"error": {"code": 400, "msg": "No such attribute: id"}}, {})])
    with pytest.raises(ApiError) as info:
        session.request("GET", "/x")
    assert len(transport.requests) == 1 and info.value.status == 400
    assert "No such attribute: id" in str(info.value)


def test_a_write_is_retried_when_the_connection_was_refused():
    """A refused connection (urllib3's NewConnectionError) never reached the server: a POST is
    sent again; only a failure that may have taken effect stops a write at once."""
    session = ApiSession("Upsales", "http://127.0.0.1:9/api", {"Cookie": f"token={TOKEN}"},
                         (100, 1.0), timeout=(0.5, 0.5), max_attempts=2,
                         backoff_base=0.01, backoff_max=0.02, credential="API key")
    with pytest.raises(ApiError) as info:
        session.request("POST", "/v2/events", json={"entityType": "MarketingCustom"})
    assert str(info.value) == "Upsales POST /v2/events failed after 2 attempts: ConnectionError"
    assert session.calls == {"POST /v2/events": 2}


def test_never_sent_tells_a_refused_connection_from_a_lost_answer():
    assert never_sent(requests.ConnectTimeout())
    refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    assert never_sent(requests.ConnectionError(MaxRetryError(None, "/", reason=refused)))
    assert not never_sent(requests.ConnectionError(ProtocolError("Connection aborted.")))
    assert not never_sent(requests.ReadTimeout())


def test_one_pooled_adapter_and_no_retries_below_ours():
    """Every attempt goes through the limiter and the count: urllib3 itself retries nothing."""
    session = make_session()
    for url in ("https://api.example.test/v1", "http://127.0.0.1:1/api"):
        adapter = session.requests_session.get_adapter(url)
        assert adapter.max_retries.total == 0
        assert adapter.poolmanager.connection_pool_kw["maxsize"] == POOL_MAXSIZE
