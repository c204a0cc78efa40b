"""Sandbox quirks: off by default, switched in-process or through the admin HTTP API, and each
making the emulator answer like the wrong assumption it stands for."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import requests

from wistia_pipeline.sandbox import Sandbox
from wistia_pipeline.sandbox.quirks import QUIRKS_PATH, UPSALES_QUIRKS, WISTIA_QUIRKS, set_quirks_remote
from wistia_pipeline_tests.factories import event

from .helpers import upsales_get, upsales_request, wistia_get


def test_no_quirk_is_on_by_default_and_unknown_names_are_refused(sb: Sandbox):
    assert sb.wistia.quirks == set() and sb.upsales.quirks == set()
    with pytest.raises(ValueError, match="unknown quirk"):
        sb.upsales.quirks.add("days_in_local_time")  # a Wistia quirk
    with pytest.raises(ValueError, match="unknown quirk"):
        sb.wistia.quirks.update(["no_rate_headers"])
    assert set(sb.upsales.quirks.known) == set(UPSALES_QUIRKS) and set(sb.wistia.quirks.known) == set(WISTIA_QUIRKS)


def test_quirks_through_the_admin_api(sb: Sandbox):
    assert set_quirks_remote(sb.upsales_url, "no_rate_headers", "ignore_q_lists") == ["ignore_q_lists", "no_rate_headers"]
    assert sb.upsales.quirks == {"no_rate_headers", "ignore_q_lists"}
    answer = requests.get(sb.upsales.root_url + QUIRKS_PATH, timeout=5).json()
    assert answer["quirks"] == ["ignore_q_lists", "no_rate_headers"] and "case_sensitive_email" in answer["known"]
    bad = requests.post(sb.upsales.root_url + QUIRKS_PATH, data=json.dumps(["nope"]), timeout=5)
    assert bad.status_code == 400 and "unknown quirk" in bad.json()["error"]
    requests.delete(sb.upsales.root_url + QUIRKS_PATH, params={"name": "ignore_q_lists"}, timeout=5)
    assert sb.upsales.quirks == {"no_rate_headers"}
    requests.delete(sb.upsales.root_url + QUIRKS_PATH, timeout=5)
    assert sb.upsales.quirks == set()
    assert set_quirks_remote(sb.wistia_url, "end_date_exclusive") == ["end_date_exclusive"]
    assert sb.upsales.request_count() == 0  # admin calls are not recorded as API requests


def _keys(answer) -> list[str]:
    return sorted(e["event_key"] for e in answer.json())


def test_wistia_day_quirks(sb: Sandbox):
    day = date(2025, 11, 24)
    sb.wistia.add_events([event(day - timedelta(days=1), seconds=23 * 3600, key="late-yesterday"),
                          event(day, seconds=3600, key="early"), event(day, seconds=23 * 3600, key="late")])
    asked = {"start_date": day.isoformat(), "end_date": day.isoformat()}
    assert _keys(wistia_get(sb, "/stats/events.json", **asked)) == ["early", "late"]
    sb.wistia.quirks.add("days_in_local_time")  # UTC+2: 22:00 UTC belongs to the next day
    assert _keys(wistia_get(sb, "/stats/events.json", **asked)) == ["early", "late-yesterday"]
    sb.wistia.quirks.clear()
    sb.wistia.quirks.add("end_date_exclusive")
    assert _keys(wistia_get(sb, "/stats/events.json", **asked)) == []
    assert _keys(wistia_get(sb, "/stats/events.json", start_date=day.isoformat(),
                            end_date=(day + timedelta(days=1)).isoformat())) == ["early", "late"]


@pytest.fixture
def crm(sb: Sandbox) -> Sandbox:
    sb.upsales.add_accounts([{"id": 7, "name": "Acme AB"}])
    sb.upsales.add_contacts([{"id": 1, "name": "Anna Berg", "email": "Anna.Berg@acme.se", "client": 7}])
    return sb


def _ids(answer) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["data"]]


def test_upsales_lookup_quirks(crm: Sandbox):
    by_list = {"q": json.dumps({"a": "email", "c": "eq", "v": ["anna.berg@acme.se"]})}
    by_domain = {"email": "src:@acme.se"}
    assert _ids(upsales_get(crm, "/v2/contacts", by_list)) == [1] and _ids(upsales_get(crm, "/v2/contacts", by_domain)) == [1]
    crm.upsales.quirks.add("ignore_q_lists")
    assert _ids(upsales_get(crm, "/v2/contacts", by_list)) == []
    assert _ids(upsales_get(crm, "/v2/contacts", {"q": json.dumps({"a": "email", "c": "eq", "v": "anna.berg@acme.se"})})) == [1]
    crm.upsales.quirks.clear()
    crm.upsales.quirks.add("case_sensitive_email")
    assert _ids(upsales_get(crm, "/v2/contacts", by_list)) == []
    assert _ids(upsales_get(crm, "/v2/contacts", {"email": "Anna.Berg@acme.se"})) == [1]
    crm.upsales.quirks.clear()
    crm.upsales.quirks.add("no_domain_search")
    assert _ids(upsales_get(crm, "/v2/contacts", by_domain)) == []
    crm.upsales.quirks.add("no_rate_headers")
    assert not any(h.lower().startswith("x-ratelimit") for h in upsales_get(crm, "/v2/contacts").headers)
    crm.upsales.quirks.add("no_customer_id_in_self")
    assert upsales_get(crm, "/v2/self").json()["data"]["clients"] == []


def test_upsales_event_quirks(crm: Sandbox):
    body = {"entityType": "MarketingCustom", "subType": "Video view", "client": 7, "contact": 1,
            "date": "2025-11-24 12:00:00", "externalId": "ext-1", "value": "v"}
    crm.upsales.quirks.update(["external_id_in_marketing_custom", "event_date_in_local_time"])
    created = upsales_request(crm, "POST", "/v2/events", json=body).json()["data"]
    assert "externalId" not in created and created["marketingCustom"] == {"externalId": "ext-1"}
    assert created["date"] == "2025-11-24T10:00:00.000Z"  # read as UTC+2
    assert crm.upsales.events[0]["externalId"] == "ext-1"  # stored as always
    q = {"q": json.dumps({"a": "externalId", "c": "eq", "v": "ext-1"})}
    [listed] = upsales_get(crm, "/v2/events", q).json()["data"]
    assert listed["marketingCustom"] == {"externalId": "ext-1"} and "externalId" not in listed
    crm.upsales.quirks.add("reject_external_id_filter")
    refused = upsales_get(crm, "/v2/events", q)
    assert refused.status_code == 400 and refused.json()["error"]["msg"] == "No such attribute: externalId"
    crm.upsales.quirks.add("no_event_delete")
    assert upsales_request(crm, "DELETE", f"/v2/events/{created['id']}").status_code == 405
    assert len(crm.upsales.events) == 1


def test_upsales_form_quirks(crm: Sandbox):
    form = upsales_request(crm, "POST", "/v2/forms", json={
        "name": "F", "fields": [{"name": "Contact.email"}, {"name": "Extra.key"}]}).json()["data"]
    answer = requests.post(crm.upsales_url + "/external/formSubmit", timeout=5, data={
        "formCid": "1234", "formId": form["uuid"], "Contact.email": "anna.berg@acme.se", "Extra.key": "k"})
    assert answer.status_code == 200
    crm.upsales.quirks.add("field_values_by_id")
    served = upsales_get(crm, f"/v2/forms/{form['id']}").json()["data"]
    ids = {f["name"]: f["id"] for f in served["fields"]}
    [submit] = upsales_get(crm, "/v2/formSubmits", {"formId": form["id"]}).json()["data"]
    assert submit["fieldValues"] == [{"fieldId": ids["Contact.email"], "value": "anna.berg@acme.se"},
                                     {"fieldId": ids["Extra.key"], "value": "k"}]
    assert crm.upsales.form_submits[0]["fieldValues"][1] == {"name": "Extra.key", "value": "k"}  # stored as always
    crm.upsales.quirks.update(["reject_form_name_filter", "reject_form_submit_filter"])
    assert upsales_get(crm, "/v2/forms", {"name": "eq:F"}).status_code == 400
    assert upsales_get(crm, "/v2/formSubmits", {"formId": form["id"]}).status_code == 400
    assert _ids(upsales_get(crm, "/v2/forms", {"sort": "id"})) == [form["id"]]
