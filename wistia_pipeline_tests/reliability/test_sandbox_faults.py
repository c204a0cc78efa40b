"""The sandbox's fault injection itself: each mode does what it says, in this process or another."""

from __future__ import annotations

import time
from datetime import date

import pytest
import requests

from wistia_pipeline.sandbox import Fault, Sandbox, inject_remote
from wistia_pipeline_tests.factories import event
from wistia_pipeline_tests.sandbox.helpers import upsales_get, wistia_get

DAY = date(2026, 3, 10)
ACCOUNT = {"id": 7, "name": "Acme AB"}
ENTRY = {"entityType": "MarketingCustom", "subType": "Video view", "client": 7, "externalId": "x-1"}


@pytest.fixture
def sb():
    with Sandbox() as sandbox:
        sandbox.upsales.add_accounts([ACCOUNT])
        yield sandbox


def post_entry(sb: Sandbox, timeout: float = 5) -> requests.Response:
    return requests.post(sb.upsales_url + "/v2/events", json=ENTRY, cookies={"token": sb.upsales.token},
                         timeout=timeout)


def test_fail_next_keeps_its_signature_and_returns_the_fault(sb):
    fault = sb.wistia.fail_next(503, 2, {"Retry-After": "1"}, None, "/stats")
    assert (fault.status, fault.count, fault.headers, fault.mode) == (503, 2, {"Retry-After": "1"}, "respond")
    answer = wistia_get(sb, "/stats/events.json", start_date=str(DAY), end_date=str(DAY))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert sb.wistia.faults == [fault] and fault.remaining == 1
    assert wistia_get(sb, "/medias.json").status_code == 200  # another path: untouched


def test_drop_after_write_stores_the_entry_and_loses_the_answer(sb):
    sb.upsales.inject(Fault(mode="drop_after_write", path_prefix="/v2/events", method="POST"))
    with pytest.raises(requests.ConnectionError):
        post_entry(sb)
    assert [e["externalId"] for e in sb.upsales.events] == ["x-1"]
    assert sb.upsales.requests[-1].status == 0  # recorded as answered with nothing
    assert post_entry(sb).status_code == 200 and len(sb.upsales.events) == 2  # once only


def test_drop_loses_the_request_before_anything_is_stored(sb):
    sb.upsales.fail_next(mode="drop", path_prefix="/v2/events", method="POST")
    with pytest.raises(requests.ConnectionError):
        post_entry(sb)
    assert sb.upsales.events == []


def test_a_delay_beyond_the_read_timeout_is_a_timeout_after_the_write(sb):
    sb.upsales.fail_next(mode="delay", delay=0.6, path_prefix="/v2/events", method="POST")
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        post_entry(sb, timeout=0.2)
    assert time.monotonic() - started < 0.5
    assert len(sb.upsales.events) == 1
    # A slow failure that stores nothing: `respond` with a delay.
    sb.upsales.fail_next(500, delay=0.6, path_prefix="/v2/events")
    with pytest.raises(requests.Timeout):
        post_entry(sb, timeout=0.2)
    assert len(sb.upsales.events) == 1


def test_a_delayed_answer_does_not_hold_up_other_requests(sb):
    sb.wistia.fail_next(mode="delay", delay=1.0, path_prefix="/projects.json")
    import threading

    slow = threading.Thread(target=lambda: wistia_get(sb, "/projects.json"))
    slow.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert wistia_get(sb, "/medias.json").status_code == 200
    assert time.monotonic() - started < 0.5
    slow.join()


def test_truncate_cuts_the_answer_off_halfway_through_the_body(sb):
    sb.wistia.add_events([event(DAY, key="a"), event(DAY, key="b")])
    sb.wistia.fail_next(mode="truncate", path_prefix="/stats/events.json")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        wistia_get(sb, "/stats/events.json", start_date=str(DAY), end_date=str(DAY))
    sb.upsales.fail_next(mode="truncate", path_prefix="/v2/events", method="POST")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        post_entry(sb)
    assert len(sb.upsales.events) == 1  # stored all the same


