"""The ledger's claim: one run at a time may hold a view, and only an unconfirmed one is retaken."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from wistia_pipeline import db
from wistia_pipeline.clients.errors import ApiError
from wistia_pipeline.clients.upsales import UpsalesClient
from wistia_pipeline.rules import external_id
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks.marketing_events import MarketingEventSink
from wistia_pipeline.sinks.posting import is_refusal, post_new_views, reconcile_in_flight
from wistia_pipeline_tests.factories import contact, event
from wistia_pipeline_tests.stages.conftest import StageDb
from wistia_pipeline_tests.stages.test_ledger import FakeUpsales

DAY = date(2026, 3, 10)
LOG = logging.getLogger("test")
SETTINGS = Settings()


@pytest.fixture
def ready() -> StageDb:
    stage_db = StageDb()
    stage_db.events([event(DAY, key=f"v{n}", conversion_email="anna@acme.se", percent=0.5, seconds=100 + n)
                     for n in range(3)])
    stage_db.contacts([contact(1, "anna@acme.se", 7, name="Anna Berg")])
    stage_db.run("converted_views", "matched_views", "filtered_views")
    return stage_db


def only_in_queue(stage_db: StageDb, key: str) -> None:
    """Leave `key` alone in filtered_views: the window's post queue is that one view."""
    stage_db.con.execute("DELETE FROM filtered_views WHERE event_key <> ?", [key])


class LateSink(MarketingEventSink):
    """A run that read its queue, and had Upsales check it, before `meanwhile` (another run) ran."""

    def __init__(self, client, settings, meanwhile):
        super().__init__(client, settings)
        self.meanwhile = meanwhile

    def find_existing(self, views):
        existing = super().find_existing(views)  # Upsales does not hold the view yet ...
        self.meanwhile()                          # ... then another run posts it, before this one claims it
        self.meanwhile = lambda: None
        return existing


def statuses(stage_db: StageDb) -> dict[str, tuple[str, str | None, str]]:
    return {k: (s, u, r) for k, s, u, r in stage_db.rows("SELECT event_key, status, upsales_id, run_id FROM synced_ledger")}


def test_a_view_another_run_posted_meanwhile_is_not_posted_again(ready):
    upsales = FakeUpsales()
    only_in_queue(ready, "v0")
    other = ready.con.cursor()  # run A: another connection to the same database

    def run_a_posts_it():
        post_new_views(other, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-A", LOG)

    # Run B reads v0 as a candidate, run A posts it, run B arrives late.
    stats = post_new_views(ready.con, LateSink(upsales, SETTINGS, run_a_posts_it), DAY, DAY, "run-B", LOG)
    assert len(upsales.events) == 1 and stats["skipped"] == 1 and stats["posted"] == 0
    assert statuses(ready)["v0"] == ("posted", "100", "run-A")


def test_an_unconfirmed_view_is_retaken_by_a_later_run_only(ready):
    upsales = FakeUpsales()
    sink = MarketingEventSink(upsales, SETTINGS)
    only_in_queue(ready, "v1")
    upsales.fail[external_id("v1")] = ApiError("Upsales POST /v2/events answered 500", service="Upsales", status=500)
    post_new_views(ready.con, sink, DAY, DAY, "run-A", LOG)
    assert statuses(ready)["v1"][0] == "in_flight"
    upsales.fail.clear()
    same_run = post_new_views(ready.con, sink, DAY, DAY, "run-A", LOG)  # not within run A
    assert same_run["skipped"] == 1 and upsales.events == []
    later = post_new_views(ready.con, sink, DAY, DAY, "run-B", LOG)  # run B, after reconciling
    assert later["posted"] == 1 and statuses(ready)["v1"] == ("posted", "100", "run-B")
    (attempts,) = ready.con.execute("SELECT attempts FROM synced_ledger WHERE event_key = 'v1'").fetchone()
    assert attempts == 2


def test_a_view_listed_twice_in_one_run_is_posted_once(ready):
    # filtered_views holding one event_key on two days (Wistia re-dated it).
    ready.con.execute("INSERT INTO filtered_views SELECT * REPLACE (day + 1 AS day) FROM filtered_views "
                      "WHERE event_key = 'v2'")
    upsales = FakeUpsales()
    stats = post_new_views(ready.con, MarketingEventSink(upsales, SETTINGS), DAY, date(2026, 3, 11), "run-A", LOG)
    assert (stats["new"], stats["posted"], len(upsales.events)) == (3, 3, 3)


def test_reconciling_looks_up_100_in_flight_activities_per_call(ready, sandbox):
    sandbox.upsales.add_accounts([{"id": 7, "name": "Acme AB"}])
    client = UpsalesClient(sandbox.upsales_url, sandbox.upsales.token)
    sink = MarketingEventSink(client, SETTINGS)
    keys = [f"lost{n:03d}" for n in range(250)]
    for n, key in enumerate(keys):
        db.run_script(ready.con, "ledger_mark_in_flight", {
            "destination": "activities", "event_key": key, "day": DAY, "external_id": external_id(key),
            "client_id": 7, "contact_id": None, "score": 10, "value": "x", "form_id": None, "form_name": None,
            "notified": None, "run_id": "run-A"}).fetchall()
        if n % 2 == 0:  # half of them reached Upsales before the crash
            client.create_event({"entityType": "MarketingCustom", "subType": "Video view", "client": 7,
                                 "externalId": external_id(key)})
    ids = {e["externalId"]: str(e["id"]) for e in sandbox.upsales.events}
    before = sandbox.upsales.request_count("/v2/events", method="GET")
    assert reconcile_in_flight(ready.con, sink, "run-B") == {"found": 125, "missing": 125, "withdrawn": 0}
    assert sandbox.upsales.request_count("/v2/events", method="GET") - before == 3  # 250 ids, 100 per call
    found = statuses(ready)
    assert found["lost000"] == ("posted", ids[external_id("lost000")], "run-B") and found["lost001"][0] == "in_flight"


@pytest.mark.parametrize(("status", "refusal"), [
    (400, True), (413, True), (422, True),
    # Never the view's fault: a gateway or moved endpoint, a conflict (the entry may exist), the
    # key, "later", a server error, no answer.
    (401, False), (403, False), (404, False), (405, False), (409, False), (408, False), (425, False),
    (429, False), (500, False), (503, False), (None, False), (200, False)])
def test_which_answers_count_as_upsales_refusing_the_view(status, refusal):
    assert is_refusal(ApiError("x", service="Upsales", status=status)) is refusal
