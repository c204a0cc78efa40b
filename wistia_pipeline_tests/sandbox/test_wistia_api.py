"""The Wistia emulator behaves as docs/api/wistia.md describes."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
import requests

from wistia_pipeline.sandbox import Sandbox

from .helpers import WISTIA_TOKEN, wistia_get

DAY = date(2026, 3, 10)


def make_event(when: datetime, key: str | None = None, millis: bool = True, **extra) -> dict:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + (".000Z" if millis else "Z")
    return {
        "received_at": stamp,
        "event_key": key or f"{int(when.timestamp())}_{uuid.uuid4()}",
        "visitor_key": "v1",
        "email": None,
        "percent_viewed": 0.5,
        "conversion_type": "",
        "conversion_data": {},
        "media_id": "abc123defg",
        **extra,
    }


def events_on(day: date, count: int) -> list[dict]:
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return [make_event(start + timedelta(seconds=10 + i * 7)) for i in range(count)]


def page_sizes(sb: Sandbox, day: date, per_page: int = 100) -> list[int]:
    sizes, page = [], 1
    while True:
        response = wistia_get(sb, "/stats/events.json", start_date=day.isoformat(), end_date=day.isoformat(),
                              page=page, per_page=per_page)
        assert response.status_code == 200
        sizes.append(len(response.json()))
        if sizes[-1] < per_page:
            return sizes
        page += 1


# -- auth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["wrong-token", None])
def test_bad_or_missing_token_is_401(sb: Sandbox, token: str | None) -> None:
    response = wistia_get(sb, "/stats/events.json", token=token, start_date="2026-03-10", end_date="2026-03-10")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid credentials.", "code": "unauthorized_credentials"}


def test_only_bearer_is_accepted(sb: Sandbox) -> None:
    basic = requests.get(sb.wistia_url + "/medias.json", auth=("api", WISTIA_TOKEN), timeout=5)
    legacy = requests.get(sb.wistia_url + "/medias.json", params={"api_password": WISTIA_TOKEN}, timeout=5)
    assert basic.status_code == legacy.status_code == 401
    assert wistia_get(sb, "/medias.json").status_code == 200


# -- events ----------------------------------------------------------------------------------------


def test_events_paging_short_last_page(sb: Sandbox) -> None:
    counts = {DAY: 0, DAY + timedelta(days=1): 100, DAY + timedelta(days=2): 101, DAY + timedelta(days=3): 250}
    for day, count in counts.items():
        sb.wistia.add_events(events_on(day, count))
    assert page_sizes(sb, DAY) == [0]
    assert page_sizes(sb, DAY + timedelta(days=1)) == [100, 0]
    assert page_sizes(sb, DAY + timedelta(days=2)) == [100, 1]
    assert page_sizes(sb, DAY + timedelta(days=3)) == [100, 100, 50]
    assert page_sizes(sb, DAY + timedelta(days=3), per_page=30) == [30] * 8 + [10]


def test_per_page_is_capped_at_100(sb: Sandbox) -> None:
    sb.wistia.add_events(events_on(DAY, 250))
    for per_page in (200, 500):
        response = wistia_get(sb, "/stats/events.json", start_date=DAY.isoformat(), end_date=DAY.isoformat(),
                              per_page=per_page)
        assert len(response.json()) == 100
    default = wistia_get(sb, "/stats/events.json", start_date=DAY.isoformat(), end_date=DAY.isoformat())
    assert len(default.json()) == 100


def test_pages_cover_every_event_once(sb: Sandbox) -> None:
    events = events_on(DAY, 250)
    sb.wistia.add_events(events)
    seen = []
    for page in (1, 2, 3):
        response = wistia_get(sb, "/stats/events.json", start_date=DAY.isoformat(), end_date=DAY.isoformat(),
                              page=page, per_page=100)
        seen.extend(e["event_key"] for e in response.json())
    assert sorted(seen) == sorted(e["event_key"] for e in events)


def test_day_filter_is_inclusive_utc_days(sb: Sandbox) -> None:
    midnight = datetime(2026, 3, 10, tzinfo=timezone.utc)
    sb.wistia.add_events(
        [
            make_event(midnight - timedelta(seconds=1), key="before"),
            make_event(midnight, key="first", millis=False),
            make_event(midnight + timedelta(hours=23, minutes=59, seconds=59), key="last"),
            make_event(midnight + timedelta(days=1), key="next-day"),
        ]
    )
    one_day = wistia_get(sb, "/stats/events.json", start_date="2026-03-10", end_date="2026-03-10")
    assert [e["event_key"] for e in one_day.json()] == ["last", "first"]
    two_days = wistia_get(sb, "/stats/events.json", start_date="2026-03-10", end_date="2026-03-11")
    assert {e["event_key"] for e in two_days.json()} == {"first", "last", "next-day"}
    # Served verbatim: the no-milliseconds form stays as it was added.
    assert one_day.json()[1]["received_at"] == "2026-03-10T00:00:00Z"


def test_events_newest_first_ties_by_event_key_desc(sb: Sandbox) -> None:
    base = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)
    sb.wistia.add_events(
        [
            make_event(base, key="b"),
            make_event(base + timedelta(minutes=5), key="newest"),
            make_event(base, key="c"),
            make_event(base - timedelta(hours=1), key="oldest"),
            make_event(base, key="a"),
        ]
    )
    response = wistia_get(sb, "/stats/events.json", start_date="2026-03-10", end_date="2026-03-10")
    assert [e["event_key"] for e in response.json()] == ["newest", "c", "b", "a", "oldest"]


@pytest.mark.parametrize(
    "params",
    [{"end_date": "2026-03-10"}, {"start_date": "2026-03-10"}, {"start_date": "10/03/2026", "end_date": "2026-03-10"},
     {"start_date": "2026-02-30", "end_date": "2026-03-10"}],
)
def test_missing_or_bad_dates_are_400(sb: Sandbox, params: dict) -> None:
    response = wistia_get(sb, "/stats/events.json", **params)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def test_media_and_visitor_filters(sb: Sandbox) -> None:
    when = datetime(2026, 3, 10, 9, tzinfo=timezone.utc)
    sb.wistia.add_events(
        [
            make_event(when, key="k1", media_id="m1", visitor_key="v1"),
            make_event(when, key="k2", media_id="m2", visitor_key="v1"),
            make_event(when, key="k3", media_id="m1", visitor_key="v2"),
        ]
    )
    by_media = wistia_get(sb, "/stats/events.json", start_date="2026-03-10", end_date="2026-03-10", media_id="m1")
    assert {e["event_key"] for e in by_media.json()} == {"k1", "k3"}
    by_visitor = wistia_get(sb, "/stats/events.json", start_date="2026-03-10", end_date="2026-03-10", visitor_key="v1")
    assert {e["event_key"] for e in by_visitor.json()} == {"k1", "k2"}


def test_hidden_events_appear_after_release(sb: Sandbox) -> None:
    sb.wistia.add_events(events_on(DAY, 3))
    sb.wistia.add_events(events_on(DAY, 2), hidden=True)
    params = {"start_date": DAY.isoformat(), "end_date": DAY.isoformat()}
    assert len(wistia_get(sb, "/stats/events.json", **params).json()) == 3
    assert sb.wistia.release_hidden() == 2
    assert len(wistia_get(sb, "/stats/events.json", **params).json()) == 5
    assert sb.wistia.release_hidden() == 0


def test_admin_release_and_state(sb: Sandbox) -> None:
    sb.wistia.add_events(events_on(DAY, 2), hidden=True)
    wistia_get(sb, "/stats/events.json", start_date=DAY.isoformat(), end_date=DAY.isoformat())
    released = requests.post(sb.wistia.root_url + "/_sandbox/release", timeout=5)
    assert released.json() == {"released": 2}
    state = requests.get(sb.wistia.root_url + "/_sandbox/state", timeout=5).json()
    assert state["requests"] == {"/v1/stats/events.json": 1}
    assert state["events"] == 2 and state["hidden"] == 0
    assert sb.wistia.request_count() == 1  # admin calls are not recorded


def test_added_events_are_copied(sb: Sandbox) -> None:
    event = make_event(datetime(2026, 3, 10, 9, tzinfo=timezone.utc), key="k")
    sb.wistia.add_events([event])
    event["percent_viewed"] = 0.99
    served = wistia_get(sb, "/stats/events.json", start_date="2026-03-10", end_date="2026-03-10").json()
    assert served[0]["percent_viewed"] == 0.5


# -- medias and projects ---------------------------------------------------------------------------


def add_catalogue(sb: Sandbox) -> None:
    sb.wistia.add_projects(
        [
            {"id": 1, "hashedId": "proj1hash0", "name": "Product tours"},
            {"id": 2, "hashedId": "proj2hash0", "name": "Webinars"},
        ]
    )
    medias = []
    for i in range(25):
        project = {"id": 1, "name": "Product tours", "hashed_id": "proj1hash0"} if i < 15 else {
            "id": 2, "name": "Webinars", "hashedId": "proj2hash0"}
        medias.append({"id": 100 + i, "hashed_id": f"media{i:05d}", "name": f"Video {i:02d}", "project": project})
    sb.wistia.add_medias(medias)


def test_medias_default_page_is_10(sb: Sandbox) -> None:
    add_catalogue(sb)
    assert [len(wistia_get(sb, "/medias.json", page=p).json()) for p in (1, 2, 3, 4)] == [10, 10, 5, 0]
    everything = wistia_get(sb, "/medias.json", per_page=100).json()
    assert len(everything) == 25
    assert len(wistia_get(sb, "/medias.json", per_page=1000).json()) == 25
    media = everything[0]
    assert {"id", "hashed_id", "name", "type", "status", "duration", "created", "updated", "archived", "thumbnail",
            "project"} <= set(media)


def test_medias_project_filter_accepts_both_project_key_spellings(sb: Sandbox) -> None:
    add_catalogue(sb)
    tours = wistia_get(sb, "/medias.json", project_id="proj1hash0", per_page=100).json()
    webinars = wistia_get(sb, "/medias.json", project_id="proj2hash0", per_page=100).json()
    assert len(tours) == 15 and all(m["project"]["hashed_id"] == "proj1hash0" for m in tours)
    assert len(webinars) == 10 and all(m["project"]["hashedId"] == "proj2hash0" for m in webinars)


def test_medias_sort(sb: Sandbox) -> None:
    add_catalogue(sb)
    descending = wistia_get(sb, "/medias.json", per_page=100, sort_by="name", sort_direction=0).json()
    assert [m["name"] for m in descending][:2] == ["Video 24", "Video 23"]
    by_id = wistia_get(sb, "/medias.json", per_page=100, sort_by="id", sort_direction=1).json()
    assert [m["id"] for m in by_id] == sorted(m["id"] for m in by_id)


def test_projects_camel_case_and_paged(sb: Sandbox) -> None:
    add_catalogue(sb)
    projects = wistia_get(sb, "/projects.json", per_page=100).json()
    assert [p["hashedId"] for p in projects] == ["proj1hash0", "proj2hash0"]
    assert [p["mediaCount"] for p in projects] == [15, 10]
    assert {"id", "hashedId", "name", "description", "mediaCount", "created", "updated", "public", "publicId"} <= set(
        projects[0]
    )
    sb.wistia.add_projects([{"id": 10 + i, "name": f"P{i}"} for i in range(12)])
    assert [len(wistia_get(sb, "/projects.json", page=p).json()) for p in (1, 2)] == [10, 4]


# -- limits, faults, bookkeeping -------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(sb: Sandbox) -> None:
    sb.wistia.rate_limit = (3, 30.0)
    statuses = [wistia_get(sb, "/medias.json").status_code for _ in range(3)]
    over = wistia_get(sb, "/medias.json")
    assert statuses == [200, 200, 200]
    assert over.status_code == 429
    assert over.text == "Rate limit exceeded"
    assert int(over.headers["Retry-After"]) in range(1, 31)
    assert "X-RateLimit-Limit" not in over.headers  # Wistia sends no budget headers
    assert sb.wistia.request_count("/medias.json") == 4
    assert [r.status for r in sb.wistia.requests] == [200, 200, 200, 429]


def test_rate_limit_window_slides(sb: Sandbox) -> None:
    sb.wistia.rate_limit = (2, 0.2)
    assert [wistia_get(sb, "/medias.json").status_code for _ in range(3)] == [200, 200, 429]
    import time

    time.sleep(0.25)
    assert wistia_get(sb, "/medias.json").status_code == 200


def test_fail_next_queues_faults_after_auth(sb: Sandbox) -> None:
    sb.wistia.fail_next(503, count=2, headers={"Retry-After": "0"}, path_prefix="/stats/events.json")
    params = {"start_date": "2026-03-10", "end_date": "2026-03-10"}
    assert wistia_get(sb, "/medias.json").status_code == 200  # other path: untouched
    assert wistia_get(sb, "/stats/events.json", token="bad", **params).status_code == 401  # auth first
    first = wistia_get(sb, "/stats/events.json", **params)
    assert (first.status_code, first.headers["Retry-After"]) == (503, "0")
    assert wistia_get(sb, "/stats/events.json", **params).status_code == 503
    assert wistia_get(sb, "/stats/events.json", **params).status_code == 200
    assert [r.status for r in sb.wistia.requests] == [200, 401, 503, 503, 200]


def test_fail_next_custom_body_and_any_path(sb: Sandbox) -> None:
    sb.wistia.fail_next(500, body='{"error": "boom"}')
    sb.wistia.fail_next(502, body="<html>Bad gateway</html>")
    first, second = wistia_get(sb, "/projects.json"), wistia_get(sb, "/medias.json")
    assert (first.status_code, first.json()) == (500, {"error": "boom"})
    assert second.status_code == 502 and second.headers["Content-Type"].startswith("text/html")
    assert wistia_get(sb, "/medias.json").status_code == 200


def test_request_records_and_counts(sb: Sandbox) -> None:
    wistia_get(sb, "/medias.json", per_page=100, page=2)
    wistia_get(sb, "/projects.json")
    record = sb.wistia.requests[0]
    assert (record.method, record.path, record.status) == ("GET", "/v1/medias.json", 200)
    assert record.query == {"per_page": ["100"], "page": ["2"]}
    assert sb.wistia.request_count() == 2
    assert sb.wistia.request_count("/v1/medias") == sb.wistia.request_count("/medias") == 1
    assert sb.wistia.request_count(method="POST") == 0


def test_unknown_route_is_404(sb: Sandbox) -> None:
    assert wistia_get(sb, "/nothing.json").status_code == 404
    assert requests.get(sb.wistia.root_url + "/", headers={"Authorization": f"Bearer {WISTIA_TOKEN}"},
                        timeout=5).status_code == 404


def test_stop_closes_keep_alive_connections() -> None:
    sandbox = Sandbox().start()
    with requests.Session() as session:
        headers = {"Authorization": f"Bearer {WISTIA_TOKEN}"}
        assert session.get(sandbox.wistia_url + "/medias.json", headers=headers, timeout=5).status_code == 200
        sandbox.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(sandbox.wistia_url + "/medias.json", headers=headers, timeout=2)
    sandbox.stop()  # idempotent
