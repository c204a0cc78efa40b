"""UpsalesClient: batched lookups, events, envelope errors and retries."""

from __future__ import annotations

import json
import uuid

import pytest

from wistia_pipeline.clients import ApiError, AuthError, UpsalesClient
from wistia_pipeline.clients.upsales import normalize_emails

from .conftest import CUSTOMER_ID, FAST, UPSALES_TOKEN, mount


def client_for(sb, token: str = UPSALES_TOKEN, **kwargs) -> UpsalesClient:
    return UpsalesClient(sb.upsales_url, token, **{**FAST, **kwargs})


def contact(cid: int, email: str, account: int, *, active: int = 1, name: str | None = None,
            mod: str = "2025-05-14T14:35:34.000Z") -> dict:
    first = email.split("@")[0].split(".")[0].title() if "@" in email else "Anon"
    return {"id": cid, "name": name or f"{first} Person", "firstName": first, "lastName": "Person",
            "email": email, "active": active, "client": {"id": account, "name": f"Account {account}"},
            "score": 0, "modDate": mod, "regDate": None}


ACCOUNTS = [
    {"id": 7, "name": "Acme AB", "webpage": "www.acme.se", "active": 1, "isExternal": 0},
    {"id": 8, "name": "Other AB", "webpage": "other.se", "active": 1, "isExternal": 0},
]


def collect(pages) -> list[dict]:
    return [c for page in pages for c in page]


# -- pure logic / no network ------------------------------------------------------------------


def test_normalize_emails():
    assert normalize_emails([" Anna.Berg@Acme.SE ", "anna.berg@acme.se", "", "  ", "b@x.se",
                             None, "B@X.SE"]) == ["anna.berg@acme.se", "b@x.se"]


def test_cookie_header_only_and_repr():
    client = UpsalesClient("https://upsales.example.test/api/", UPSALES_TOKEN, **FAST)
    transport = mount(client, [(200, {"error": None, "data": {"id": 13, "clients": []}}, {})])
    client.get_self()
    sent = transport.requests[0]
    assert sent.url == "https://upsales.example.test/api/v2/self"
    assert sent.headers["Cookie"] == f"token={UPSALES_TOKEN}"
    assert "Authorization" not in sent.headers
    assert repr(client) == "UpsalesClient(api_url='https://upsales.example.test/api')"
    assert UPSALES_TOKEN not in repr(client) + repr(client.session)


def test_contacts_paging_uses_metadata_total_or_full_pages():
    client = UpsalesClient("https://upsales.example.test/api", UPSALES_TOKEN, **FAST)

    def answer(request):
        offset = int(request.url.split("offset=")[1].split("&")[0])
        rows = [{"id": i, "email": f"x{i}@acme.se"} for i in range(offset, min(offset + 1000, 2500))]
        return 200, {"error": None, "metadata": {"total": 2500, "limit": 1000, "offset": offset},
                     "data": rows}, {}

    transport = mount(client, answer)
    pages = list(client.iter_contacts_by_domain("ACME.se"))
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert [q["offset"] for q in transport.queries()] == [["0"], ["1000"], ["2000"]]
    assert transport.queries()[0]["email"] == ["src:@acme.se"]

    # Without metadata.total: continue while the page is full.
    client = UpsalesClient("https://upsales.example.test/api", UPSALES_TOKEN, **FAST)
    transport = mount(client, [(200, {"error": None, "data": [{"id": i} for i in range(1000)]}, {}),
                               (200, {"error": None, "data": []}, {})])
    assert [len(p) for p in client.iter_contacts_by_domain("acme.se")] == [1000]
    assert len(transport.requests) == 2


def test_customer_id_override_and_missing():
    client = UpsalesClient("https://upsales.example.test/api", UPSALES_TOKEN, customer_id="4321")
    transport = mount(client, [(500, "", {})])
    assert client.customer_id() == 4321
    assert transport.requests == []

    client = UpsalesClient("https://upsales.example.test/api", UPSALES_TOKEN, **FAST)
    mount(client, [(200, {"error": None, "data": {"id": 13, "clients": []}}, {})])
    with pytest.raises(ApiError) as info:
        client.customer_id()
    assert "clients[0].clientId" in str(info.value) and "UPSALES_CUSTOMER_ID" in str(info.value)


# -- against the sandbox ----------------------------------------------------------------------


def test_batch_of_250_emails_is_three_requests(sb):
    sb.upsales.add_accounts(ACCOUNTS)
    emails = [f"person{i:03d}@acme.se" for i in range(250)]
    sb.upsales.add_contacts([contact(i + 1, e, 7) for i, e in enumerate(emails[::10])])  # 25 known

    found = collect(client_for(sb).iter_contacts_by_emails(emails))

    assert sorted(c["email"] for c in found) == sorted(emails[::10])
    assert sb.upsales.request_count() == 3
    batches = [json.loads(r.query["q"][0]) for r in sb.upsales.requests]
    assert [len(b["v"]) for b in batches] == [100, 100, 50]
    assert all(b["a"] == "email" and b["c"] == "eq" for b in batches)
    for r in sb.upsales.requests:
        assert r.path.endswith("/v2/contacts")
        assert r.query["active"] == ["eq:1"] and r.query["limit"] == ["1000"]
        assert r.query["offset"] == ["0"]
        assert "token" not in r.query


