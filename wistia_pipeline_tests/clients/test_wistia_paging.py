"""Paging that cannot run forever, and waits that end when the caller stops.

A server that ignores `page` (a caching proxy, a Wistia bug) answers the same full page for every
page number; only a short page ends a listing, so without a guard a day's fetch would never end and
spend the account's whole rate limit.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest

from wistia_pipeline.clients import ApiError, WistiaClient, WistiaResource
from wistia_pipeline.clients.errors import Cancelled
from wistia_pipeline.clients.http import ApiSession
from wistia_pipeline.sandbox.faults import Fault

from .conftest import FAST, WISTIA_TOKEN, make_events, mount

DAY = date(2026, 11, 25)


def fake_client(**kwargs) -> WistiaClient:
    return WistiaClient("https://wistia.example.test/v1", WISTIA_TOKEN, **{**FAST, **kwargs})


def test_the_same_full_page_forever_stops_after_two_pages():
    client = fake_client()
    transport = mount(client, [(200, make_events(DAY, 100), {})])  # the last entry repeats forever
    got = []
    started = time.monotonic()
    with pytest.raises(ApiError) as info:
        for page in client.iter_event_pages(DAY):
            got.append(page)
    assert time.monotonic() - started < 5
    assert len(transport.requests) == 2 and len(got) == 1  # the repeat is not passed on
    message = str(info.value)
    assert message.startswith("Wistia returned the same page twice for 2026-11-25 (page 2 repeats page 1): "
                              "the API or a proxy ignores `page`")
    assert "WISTIA_API_URL" in message and "\n" not in message and WISTIA_TOKEN not in message


def test_a_proxy_ignoring_page_in_front_of_the_sandbox_stops_the_day(sb):
    day_events = make_events(DAY, 100)
    sb.wistia.inject(Fault(status=200, body=json.dumps(day_events), path_prefix="/stats/events", count=1000))
    client = WistiaClient(sb.wistia_url, WISTIA_TOKEN, **FAST)
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"^Wistia returned the same page twice for 2026-11-25 \(page 2 repeats page 1\)"):
        list(client.iter_event_pages(DAY))
    assert time.monotonic() - started < 5
    assert sb.wistia.request_count("/stats/events") == 2


def test_medias_and_projects_are_guarded_too():
    client = fake_client()
    mount(client, [(200, [{"id": n, "hashed_id": f"h{n}"} for n in range(100)], {})])
    with pytest.raises(ApiError, match=r"^Wistia returned the same page twice for the medias \(page 2"):
        list(client.iter_medias())


def distinct_full_pages(request):
    """A server with a new full page for every page number, forever."""
    page = int(parse_qs(urlsplit(request.url).query)["page"][0])
    return 200, make_events(DAY, 100, start=100 * (page - 1)), {}


def test_the_page_ceiling_stops_a_day_that_never_ends():
    client = fake_client(max_pages=3)
    transport = mount(client, distinct_full_pages)
    got = []
    with pytest.raises(ApiError) as info:
        for page in client.iter_event_pages(DAY):
            got.append(page)
    assert len(transport.requests) == 3 and len(got) == 3
    message = str(info.value)
    assert message.startswith("Wistia still returned full pages for 2026-11-25 at page 3 (WISTIA_MAX_PAGES=3, 300 items)")
    assert "raise WISTIA_MAX_PAGES" in message and "\n" not in message


def test_a_day_within_the_ceiling_is_read_whole():
    events = make_events(DAY, 250)
    client = fake_client(max_pages=3)

    def server(request):
        page = int(parse_qs(urlsplit(request.url).query)["page"][0])
        return 200, events[100 * (page - 1): 100 * page], {}

    mount(client, server)
    assert sum(len(page) for page in client.iter_event_pages(DAY)) == 250


def test_the_resource_passes_max_pages_to_its_client():
    assert WistiaResource(api_token=WISTIA_TOKEN).get_client().max_pages == 20000
    assert WistiaResource(api_token=WISTIA_TOKEN, max_pages=7).get_client().max_pages == 7


# -- waits that wake on cancellation ---------------------------------------------------------------


def session(**kwargs) -> ApiSession:
    return ApiSession("Wistia", "https://wistia.example.test/v1", {"Authorization": f"Bearer {WISTIA_TOKEN}"},
                      (1000, 1.0), **kwargs)


def test_a_retry_backoff_ends_at_once_when_cancelled():
    cancel = threading.Event()
    api = session(cancel=cancel)
    transport = mount(api, [(503, "busy", {"Retry-After": "30"})])
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled) as info:
        api.request("GET", "/stats/events.json")
    assert time.monotonic() - started < 10  # not the 30 s Retry-After
    assert len(transport.requests) == 1  # no attempt after the cancel
    assert str(info.value) == "Wistia request cancelled" and isinstance(info.value, ApiError)


def test_a_rate_limit_wait_ends_at_once_when_cancelled():
    cancel = threading.Event()
    api = ApiSession("Wistia", "https://wistia.example.test/v1", {}, (1, 60.0), cancel=cancel)
    transport = mount(api, [(200, [], {})])
    api.request("GET", "/projects.json")  # takes the only slot of the minute
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        api.request("GET", "/projects.json")
    assert time.monotonic() - started < 10 and len(transport.requests) == 1


def test_cancelled_by_stops_only_the_calling_thread():
    api = session()
    mount(api, [(200, [], {})])
    stop = threading.Event()
    stop.set()
    with api.cancelled_by(stop):
        with pytest.raises(Cancelled):
            api.request("GET", "/projects.json")
        other: list = []
        thread = threading.Thread(target=lambda: other.append(api.request("GET", "/projects.json").status_code))
        thread.start()
        thread.join(10)
        assert other == [200]  # another thread sharing the session goes on
    assert api.request("GET", "/projects.json").status_code == 200  # and so does this one, after the block


def test_wistia_max_pages_reaches_the_resource_through_the_settings_parser(monkeypatch):
    from wistia_pipeline.definitions import build_resources

    monkeypatch.setenv("WISTIA_MAX_PAGES", " 7 ")
    assert build_resources()["wistia"].max_pages == 7
    monkeypatch.setenv("WISTIA_MAX_PAGES", "0")  # bad: the default here, the run stops on the setting's error
    assert build_resources()["wistia"].max_pages == 20000
