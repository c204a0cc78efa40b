"""UpsalesClient writes: forms, form submits, batch lookups, and when a write is retried."""

from __future__ import annotations

import uuid

import pytest

from wistia_pipeline.clients import ApiError

from .conftest import CUSTOMER_ID, FAST, UPSALES_TOKEN
from .test_upsales import ACCOUNTS, client_for

EVENT = {"entityType": "MarketingCustom", "subType": "Video view", "client": 7, "score": 10,
         "value": "Someone watched Tour (50%)"}


def test_form_create_find_by_exact_name_submit_and_read_back(sb):
    client = client_for(sb)
    name = "Wistia: Tours, demos and more"  # a comma: found through q, not name=eq:
    assert client.find_forms_by_name(name) == []
    form = client.create_form({"name": name, "fields": [{"name": "Contact.email", "title": "Email"}]})
    client.create_form({"name": "Wistia: tours, DEMOS and more"})  # same name but for case
    assert [f["id"] for f in client.find_forms_by_name(name)] == [form["id"]]
    submission_id = client.submit_form({
        "formCid": str(CUSTOMER_ID), "formId": form["uuid"], "Contact.email": "anna@acme.se",
        "Extra.wistia_event_key": "k1", "isFrame": "false", "validation": "", "isAjax": "true"})
    submits = [s for page in client.iter_form_submits(form["id"]) for s in page]
    assert [str(s["id"]) for s in submits] == [submission_id]
    assert {"name": "Extra.wistia_event_key", "value": "k1"} in submits[0]["fieldValues"]
    post = [r for r in sb.upsales.requests if r.path.endswith("/external/formSubmit")][0]
    assert post.method == "POST" and post.query == {}  # fields in the body, nothing in the URL


def test_submit_with_a_wrong_form_is_a_one_line_error(sb):
    with pytest.raises(ApiError) as caught:
        client_for(sb).submit_form({"formCid": str(CUSTOMER_ID), "formId": "nope", "Contact.email": "a@acme.se"})
    assert caught.value.status == 400 and "\n" not in str(caught.value)


def test_events_found_by_a_batch_of_external_ids(sb):
    sb.upsales.add_accounts(ACCOUNTS)
    client = client_for(sb)
    ids = [str(uuid.uuid4()) for _ in range(150)]
    for external_id in ids[:3]:
        client.create_event({**EVENT, "externalId": external_id})
    before = sb.upsales.request_count("/v2/events", method="GET")
    found = client.find_events_by_external_ids(ids)
    assert sorted(e["externalId"] for e in found) == sorted(ids[:3])
    assert sb.upsales.request_count("/v2/events", method="GET") - before == 2  # 100 + 50


def test_a_write_answered_500_is_not_retried(sb):
    """The post may have been stored: retrying could double it, so the caller looks it up."""
    sb.upsales.add_accounts(ACCOUNTS)
    sb.upsales.fail_next(500, count=5, path_prefix="/v2/events")
    with pytest.raises(ApiError, match="not retried, as the write may have been stored") as caught:
        client_for(sb).create_event({**EVENT, "externalId": str(uuid.uuid4())})
    assert caught.value.status == 500
    assert sb.upsales.request_count("/v2/events", method="POST") == 1


def test_a_write_answered_429_is_retried(sb):
    sb.upsales.add_accounts(ACCOUNTS)
    sb.upsales.fail_next(429, count=2, headers={"Retry-After": "0"}, path_prefix="/v2/events")
    created = client_for(sb).create_event({**EVENT, "externalId": str(uuid.uuid4())})
    assert created["id"] and sb.upsales.request_count("/v2/events", method="POST") == 3
    assert len(sb.upsales.events) == 1


def test_a_read_answered_500_is_retried(sb):
    sb.upsales.fail_next(500, count=2, headers={"Retry-After": "0"}, path_prefix="/v2/forms")
    assert client_for(sb).find_forms_by_name("x") == []
    assert sb.upsales.request_count("/v2/forms") == 3


def test_a_form_update_puts_only_the_changes_and_is_retried_as_idempotent(sb):
    """Issue #15: the score is changed by PUT /v2/forms/{id}; repeating a PUT cannot double
    anything, so a 500 is retried like a read (a POST is not: see above)."""
    client = client_for(sb)
    form = client.create_form({"name": "Wistia video views", "title": "Mine", "score": 10})
    sb.upsales.fail_next(500, count=2, headers={"Retry-After": "0"}, path_prefix="/v2/forms")
    updated = client.update_form(form["id"], {"score": 40})
    assert updated["score"] == 40 and updated["title"] == "Mine"  # the rest as it was
    assert sb.upsales.request_count("/v2/forms", method="PUT") == 3
    assert sb.upsales.forms[0]["score"] == 40
    with pytest.raises(ApiError) as caught:
        client.update_form(4040, {"score": 40})
    assert caught.value.status == 404 and "\n" not in str(caught.value)
