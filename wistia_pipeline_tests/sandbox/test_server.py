"""Shared plumbing: the sliding-window limiter, path matching and concurrent requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from wistia_pipeline.sandbox import Sandbox
from wistia_pipeline.sandbox.ratelimit import RateLimiter, ceil_seconds

from .helpers import upsales_get, wistia_get


def test_rate_limiter_sliding_window() -> None:
    limiter = RateLimiter(2, 10.0)
    first, second, third = limiter.hit(100.0), limiter.hit(104.0), limiter.hit(105.0)
    assert (first.allowed, second.allowed, third.allowed) == (True, True, False)
    assert (first.remaining, second.remaining, third.remaining) == (1, 0, 0)
    assert third.reset_seconds == pytest.approx(5.0)  # when the 100.0 request leaves the window
    assert limiter.hit(110.0).allowed  # 100.0 expired; the rejected one never counted
    assert not limiter.hit(113.0).allowed
    assert limiter.peek(114.5).remaining == 1
    assert limiter.peek(200.0).reset_seconds == 10.0


def test_ceil_seconds() -> None:
    assert (ceil_seconds(0.01), ceil_seconds(1.0), ceil_seconds(1.2), ceil_seconds(0)) == (1, 1, 2, 0)


def test_rate_limit_can_be_disabled(sb: Sandbox) -> None:
    sb.upsales.rate_limit = None
    response = upsales_get(sb, "/v2/self")
    assert response.status_code == 200 and "X-RateLimit-Limit" not in response.headers


def test_path_prefix_with_or_without_api_root(sb: Sandbox) -> None:
    assert sb.upsales.path_matches("/api/v2/events/22401", "/v2/events")
    assert sb.upsales.path_matches("/api/v2/events", "/api/v2/events")
    assert sb.upsales.path_matches("/api/v2/events", "v2/events")
    assert not sb.upsales.path_matches("/api/v2/contacts", "/v2/events")
    assert sb.wistia.path_matches("/v1/stats/events.json", "/stats")
    assert not sb.wistia.path_matches("/v1/medias.json", "/stats")


def test_concurrent_requests_are_all_served_and_recorded(sb: Sandbox) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: wistia_get(sb, "/medias.json").status_code, range(40)))
        statuses += list(pool.map(lambda _: upsales_get(sb, "/v2/self").status_code, range(40)))
    assert statuses == [200] * 80
    assert sb.wistia.request_count() == sb.upsales.request_count() == 40


def test_emulator_bug_answers_500_and_is_kept(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(request):
        raise RuntimeError("bug")

    monkeypatch.setattr(sb.wistia, "route", broken)
    assert wistia_get(sb, "/medias.json").status_code == 500
    assert "RuntimeError: bug" in sb.wistia.errors[0]
    assert [r.status for r in sb.wistia.requests] == [500]
