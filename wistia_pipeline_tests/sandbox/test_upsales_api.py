"""The Upsales emulator behaves as docs/api/upsales.md describes and serves the recorded shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from wistia_pipeline.sandbox import Sandbox

from .helpers import UPSALES_TOKEN, upsales_get, upsales_request

# A copy of docs/api/examples/upsales-contacts-list.json (a recorded real response).
EXAMPLES = Path(__file__).parent / "recorded"


@pytest.fixture
def crm(sb: Sandbox) -> Sandbox:
    sb.upsales.add_accounts(
        [
            {"id": 7, "name": "Acme AB", "webpage": "http://www.acme.se",
             "addresses": [{"country": "SE", "city": "Stockholm", "type": "Visit"}]},
            {"id": 8, "name": "Nordkraft Energi AB", "webpage": "www.nordkraft.se"},
            {"id": 9, "name": "Fjällsoft AS", "isExternal": 1},
        ]
    )
    sb.upsales.add_contacts(
        [
            {"id": 1, "name": "Anna Berg", "email": "anna.berg@acme.se", "client": {"id": 7}, "active": 1,
             "modDate": "2025-05-14T14:35:34.000Z"},
            {"id": 2, "name": "Johan Sjöberg", "email": "Johan.Sjoberg@Acme.se", "client": 7, "active": 1,
             "modDate": "2025-02-03T09:12:00.000Z"},
            {"id": 3, "name": "Per Nyberg", "email": "", "client": 7, "active": 1,
             "modDate": "2024-06-02T08:00:00.000Z"},
            {"id": 4, "name": "Karl Eriksson", "email": "karl.eriksson@nordkraft.se", "client": 8, "active": 1,
             "modDate": "2025-04-01T10:20:00.000Z"},
            {"id": 5, "name": "Olof Wiklund", "email": "olof.wiklund@nordkraft.se", "client": 8, "active": 0,
             "modDate": "2023-09-30T07:30:00.000Z"},
            {"id": 6, "name": "Anna Berg", "email": "anna.berg@acme.se", "client": 8, "active": 1,
             "modDate": "2025-09-01T00:00:00.000Z"},
            {"id": 7, "name": "Ole Hansen", "email": "ole.hansen@fjallsoft.no", "client": 9, "active": 1,
             "modDate": "2025-08-19T12:00:00.000Z"},
        ]
    )
    return sb


def ids(response: requests.Response) -> list[int]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["error"] is None
    return [item["id"] for item in body["data"]]


def error_of(response: requests.Response) -> dict:
    body = response.json()
    assert body["metadata"] is None
    return body["error"]


# -- auth ------------------------------------------------------------------------------------------


def test_token_by_cookie_or_query(crm: Sandbox) -> None:
    assert upsales_get(crm, "/v2/contacts").status_code == 200
    by_query = requests.get(crm.upsales_url + "/v2/contacts", params={"token": UPSALES_TOKEN}, timeout=5)
    assert by_query.status_code == 200
    assert by_query.json()["metadata"]["total"] == 7  # the token is not a filter
    with_other_cookies = requests.get(
        crm.upsales_url + "/v2/self", headers={"Cookie": f"lang=sv; token={UPSALES_TOKEN}; x=1"}, timeout=5
    )
    assert with_other_cookies.status_code == 200


@pytest.mark.parametrize("token", ["wrong", None])
def test_bad_or_missing_token_is_401_envelope(crm: Sandbox, token: str | None) -> None:
    response = upsales_get(crm, "/v2/contacts", token=token)
    assert response.status_code == 401
    error = error_of(response)
    assert error["key"] == "Unauthorized" and error["code"] == 401 and error["msg"]
    assert "errorCode" in error


# -- list envelope and paging ----------------------------------------------------------------------


def test_list_envelope_and_paging(crm: Sandbox) -> None:
    body = upsales_get(crm, "/v2/contacts").json()
    assert body["error"] is None
    assert body["metadata"] == {"total": 7, "limit": 1000, "offset": 0}
    assert [c["id"] for c in body["data"]] == [1, 2, 3, 4, 5, 6, 7]
    page = upsales_get(crm, "/v2/contacts", {"limit": 2, "offset": 3}).json()
    assert page["metadata"] == {"total": 7, "limit": 2, "offset": 3}
    assert [c["id"] for c in page["data"]] == [4, 5]
    count_only = upsales_get(crm, "/v2/contacts", {"limit": 0, "active": 1}).json()
    assert count_only["metadata"]["total"] == 6 and count_only["data"] == []
    assert upsales_get(crm, "/v2/contacts", {"limit": 5000}).json()["metadata"]["limit"] == 2000
    assert upsales_get(crm, "/v2/contacts", {"limit": "x"}).status_code == 400


def test_keyset_paging(crm: Sandbox) -> None:
    assert ids(upsales_get(crm, "/v2/contacts", {"sort": "id", "id": "gt:4", "limit": 2})) == [5, 6]


def test_contact_shape_follows_recorded_example(crm: Sandbox) -> None:
    contact = upsales_get(crm, "/v2/contacts", {"id": 1}).json()["data"][0]
    assert contact["client"]["id"] == 7 and contact["client"]["name"] == "Acme AB"
    assert contact["client"]["addresses"][0]["city"] == "Stockholm"
    assert contact["firstName"] == "Anna" and contact["lastName"] == "Berg"
    example = EXAMPLES / "upsales-contacts-list.json"
    recorded = json.loads(example.read_text())["data"][0]
    assert list(contact) == list(recorded)
    assert set(contact["client"]) == set(recorded["client"])


# -- filters ---------------------------------------------------------------------------------------


def test_eq_is_case_insensitive_and_default(crm: Sandbox) -> None:
    assert ids(upsales_get(crm, "/v2/contacts", {"email": "eq:ANNA.Berg@Acme.SE"})) == [1, 6]
    assert ids(upsales_get(crm, "/v2/contacts", {"email": "johan.sjoberg@acme.se"})) == [2]
    assert ids(upsales_get(crm, "/v2/contacts", {"email": "eq:"})) == [3]


def test_numbers_compare_numerically(crm: Sandbox) -> None:
    assert ids(upsales_get(crm, "/v2/contacts", {"active": "1"})) == [1, 2, 3, 4, 6, 7]
    assert ids(upsales_get(crm, "/v2/contacts", {"active": "eq:0"})) == [5]
    assert ids(upsales_get(crm, "/v2/contacts", {"active": "ne:1"})) == [5]
    assert ids(upsales_get(crm, "/v2/contacts", {"id": "gte:6"})) == [6, 7]
    assert ids(upsales_get(crm, "/v2/contacts", {"id": "lt:3"})) == [1, 2]
    assert ids(upsales_get(crm, "/v2/contacts", {"id": "lte:1"})) == [1]


def test_src_substring_with_active(crm: Sandbox) -> None:
    assert ids(upsales_get(crm, "/v2/contacts", {"email": "src:@ACME.se", "active": "1"})) == [1, 2, 6]
    assert ids(upsales_get(crm, "/v2/contacts", {"email": "src:@nordkraft.se", "active": "1"})) == [4]


def test_comma_list_and_ne_list(crm: Sandbox) -> None:
    params = {"email": "eq:karl.eriksson@nordkraft.se,ole.hansen@fjallsoft.no"}
    assert ids(upsales_get(crm, "/v2/contacts", params)) == [4, 7]
    assert ids(upsales_get(crm, "/v2/contacts", {"id": "ne:1,2,3,4"})) == [5, 6, 7]


def test_nested_field(crm: Sandbox) -> None:
    assert ids(upsales_get(crm, "/v2/contacts", {"client.id": "eq:8"})) == [4, 5, 6]
    assert ids(upsales_get(crm, "/v2/contacts", {"client.name": "src:acme"})) == [1, 2, 3]


def test_several_filters_are_anded(crm: Sandbox) -> None:
    assert ids(upsales_get(crm, "/v2/contacts", {"client.id": "8", "active": "1"})) == [4, 6]
    repeated = requests.get(
        crm.upsales_url + "/v2/contacts?id=gt:1&id=lt:4", cookies={"token": UPSALES_TOKEN}, timeout=5
    )
    assert ids(repeated) == [2, 3]


def test_q_list_matches_any(crm: Sandbox) -> None:
    q = {"a": "email", "c": "eq", "v": ["ANNA.BERG@acme.se", "karl.eriksson@nordkraft.se", "nobody@x.se"]}
    assert ids(upsales_get(crm, "/v2/contacts", {"q": json.dumps(q), "active": 1})) == [1, 4, 6]
    value_with_comma = {"a": "name", "c": "eq", "v": "Berg, Anna"}
    assert ids(upsales_get(crm, "/v2/contacts", {"q": json.dumps(value_with_comma)})) == []


def test_q_repeated_is_anded_and_or_groups(crm: Sandbox) -> None:
    q1 = json.dumps({"a": "email", "c": "src", "v": "acme.se"})
    q2 = json.dumps({"a": "client.id", "c": "eq", "v": 8})
    assert ids(upsales_get(crm, "/v2/contacts", {"q": [q1, q2]})) == [6]
    either = {"or": {"q": [[{"a": "client.id", "c": "eq", "v": 9}],
                           [{"a": "active", "c": "eq", "v": 0}, {"a": "client.id", "c": "eq", "v": 8}]]}}
    assert ids(upsales_get(crm, "/v2/contacts", {"q": json.dumps(either)})) == [5, 7]


@pytest.mark.parametrize(
    "params",
    [{"x": "eq:1"}, {"q": json.dumps({"a": "x", "c": "eq", "v": 1})}, {"sort": "x"}],
)
def test_unknown_attribute_is_400(crm: Sandbox, params: dict) -> None:
    response = upsales_get(crm, "/v2/contacts", params)
    assert response.status_code == 400
    error = error_of(response)
    assert error["key"] == "FailedValidation" and error["code"] == 400
    assert error["msg"] == "No such attribute: x"


def test_bad_q_is_400(crm: Sandbox) -> None:
    assert upsales_get(crm, "/v2/contacts", {"q": "{not json"}).status_code == 400
    assert upsales_get(crm, "/v2/contacts", {"q": json.dumps({"a": "id", "c": "like", "v": 1})}).status_code == 400


def test_sort(crm: Sandbox) -> None:
    assert ids(upsales_get(crm, "/v2/contacts", {"sort": "-modDate"})) == [6, 7, 1, 4, 2, 3, 5]
    assert ids(upsales_get(crm, "/v2/contacts", {"sort": "-id"})) == [7, 6, 5, 4, 3, 2, 1]
    assert ids(upsales_get(crm, "/v2/contacts", {"sort": "client.id,-modDate"})) == [1, 2, 3, 6, 4, 5, 7]


def test_accounts(crm: Sandbox) -> None:
    assert ids(upsales_get(crm, "/v2/accounts", {"isExternal": 0})) == [7, 8]
    account = upsales_get(crm, "/v2/accounts", {"webpage": "src:acme"}).json()["data"][0]
    assert {"id", "name", "webpage", "active", "score", "isExternal", "users", "modDate"} <= set(account)
    assert upsales_get(crm, "/v2/accounts/8").json()["data"]["name"] == "Nordkraft Energi AB"
    assert upsales_get(crm, "/v2/accounts/99").status_code == 404


# -- rate limit ------------------------------------------------------------------------------------


def test_budget_headers_and_429(crm: Sandbox) -> None:
    crm.upsales.rate_limit = (3, 10.0)
    responses = [upsales_get(crm, "/v2/self") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in responses)
    assert int(responses[-1].headers["X-RateLimit-Reset"]) in range(1, 11)
    assert "Retry-After" not in responses[-1].headers  # undocumented for Upsales: not sent
    error = error_of(responses[-1])
    assert error["code"] == 429
    unauthorized = upsales_get(crm, "/v2/self", token="bad")
    assert unauthorized.status_code == 401 and "X-RateLimit-Reset" in unauthorized.headers


def test_default_budget_is_200_per_10s(sb: Sandbox) -> None:
    response = upsales_get(sb, "/v2/self")
    assert response.headers["X-RateLimit-Limit"] == "200"
    assert response.headers["X-RateLimit-Remaining"] == "199"
    assert sb.upsales.rate_limit == (200, 10.0)
    assert sb.wistia.rate_limit == (600, 60.0)


def test_fail_next_keeps_budget_headers_unless_overridden(crm: Sandbox) -> None:
    crm.upsales.fail_next(500, path_prefix="/v2/contacts")
    crm.upsales.fail_next(429, headers={"X-RateLimit-Reset": "0"}, path_prefix="/api/v2/contacts")
    first, second = upsales_get(crm, "/v2/contacts"), upsales_get(crm, "/v2/contacts")
    assert first.status_code == 500 and error_of(first)["code"] == 500 and "X-RateLimit-Limit" in first.headers
    assert second.status_code == 429 and second.headers["X-RateLimit-Reset"] == "0"
    assert upsales_get(crm, "/v2/contacts").status_code == 200
    assert crm.upsales.request_count("/v2/contacts") == 3
    assert crm.upsales.request_count("/api/v2/contacts", method="GET") == 3


# -- marketing events ------------------------------------------------------------------------------


def post_event(sb: Sandbox, payload) -> requests.Response:
    return upsales_request(sb, "POST", "/v2/events", json=payload)


VALID = {
    "entityType": "MarketingCustom",
    "subType": "Video view",
    "client": 7,
    "contact": 1,
    "score": 10,
    "date": "2026-03-10 14:03:11",
    "value": "Anna Berg watched Product tour (83%)",
    "externalId": "5d0b0f4e-3c3b-5b8e-9a53-0e7c2a1f6d11",
}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"client": None}, "client"),
        ({"client": 999}, "client"),
        ({"client": "7"}, "client"),
        ({"contact": 999}, "contact"),
        ({"value": "x" * 513}, "value"),
        ({"externalId": "x" * 37}, "externalId"),
        ({"entityType": None}, "entityType"),
        ({"entityType": "Activity"}, "entityType"),
        ({"subType": ""}, "subType"),
        ({"date": "2026-03-10T14:03:11Z"}, "date"),
        ({"date": "2026-13-10 14:03:11"}, "date"),
        ({"score": "ten"}, "score"),
    ],
)
def test_event_create_validation(crm: Sandbox, change: dict, fragment: str) -> None:
    payload = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    response = post_event(crm, payload)
    assert response.status_code == 400
    error = error_of(response)
    assert error["key"] == "FailedValidation" and fragment in error["msg"]
    assert crm.upsales.events == []


def test_event_create_not_json_is_400(crm: Sandbox) -> None:
    response = upsales_request(crm, "POST", "/v2/events", data="nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_event_create_success(crm: Sandbox) -> None:
    response = post_event(crm, VALID)
    assert response.status_code == 200
    body = response.json()
    assert body["error"] is None
    data = body["data"]
    assert isinstance(data["id"], int)
    assert data["entityType"] == "MarketingCustom" and data["subType"] == "Video view"
    assert data["client"]["id"] == 7 and data["client"]["name"] == "Acme AB"
    assert [c["id"] for c in data["contacts"]] == [1]
    assert data["externalId"] == VALID["externalId"] and data["score"] == 10
    assert data["date"] == "2026-03-10T14:03:11.000Z"
    assert data["value"] == VALID["value"]
    assert crm.upsales.events == [data]
    example = EXAMPLES / "upsales-event-create.json"
    if example.exists():
        recorded = json.loads(example.read_text())["response"]["body"]["data"]
        assert set(recorded) <= set(data)
        assert set(recorded["client"]) <= set(data["client"])


def test_event_create_variants(crm: Sandbox) -> None:
    anonymous = post_event(crm, {"entityType": "marketingCustom", "subType": "Video view", "client": {"id": 8},
                                 "value": "Someone watched Webinar (40%)", "score": 10})
    manual = post_event(crm, {"entityType": "manual", "score": 5, "client": {"id": 9}, "value": "Manual event test"})
    at_limits = post_event(crm, {**VALID, "value": "v" * 512, "externalId": "e" * 36})
    assert [r.status_code for r in (anonymous, manual, at_limits)] == [200, 200, 200]
    assert anonymous.json()["data"]["contacts"] is None
    assert manual.json()["data"]["subType"] == ""
    assert len({r.json()["data"]["id"] for r in (anonymous, manual, at_limits)}) == 3
    # No idempotency: the same externalId twice makes two entries.
    assert post_event(crm, VALID).status_code == post_event(crm, VALID).status_code == 200
    assert len(crm.upsales.events) == 5


def test_events_list_requires_q_and_finds_by_external_id(crm: Sandbox) -> None:
    created = post_event(crm, VALID).json()["data"]
    post_event(crm, {**VALID, "externalId": "other", "client": 8, "contact": 4})
    assert upsales_get(crm, "/v2/events").status_code == 400
    q = json.dumps({"a": "externalId", "c": "eq", "v": VALID["externalId"]})
    found = upsales_get(crm, "/v2/events", {"q": q}).json()
    assert found["metadata"]["total"] == 1 and found["data"][0]["id"] == created["id"]
    by_client = json.dumps({"a": "client.id", "c": "eq", "v": 8})
    assert len(upsales_get(crm, "/v2/events", {"q": by_client}).json()["data"]) == 1
    by_contact = json.dumps({"a": "contacts.id", "c": "eq", "v": [1, 4]})
    assert len(upsales_get(crm, "/v2/events", {"q": by_contact}).json()["data"]) == 2


def test_delete_event(crm: Sandbox) -> None:
    created = post_event(crm, VALID).json()["data"]
    deleted = upsales_request(crm, "DELETE", f"/v2/events/{created['id']}")
    assert (deleted.status_code, deleted.json()) == (200, {"error": None})
    assert crm.upsales.events == [] and crm.upsales.deleted_event_ids == [created["id"]]
    again = upsales_request(crm, "DELETE", f"/v2/events/{created['id']}")
    assert again.status_code == 404 and error_of(again)["code"] == 404
    q = json.dumps({"a": "externalId", "c": "eq", "v": VALID["externalId"]})
    assert upsales_get(crm, "/v2/events", {"q": q}).json()["metadata"]["total"] == 0


# -- self, admin, 404 ------------------------------------------------------------------------------


def test_self(sb: Sandbox) -> None:
    body = upsales_get(sb, "/v2/self").json()
    assert body == {
        "error": None,
        "data": {"id": 13, "name": "API user", "email": "key@api.upsales.com",
                 "clients": [{"clientId": 1234, "name": "Sandbox Sales AB"}]},
    }
    with Sandbox(customer_id=777) as other:
        assert upsales_get(other, "/v2/self").json()["data"]["clients"][0]["clientId"] == 777


@pytest.mark.parametrize("path", ["/v2/nothing", "/v3/contacts", "/v2"])
def test_unknown_route_is_html_404(sb: Sandbox, path: str) -> None:
    response = upsales_get(sb, path)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")


def test_admin_state_lists_created_events(crm: Sandbox) -> None:
    post_event(crm, VALID)
    upsales_get(crm, "/v2/contacts")
    state = requests.get(crm.upsales.root_url + "/_sandbox/state", timeout=5).json()
    assert state["requests"] == {"/api/v2/events": 1, "/api/v2/contacts": 1}
    assert [e["externalId"] for e in state["events"]] == [VALID["externalId"]]


# -- forms (beyond the activity log: what the forms sink needs) ------------------------------------


def test_forms_create_find_submit(crm: Sandbox) -> None:
    form = upsales_request(crm, "POST", "/v2/forms", json={
        "name": "Wistia video views", "title": "Wistia", "score": 5,
        "fields": [{"name": "Contact.email", "title": "Email", "required": True, "datatype": "text"}],
    }).json()["data"]
    assert form["uuid"].startswith("1234u") and len(form["uuid"]) == len("1234u") + 32
    found = upsales_get(crm, "/v2/forms", {"name": "eq:Wistia video views"}).json()
    assert [f["id"] for f in found["data"]] == [form["id"]]
    submit = requests.post(
        crm.upsales_url + "/external/formSubmit",
        data={"formCid": "1234", "formId": form["uuid"], "Contact.email": " Anna.Berg@acme.se",
              "Extra.1": "Product tour", "isFrame": "false", "validation": "", "isAjax": "true"},
        timeout=5,
    )
    assert submit.status_code == 200 and submit.text.isdigit()
    submits = upsales_get(crm, "/v2/formSubmits", {"formId": form["id"]}).json()["data"]
    assert [s["id"] for s in submits] == [int(submit.text)]
    assert submits[0]["contact"]["id"] == 6  # newest active contact with that email
    assert {"name": "Extra.1", "value": "Product tour"} in submits[0]["fieldValues"]
    bad = requests.post(crm.upsales_url + "/external/formSubmit", data={"formCid": "1", "formId": form["uuid"],
                        "Contact.email": "a@b.se"}, timeout=5)
    assert bad.status_code == 400


# -- issue #15: a form's score (what a submission adds to the contact), PUT /v2/forms/{id}, notify ---


def submit_to(sb: Sandbox, form: dict, email: str) -> requests.Response:
    return requests.post(sb.upsales_url + "/external/formSubmit", timeout=5,
                         data={"formCid": "1234", "formId": form["uuid"], "Contact.email": email})


def test_a_submission_adds_the_form_s_score_to_the_contact(crm: Sandbox) -> None:
    scoring = upsales_request(crm, "POST", "/v2/forms", json={"name": "Scores", "score": 25}).json()["data"]
    silent = upsales_request(crm, "POST", "/v2/forms", json={"name": "Silent"}).json()["data"]
    assert (scoring["score"], silent["score"]) == (25, 0)  # a form created without one scores 0
    assert upsales_get(crm, f"/v2/forms/{scoring['id']}").json()["data"]["score"] == 25
    assert submit_to(crm, scoring, "karl.eriksson@nordkraft.se").status_code == 200
    assert submit_to(crm, scoring, "Karl.Eriksson@nordkraft.se").status_code == 200
    assert submit_to(crm, silent, "karl.eriksson@nordkraft.se").status_code == 200
    assert crm.upsales.contacts[4]["score"] == 50  # 25 twice, 0 once
    assert [s["score"] for s in crm.upsales.form_submits] == [25, 25, 0]
    contact = upsales_get(crm, "/v2/contacts", {"id": "eq:4"}).json()["data"][0]
    assert contact["score"] == 50 and contact["scoreUpdateDate"] is not None
    assert crm.upsales.contacts[2]["score"] == 0  # another contact of the account: untouched


def test_put_a_form_changes_only_what_it_is_given_and_is_idempotent(crm: Sandbox) -> None:
    form = upsales_request(crm, "POST", "/v2/forms", json={
        "name": "Wistia video views", "title": "Videos", "score": 10,
        "fields": [{"name": "Contact.email", "title": "Email", "required": True, "datatype": "text"}]}).json()["data"]
    for _ in range(2):
        answer = upsales_request(crm, "PUT", f"/v2/forms/{form['id']}", json={"id": form["id"], "score": 40})
        assert answer.status_code == 200 and answer.json()["error"] is None
        assert answer.json()["data"]["score"] == 40
    [stored] = crm.upsales.forms
    assert stored["score"] == 40 and stored["title"] == "Videos" and stored["fields"] == form["fields"]
    assert (stored["id"], stored["uuid"], stored["regDate"]) == (form["id"], form["uuid"], form["regDate"])
    assert submit_to(crm, stored, "karl.eriksson@nordkraft.se").status_code == 200
    assert crm.upsales.form_submits[0]["score"] == 40 and crm.upsales.contacts[4]["score"] == 40
    unchanged = upsales_request(crm, "PUT", f"/v2/forms/{form['id']}", json={"uuid": "1234uother", "submits": 99})
    assert unchanged.status_code == 200 and crm.upsales.forms[0]["uuid"] == form["uuid"]  # read-only fields kept


@pytest.mark.parametrize("body,message", [
    ({"score": -1}, "Invalid score: must be a whole number from 0 to 1000"),
    ({"score": 1001}, "Invalid score: must be a whole number from 0 to 1000"),
    ({"score": "ten"}, "Invalid score: must be a whole number from 0 to 1000"),
    ({"score": True}, "Invalid score: must be a whole number from 0 to 1000"),
    ({"score": 2.5}, "Invalid score: must be a whole number from 0 to 1000"),
    ({"name": ""}, "Invalid name: must be a non-empty string"),
    ({"fields": {}}, "Invalid fields: must be a list"),
    ({"id": 999, "score": 5}, "Invalid id: the body's id is not 1"),
    (["score", 5], "Body must be a JSON object"),
])
def test_put_a_form_validates_like_the_other_writes(crm: Sandbox, body, message) -> None:
    form = upsales_request(crm, "POST", "/v2/forms", json={"name": "F", "score": 10}).json()["data"]
    answer = upsales_request(crm, "PUT", f"/v2/forms/{form['id']}", json=body)
    assert answer.status_code == 400
    assert error_of(answer) == {"key": "FailedValidation", "code": 400, "errorCode": 26, "msg": message}
    assert crm.upsales.forms[0]["score"] == 10 and crm.upsales.forms[0]["name"] == "F"


def test_put_a_form_needs_the_key_and_an_existing_form(crm: Sandbox) -> None:
    form = upsales_request(crm, "POST", "/v2/forms", json={"name": "F", "score": 10}).json()["data"]
    anonymous = upsales_request(crm, "PUT", f"/v2/forms/{form['id']}", token=None, json={"score": 40})
    assert anonymous.status_code == 401 and error_of(anonymous)["key"] == "Unauthorized"
    missing = upsales_request(crm, "PUT", "/v2/forms/4040", json={"score": 40})
    assert missing.status_code == 404
    assert error_of(missing) == {"key": "NotFound", "code": 404, "errorCode": 404, "msg": "No forms with id 4040"}
    assert upsales_request(crm, "PUT", "/v2/forms/abc", json={"score": 40}).status_code == 400
    assert upsales_request(crm, "PUT", "/v2/events/1", json={"score": 40}).status_code == 404  # forms only
    assert crm.upsales.forms[0]["score"] == 10


def test_a_form_create_validates_its_score(crm: Sandbox) -> None:
    refused = upsales_request(crm, "POST", "/v2/forms", json={"name": "F", "score": -5})
    assert refused.status_code == 400 and error_of(refused)["msg"].startswith("Invalid score")
    assert crm.upsales.forms == []


def test_the_quirk_no_form_score_hides_the_score_but_keeps_applying_it(crm: Sandbox) -> None:
    crm.upsales.quirks.add("no_form_score")
    form = upsales_request(crm, "POST", "/v2/forms", json={"name": "F", "score": 15}).json()["data"]
    assert "score" not in form and "score" not in upsales_get(crm, f"/v2/forms/{form['id']}").json()["data"]
    assert "score" not in upsales_request(crm, "PUT", f"/v2/forms/{form['id']}", json={"score": 20}).json()["data"]
    assert submit_to(crm, form, "karl.eriksson@nordkraft.se").status_code == 200
    assert crm.upsales.contacts[4]["score"] == 20


def test_an_event_keeps_notify_as_sent(crm: Sandbox) -> None:
    notified = post_event(crm, {**VALID, "notify": True, "notifyUserIds": [13]}).json()["data"]
    plain = post_event(crm, {**VALID, "externalId": "other"}).json()["data"]
    assert (notified["notify"], notified["notifyUserIds"], plain["notify"]) == (True, [13], None)
    q = json.dumps({"a": "externalId", "c": "eq", "v": VALID["externalId"]})
    [read] = upsales_get(crm, "/v2/events", {"q": q}).json()["data"]
    assert read["notify"] is True
    assert [e["notify"] for e in crm.upsales.events] == [True, None]
    for bad, message in [({"notify": "yes"}, "Invalid notify: must be true or false"),
                         ({"notifyUserIds": "13"}, "Invalid notifyUserIds: must be a list of user ids")]:
        refused = post_event(crm, {**VALID, **bad})
        assert refused.status_code == 400 and error_of(refused)["msg"] == message
    assert len(crm.upsales.events) == 2
