"""Days fetched side by side: every page arrives once, in order within its day; an error stops all."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest

from wistia_pipeline.clients.http import AuthError
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
