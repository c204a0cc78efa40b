"""WistiaClient: paging, dedupe, errors and retries, against the sandbox and a fake transport."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest

from wistia_pipeline.clients import ApiError, AuthError, WistiaClient
from wistia_pipeline.clients.wistia import PROJECTS_PATH, is_higher_percent

from .conftest import FAST, WISTIA_TOKEN, make_events, mount

DAY = date(2026, 11, 25)


def client_for(sb, token: str = WISTIA_TOKEN, **kwargs) -> WistiaClient:
    return WistiaClient(sb.wistia_url, token, **{**FAST, **kwargs})


def collect(pages) -> list[dict]:
    return [event for page in pages for event in page]


# -- pure logic -------------------------------------------------------------------------------


@pytest.mark.parametrize("new, seen, expected", [
    (0.6, 0.5, True), (0.5, 0.5, False), (0.4, 0.5, False),
    (None, 0.5, False), ("n/a", 0.5, False), (float("nan"), 0.5, False), (True, 0.5, False),
    (0.1, None, True), ("0.7", 0.5, True), (None, None, False),
])
def test_is_higher_percent(new, seen, expected):
    assert is_higher_percent(new, seen) is expected


def test_dedupe_across_pages_without_network():
    """A page shifted by new views repeats events: only a higher percent comes through again."""
    page1 = make_events(DAY, 100)
    repeat_same = dict(page1[99])                                   # shifted: same copy
    repeat_higher = dict(page1[98], percent_viewed=0.9)             # live session grew
    repeat_lower = dict(page1[97], percent_viewed=0.1)
    repeat_missing = {k: v for k, v in page1[96].items() if k != "percent_viewed"}
    repeat_text = dict(page1[95], percent_viewed="lots")
    no_key = {"received_at": "2026-11-25T01:00:00Z", "percent_viewed": 0.3}
    int_key = {"event_key": 12345, "percent_viewed": 0.3}
    page2 = [repeat_same, repeat_higher, repeat_lower, repeat_missing, repeat_text, no_key,
             int_key, "not-an-object"] + make_events(DAY, 3, start=100)
    client = WistiaClient("https://wistia.example.test/v1/", WISTIA_TOKEN, **FAST)
    transport = mount(client, [(200, page1, {}), (200, page2, {})])

    pages = list(client.iter_event_pages(DAY))

    assert len(transport.requests) == 2  # page 2 is short (11 < 100): done
    assert len(pages) == 2 and pages[0] == page1
    assert pages[1] == [repeat_higher, no_key, int_key, "not-an-object"] + page2[-3:]
    for n, query in enumerate(transport.queries(), start=1):
        assert query == {"start_date": ["2026-11-25"], "end_date": ["2026-11-25"],
                         "page": [str(n)], "per_page": ["100"]}


def test_events_response_must_be_a_list():
    client = WistiaClient("https://wistia.example.test/v1", WISTIA_TOKEN, **FAST)
    mount(client, [(200, {"error": None, "data": []}, {})])
    with pytest.raises(ApiError) as info:
        list(client.iter_event_pages(DAY))
    assert "unexpected response shape" in str(info.value)
    assert str(info.value).startswith("Wistia GET /stats/events.json")


def test_repr_hides_the_token():
    client = WistiaClient("https://wistia.example.test/v1/", WISTIA_TOKEN)
    assert repr(client) == "WistiaClient(api_url='https://wistia.example.test/v1')"
    assert WISTIA_TOKEN not in repr(client) and WISTIA_TOKEN not in repr(client.session)


# -- against the sandbox ----------------------------------------------------------------------


@pytest.mark.parametrize("count, pages", [(0, 1), (100, 2), (101, 2), (250, 3)])
def test_event_pages_for_a_day(sb, count, pages):
    events = make_events(DAY, count)
    if events:
        sb.wistia.add_events(events)
    sb.wistia.add_events(make_events(date(2026, 11, 24), 5, prefix="other-day"))
    client = client_for(sb)

    got = collect(client.iter_event_pages(DAY))

    assert sorted(e["event_key"] for e in got) == sorted(e["event_key"] for e in events)
    assert sb.wistia.request_count() == pages
    queries = [r.query for r in sb.wistia.requests]
    assert [q["page"] for q in queries] == [[str(n)] for n in range(1, pages + 1)]
    for q in queries:
        assert q["per_page"] == ["100"]
        assert q["start_date"] == q["end_date"] == ["2026-11-25"]


def test_shifted_page_repeats_are_not_yielded_twice(sb):
    """A view arriving between page 1 and page 2 pushes page 1's last event onto page 2."""
    events = make_events(DAY, 150)
    sb.wistia.add_events(events)
    client = client_for(sb)
    pages = client.iter_event_pages(DAY)

    first = next(pages)
    assert len(first) == 100
    # A newer view of the same day arrives mid-scan: it lands on page 1, shifting the rest.
    newest = make_events(DAY, 1, prefix="late")[0]
    newest["received_at"] = "2026-11-25T23:59:59.000Z"
    sb.wistia.add_events([newest])
    rest = collect(pages)

    keys = [e["event_key"] for e in first + rest]
    assert len(keys) == len(set(keys)) == 150  # the repeat was skipped; the late view slipped
    assert set(keys) == {e["event_key"] for e in events}
    assert sb.wistia.request_count() == 2