def test_mixed_case_and_duplicate_emails(sb):
    sb.upsales.add_accounts(ACCOUNTS)
    sb.upsales.add_contacts([
        contact(1, "anna.berg@acme.se", 7),
        contact(2, "anna.berg@acme.se", 8),                  # same email at another account
        contact(3, "erik.lund@acme.se", 7, active=0),        # inactive: never matched
        contact(4, "", 7),                                   # empty email matches nothing
    ])
    found = collect(client_for(sb).iter_contacts_by_emails(
        ["Anna.Berg@ACME.se", " anna.berg@acme.se ", "ERIK.LUND@acme.se", ""]))
    assert sorted(c["id"] for c in found) == [1, 2]
    assert sb.upsales.request_count() == 1
    assert json.loads(sb.upsales.requests[0].query["q"][0])["v"] == [
        "anna.berg@acme.se", "erik.lund@acme.se"]


def test_no_emails_no_requests(sb):
    assert collect(client_for(sb).iter_contacts_by_emails(["", "  "])) == []
    assert sb.upsales.request_count() == 0


def test_domain_lookup(sb):
    sb.upsales.add_accounts(ACCOUNTS)
    sb.upsales.add_contacts([
        contact(1, "anna.berg@acme.se", 7),
        contact(2, "Lars.Svensson@Acme.se", 7),
        contact(3, "old.timer@acme.se", 7, active=0),
        contact(4, "someone@other.se", 8),
    ])
    found = collect(client_for(sb).iter_contacts_by_domain("acme.se"))
    assert sorted(c["id"] for c in found) == [1, 2]
    query = sb.upsales.requests[0].query
    assert query["email"] == ["src:@acme.se"] and query["active"] == ["eq:1"]


def test_create_event_then_find_by_external_id(sb):
    sb.upsales.add_accounts(ACCOUNTS)
    sb.upsales.add_contacts([contact(1, "anna.berg@acme.se", 7)])
    external_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "wistia:1764079391_6b1f2c9e"))
    payload = {"entityType": "MarketingCustom", "subType": "Video view", "client": 7,
               "contact": 1, "score": 10, "date": "2026-11-25 14:03:11",
               "externalId": external_id, "value": "Anna Person watched Product tour (83%)"}
    client = client_for(sb)

    created = client.create_event(payload)

    assert isinstance(created.get("id"), int)
    assert len(sb.upsales.events) == 1 and sb.upsales.events[0]["id"] == created["id"]
    found = client.find_events_by_external_id(external_id)
    assert [e["id"] for e in found] == [created["id"]]
    assert client.find_events_by_external_id(str(uuid.uuid4())) == []
    post = sb.upsales.requests[0]
    assert post.method == "POST" and post.path.endswith("/v2/events")


def test_get_self_and_customer_id(sb):
    client = client_for(sb)
    client.verify()
    assert client.customer_id() == CUSTOMER_ID
    assert all(r.path.endswith("/v2/self") for r in sb.upsales.requests)


def test_429_with_rate_limit_reset_then_success(sb):
    sb.upsales.add_accounts(ACCOUNTS)
    sb.upsales.add_contacts([contact(1, "anna.berg@acme.se", 7)])
    sb.upsales.fail_next(429, headers={"X-RateLimit-Reset": "2", "X-RateLimit-Limit": "200",
                                       "X-RateLimit-Remaining": "0"})
    slept = []
    client = client_for(sb, backoff_max=60)
    client.session.sleep = slept.append

    found = collect(client.iter_contacts_by_emails(["anna.berg@acme.se"]))

    assert [c["id"] for c in found] == [1]
    assert slept == [2.0]  # the reset, not the backoff
    assert [r.status for r in sb.upsales.requests] == [429, 200]


def test_200_with_error_envelope_is_a_failure(sb):
    body = json.dumps({"error": {"key": "FailedValidation", "code": 400, "errorCode": 26,
                                 "msg": "No such attribute: id"}, "metadata": None})
    sb.upsales.fail_next(200, body=body)
    client = client_for(sb)
    with pytest.raises(ApiError) as info:
        client.create_event({"entityType": "MarketingCustom", "subType": "Video view", "client": 7})
    assert not isinstance(info.value, AuthError)
    assert info.value.status == 400
    assert "No such attribute: id" in str(info.value)
    assert str(info.value).startswith("Upsales reported an error for POST /v2/events")
    assert sb.upsales.request_count() == 1  # not retried


def test_200_with_embedded_429_is_retried(sb):
    body = json.dumps({"error": {"key": "RateLimit", "code": 429, "msg": "Too many requests"},
                       "metadata": None})
    sb.upsales.fail_next(200, body=body)
    client = client_for(sb)
    assert client.get_self()["clients"][0]["clientId"] == CUSTOMER_ID
    assert sb.upsales.request_count() == 2


def test_401_message_without_the_key(sb):
    wrong = "not-the-key-0987654321"
    client = client_for(sb, token=wrong)
    with pytest.raises(AuthError) as info:
        client.verify()
    assert str(info.value) == "Upsales rejected the API key (401)"
    for text in (str(info.value), repr(info.value)):
        assert wrong not in text and UPSALES_TOKEN not in text
    assert sb.upsales.request_count() == 1


def test_404_unknown_route_fails_at_once(sb):
    client = client_for(sb)
    with pytest.raises(ApiError) as info:
        client.session.request("GET", "/v2/no-such-route", params={"x": "1"})
    assert info.value.status == 404
    assert str(info.value).startswith("Upsales returned 404 for GET /v2/no-such-route")
    assert "<" not in str(info.value)  # the HTML page is not quoted
    assert sb.upsales.request_count() == 1
