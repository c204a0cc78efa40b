"""Issue #15, part 2: an activity entry carries `notify: true` (Upsales notifies the account's
managers) when ACTIVITY_NOTIFY is on and the view is at or above ACTIVITY_NOTIFY_MIN_PERCENT
(inclusive, compared as MIN_PERCENT_WATCHED is); the ledger keeps whether it notified."""

from __future__ import annotations

import logging

import pytest

from wistia_pipeline import rules
from wistia_pipeline.clients.upsales import UpsalesClient
from wistia_pipeline.operations.explain import ledger_words
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks.marketing_events import MarketingEventSink, activity_payload
from wistia_pipeline.sinks.posting import post_new_views
from wistia_pipeline_tests.factories import contact, event
from wistia_pipeline_tests.stages.conftest import DAY

LOG = logging.getLogger("test")
PERCENTS = {"half": 0.5, "just-below": 0.4999, "float-half": 0.57, "most": 0.9, "little": 0.1}


@pytest.fixture
def views(stage_db) -> dict[str, dict]:
    stage_db.events([event(DAY, key=key, conversion_email="anna@acme.se", percent=p) for key, p in PERCENTS.items()])
    stage_db.contacts([contact(1, "anna@acme.se", 7, name="Anna Berg")])
    stage_db.run("converted_views", "matched_views", "filtered_views")
    rows = stage_db.con.execute("SELECT * FROM filtered_views")
    columns = [d[0] for d in rows.description]
    return {row[2]: dict(zip(columns, row)) for row in rows.fetchall()}


def notify(views, **settings) -> dict[str, bool | None]:
    return {key: activity_payload(view, Settings(**settings)).get("notify") for key, view in views.items()}


def test_off_by_default_and_then_the_payload_is_as_before(views):
    assert notify(views) == dict.fromkeys(PERCENTS)  # no `notify` key at all
    assert notify(views, activity_notify=False, activity_notify_min_percent=0) == dict.fromkeys(PERCENTS)


def test_on_only_for_views_at_or_above_the_minimum_inclusive(views):
    assert notify(views, activity_notify=True) == {  # default minimum: 50 %
        "half": True, "just-below": None, "float-half": True, "most": True, "little": None}
    assert notify(views, activity_notify=True, activity_notify_min_percent=57) == {
        "half": None, "just-below": None, "float-half": True, "most": True, "little": None}  # 0.57 meets 57
    assert notify(views, activity_notify=True, activity_notify_min_percent=0) == dict.fromkeys(PERCENTS, True)
    assert notify(views, activity_notify=True, activity_notify_min_percent=100) == dict.fromkeys(PERCENTS)


def test_the_posted_entries_carry_notify_and_the_ledger_keeps_it(views, stage_db, sandbox):
    sandbox.upsales.add_accounts([{"id": 7, "name": "Acme AB"}])
    sandbox.upsales.add_contacts([contact(1, "anna@acme.se", 7, name="Anna Berg")])
    client = UpsalesClient(sandbox.upsales_url, sandbox.env()["UPSALES_API_TOKEN"])
    try:
        sink = MarketingEventSink(client, Settings(activity_notify=True, activity_notify_min_percent=50))
        assert post_new_views(stage_db.con, sink, DAY, DAY, "run-1", LOG)["posted"] == 5
    finally:
        client.close()
    stored = {e["externalId"]: e["notify"] for e in sandbox.upsales.events}  # as Upsales keeps them
    assert {key: stored[rules.external_id(key)] for key in PERCENTS} == {
        "half": True, "just-below": None, "float-half": True, "most": True, "little": None}
    assert dict(stage_db.rows("SELECT event_key, notified FROM synced_ledger")) == {
        "half": True, "just-below": False, "float-half": True, "most": True, "little": False}


def test_explain_says_when_an_entry_notified():
    entry = {"upsales_id": "22413", "run_id": "31e67cda-0000", "notified": True}
    assert ledger_words("synced", None, entry) == (
        "posted as Upsales id 22413, notifying the account managers by run 31e67cda")
    assert ledger_words("synced", None, {**entry, "notified": False}) == "posted as Upsales id 22413 by run 31e67cda"
    assert ledger_words("synced", None, {**entry, "notified": None}) == "posted as Upsales id 22413 by run 31e67cda"