def test_401_is_auth_error_without_the_token(sb):
    wrong = "wrong-token-abcdef123456"
    client = client_for(sb, token=wrong)
    with pytest.raises(AuthError) as info:
        client.verify()
    assert str(info.value) == "Wistia rejected the API token (401)"
    for text in (str(info.value), repr(info.value)):
        assert wrong not in text and WISTIA_TOKEN not in text
    assert sb.wistia.request_count() == 1


def test_verify_ok(sb):
    client_for(sb).verify()
    assert sb.wistia.request_count() == 1
    assert sb.wistia.requests[0].query.get("per_page") == ["1"]


def test_429_with_retry_after_zero_then_success(sb):
    sb.wistia.add_events(make_events(DAY, 3))
    sb.wistia.fail_next(429, headers={"Retry-After": "0"})
    slept = []
    client = client_for(sb)
    client.session.sleep = slept.append

    assert len(collect(client.iter_event_pages(DAY))) == 3
    assert slept == [0.0]
    assert [r.status for r in sb.wistia.requests] == [429, 200]


def test_503_then_success(sb):
    sb.wistia.add_events(make_events(DAY, 3))
    sb.wistia.fail_next(503)
    client = client_for(sb)
    assert len(collect(client.iter_event_pages(DAY))) == 3
    assert [r.status for r in sb.wistia.requests] == [503, 200]


def test_500_until_retries_run_out(sb):
    sb.wistia.add_events(make_events(DAY, 3))
    sb.wistia.fail_next(500, count=10)
    client = client_for(sb, max_attempts=4)
    with pytest.raises(ApiError) as info:
        list(client.iter_event_pages(DAY))
    assert info.value.status == 500
    assert str(info.value).startswith("Wistia returned 500 for GET /stats/events.json after 4 attempts")
    assert "?" not in str(info.value)
    assert sb.wistia.request_count() == 4


def test_medias_with_both_project_id_spellings(sb):
    medias = [
        {"id": 1, "hashed_id": "aaaa111111", "name": "Old", "type": "Video", "duration": 12.5,
         "project": {"id": 10, "name": "P1", "hashed_id": "proj1hash0"}},
        {"id": 2, "hashed_id": "bbbb222222", "name": "New", "type": "Video", "duration": 30.0,
         "project": {"id": 20, "name": "P2", "hashedId": "proj2hash0"}},
    ]
    sb.wistia.add_medias(medias)
    got = collect(client_for(sb).iter_medias())
    by_id = {m["hashed_id"]: m for m in got}
    assert set(by_id) == {"aaaa111111", "bbbb222222"}
    assert by_id["aaaa111111"]["project"]["hashed_id"] == "proj1hash0"
    assert by_id["bbbb222222"]["project"]["hashedId"] == "proj2hash0"
    # Both spellings are readable on every media.
    assert by_id["aaaa111111"]["project"]["hashedId"] == "proj1hash0"
    assert by_id["bbbb222222"]["project"]["hashed_id"] == "proj2hash0"
    assert sb.wistia.requests[0].query["per_page"] == ["100"]


def test_medias_and_projects_page_until_a_short_page(sb):
    sb.wistia.add_medias([{"id": i, "hashed_id": f"m{i:09d}", "name": f"Video {i}",
                           "project": {"id": 1, "name": "P", "hashedId": "p000000001"}}
                          for i in range(205)])
    sb.wistia.add_projects([{"id": i, "hashedId": f"p{i:09d}", "name": f"Project {i}",
                             "mediaCount": 0} for i in range(100)])
    client = client_for(sb)
    assert len(collect(client.iter_medias())) == 205
    # the pipeline reads no project list (probe reads one page): the paging itself, on projects
    assert len(collect(client._iter_pages(PROJECTS_PATH, what="the projects"))) == 100
    paths = [(r.path, r.query["page"][0]) for r in sb.wistia.requests]
    assert [p for _, p in paths] == ["1", "2", "3", "1", "2"]  # 100 projects: a full page, then empty
