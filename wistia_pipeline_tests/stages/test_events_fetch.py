"""Days fetched side by side: every page arrives once, in order within its day; an error stops all."""

from __future__ import annotations

import json
import signal
import threading
import time
from contextlib import closing
from datetime import date, timedelta

import pytest

from wistia_pipeline.clients import WistiaClient
from wistia_pipeline.clients.errors import ApiError, AuthError
from wistia_pipeline.sandbox.faults import Fault
from wistia_pipeline.stages.events import fetch_pages

DAYS = [date(2026, 3, 10) + timedelta(days=n) for n in range(3)]


class FakeClient:
    """Pages of `size` events per day; optionally slow, optionally failing on one day."""

    def __init__(self, pages: int = 5, delay: float = 0.0, fail_on: date | None = None) -> None:
        self.pages, self.delay, self.fail_on = pages, delay, fail_on
        self.active = self.most_active = 0
        self.lock = threading.Lock()
        self.finished: list[date] = []

    def iter_event_pages(self, day: date):
        for n in range(self.pages):
            with self.lock:
                self.active += 1
                self.most_active = max(self.most_active, self.active)
            time.sleep(self.delay)
            with self.lock:
                self.active -= 1
            if day == self.fail_on and n == 1:
                raise AuthError("Wistia rejected the API token (401)", service="Wistia", status=401)
            yield [{"event_key": f"{day}-{n}-{i}"} for i in range(3)]
        self.finished.append(day)


def test_every_page_of_every_day_arrives_once_in_order_within_its_day():
    got = list(fetch_pages(FakeClient(), DAYS))
    assert len(got) == 15
    for day in DAYS:
        assert [page_no for d, page_no, _ in got if d == day] == [1, 2, 3, 4, 5]
        assert [page[0]["event_key"] for d, _, page in got if d == day] == [f"{day}-{n}-0" for n in range(5)]


def test_days_are_fetched_side_by_side():
    client = FakeClient(pages=4, delay=0.05)
    started = time.perf_counter()
    list(fetch_pages(client, DAYS))
    assert client.most_active == 3
    assert time.perf_counter() - started < 3 * 4 * 0.05


def test_an_error_on_one_day_is_raised_and_stops_the_others():
    client = FakeClient(pages=50, delay=0.01, fail_on=DAYS[1])
    with pytest.raises(AuthError):
        list(fetch_pages(client, DAYS))
    assert client.finished == []  # the other days did not run to their end
    assert client.active == 0


def test_no_days_no_pages():
    assert list(fetch_pages(FakeClient(), [])) == []


# -- a fetch that cannot run forever and stops when the run is stopped ----------------------------


def fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("wistia-day")]


def wistia_client(sandbox, **kwargs) -> WistiaClient:
    return WistiaClient(sandbox.wistia_url, sandbox.wistia.token, **kwargs)


def test_a_server_ignoring_page_stops_the_fetch_with_one_line(sandbox):
    page = [{"event_key": f"k-{n}", "received_at": "2026-03-10T10:00:00Z"} for n in range(100)]
    sandbox.wistia.inject(Fault(status=200, body=json.dumps(page), path_prefix="/stats/events", count=1000))
    started = time.monotonic()
    with pytest.raises(ApiError) as info:
        list(fetch_pages(wistia_client(sandbox), DAYS[:1]))
    assert time.monotonic() - started < 5
    assert str(info.value).startswith(
        "Wistia returned the same page twice for 2026-03-10 (page 2 repeats page 1): the API or a proxy ignores `page`")
    assert sandbox.wistia.request_count("/stats/events") == 2


def test_an_interrupted_consumer_is_not_held_by_a_slow_wistia(sandbox):
    """One day's answer takes 30 s; the consumer is interrupted on another day's page: control comes
    back at once, and the thread still waiting for its answer is a daemon (never waited for)."""
    for day in DAYS[:2]:
        sandbox.wistia.add_events([{"event_key": f"{day}-{n}", "received_at": f"{day}T10:00:0{n}Z"}
                                   for n in range(3)])
    sandbox.wistia.inject(Fault(mode="delay", delay=30, path_prefix="/stats/events", count=1))
    with pytest.raises(KeyboardInterrupt), closing(fetch_pages(wistia_client(sandbox), DAYS[:2])) as pages:
        for _ in pages:
            started = time.monotonic()
            raise KeyboardInterrupt
    assert time.monotonic() - started < 10
    assert all(thread.daemon for thread in fetch_threads())


def test_sigint_during_a_retry_backoff_stops_every_fetch_thread(sandbox):
    """Wistia asks every request to come back in 30 s; SIGINT arrives while the consumer waits for a
    page: fetch_pages returns within seconds, its threads end (their waits wake), nothing is retried."""
    sandbox.wistia.inject(Fault(status=503, headers={"Retry-After": "30"}, path_prefix="/stats/events",
                                count=1000))
    main = threading.main_thread().ident
    timer = threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            list(fetch_pages(wistia_client(sandbox), DAYS))
    finally:
        timer.cancel()
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while fetch_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fetch_threads() == []
    assert sandbox.wistia.request_count("/stats/events") == len(DAYS)  # one attempt per day, no retry