def test_invalid_json_in_a_complete_answer(sb):
    sb.wistia.fail_next(200, body='[{"event_key": "cut', path_prefix="/stats/events.json")
    answer = wistia_get(sb, "/stats/events.json", start_date=str(DAY), end_date=str(DAY))
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()


def test_a_200_whose_envelope_carries_an_error(sb):
    body = '{"error": {"key": "ServerError", "code": 500, "msg": "Try again"}, "data": null}'
    sb.upsales.fail_next(200, body=body, path_prefix="/v2/contacts")
    answer = upsales_get(sb, "/v2/contacts")
    assert answer.status_code == 200 and answer.json()["error"]["code"] == 500


def test_skip_method_and_on_fire_pick_the_exact_request(sb):
    fired = []
    sb.upsales.inject(Fault(mode="drop_after_write", method="POST", skip=2, on_fire=lambda: fired.append(
        len(sb.upsales.events))))
    assert upsales_get(sb, "/v2/self").status_code == 200  # a GET never counts
    assert post_entry(sb).status_code == 200 and post_entry(sb).status_code == 200
    with pytest.raises(requests.ConnectionError):
        post_entry(sb)
    assert fired == [3]  # called after the third entry was stored
    assert post_entry(sb).status_code == 200 and sb.upsales.faults == []


def test_faults_over_the_admin_route_for_a_sandbox_in_another_process(sb):
    inject_remote(sb.upsales_url, Fault(429, headers={"X-RateLimit-Reset": "1"}, path_prefix="/v2/self"),
                  Fault(mode="drop_after_write", path_prefix="/v2/events", method="POST"))
    listed = requests.get(sb.upsales.root_url + "/_sandbox/faults", timeout=5).json()["faults"]
    assert [f["mode"] for f in listed] == ["respond", "drop_after_write"]
    answer = upsales_get(sb, "/v2/self")
    assert answer.status_code == 429 and answer.headers["X-RateLimit-Reset"] == "1"
    with pytest.raises(requests.ConnectionError):
        post_entry(sb)
    assert len(sb.upsales.events) == 1
    bad = requests.post(sb.wistia.root_url + "/_sandbox/faults", json={"mode": "explode"}, timeout=5)
    assert bad.status_code == 400 and "mode must be one of" in bad.json()["error"]
    requests.post(sb.wistia.root_url + "/_sandbox/faults", json={"status": 500, "count": 3}, timeout=5)
    assert requests.delete(sb.wistia.root_url + "/_sandbox/faults", timeout=5).status_code == 200
    assert sb.wistia.faults == []


def test_views_visible_only_after_a_delay(sb):
    sb.wistia.add_events([event(DAY, key="now")])
    sb.wistia.add_events([event(DAY, key="soon")], visible_after=0.3)
    sb.wistia.add_events([event(DAY, key="later")], visible_after=60)

    def keys():
        return {e["event_key"] for e in wistia_get(sb, "/stats/events.json", start_date=str(DAY),
                                                   end_date=str(DAY), per_page=100).json()}

    assert keys() == {"now"}
    assert requests.get(sb.wistia.root_url + "/_sandbox/state", timeout=5).json()["hidden"] == 2
    time.sleep(0.35)
    assert keys() == {"now", "soon"}
    assert sb.wistia.release_hidden() == 1 and keys() == {"now", "soon", "later"}


def test_a_view_arriving_mid_scan_shifts_the_next_page(sb):
    sb.wistia.add_events([event(DAY, key=f"old{n:03d}", seconds=1000 + n) for n in range(150)])
    sb.wistia.arrive_mid_scan([event(DAY, key="new", seconds=80000)], after_pages=1)

    def page(n):
        return [e["event_key"] for e in wistia_get(sb, "/stats/events.json", start_date=str(DAY), end_date=str(DAY),
                                                   per_page=100, page=n).json()]

    first, second = page(1), page(2)
    assert "new" not in first and len(first) == 100
    assert second[0] == first[-1]  # the last event of page 1, again
    assert len(second) == 51 and "new" not in second  # the new view slipped past this scan
    assert page(1)[0] == "new"


def test_the_servers_listen_on_loopback_only(sb):
    for emulator in (sb.wistia, sb.upsales):
        assert emulator._server.server_address[0] == "127.0.0.1"
