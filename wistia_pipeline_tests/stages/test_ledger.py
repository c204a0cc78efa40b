"""synced_ledger: intent before each post, the Upsales id after, reconciliation, outcomes."""

import logging
from datetime import datetime

import pytest

from wistia_pipeline import db
from wistia_pipeline.clients.http import ApiError, AuthError
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks.marketing_events import MarketingEventSink, activity_payload
from wistia_pipeline.sinks.posting import post_new_views, reconcile_in_flight
from wistia_pipeline_tests.factories import contact, event
from wistia_pipeline_tests.stages.conftest import DAY

SETTINGS = Settings(activity_score=15, wistia_public_token="pub")
LOG = logging.getLogger("test")


class FakeUpsales:
    """Stands in for UpsalesClient: stores events, can fail on chosen external ids."""

    def __init__(self):
        self.events: list[dict] = []
        self.fail: dict[str, Exception] = {}
        self.store_then_fail: set[str] = set()

    def create_event(self, payload):
        if payload["externalId"] in self.fail:
            raise self.fail[payload["externalId"]]
        self.events.append({**payload, "id": 100 + len(self.events)})
        if payload["externalId"] in self.store_then_fail:
            raise ApiError("connection dropped", service="Upsales", status=None)
        return self.events[-1]

    def find_events_by_external_ids(self, external_ids):
        self.lookups = getattr(self, "lookups", 0) + 1
        return [e for e in self.events if e["externalId"] in external_ids]


@pytest.fixture
def ready(stage_db):
    stage_db.events([
        event(DAY, key="anna", conversion_email="anna@acme.se", percent=0.575, media_name="Tour", seconds=100),
        event(DAY, key="someone", conversion_email="someone@acme.se", percent=0.4, media_name="Tour", seconds=200,
              heatmap=""),
        event(DAY, key="erik", conversion_email="erik@nordkraft.se", percent=0.9, seconds=300),
    ])
    stage_db.contacts([contact(1, "anna@acme.se", 7, name="Anna Berg"), contact(2, "erik@nordkraft.se", 8)])
    stage_db.run("converted_views", "matched_views", "filtered_views")
    return stage_db


def ledger(stage_db):
    return {k: (s, u) for k, s, u in stage_db.rows("SELECT event_key, status, upsales_id FROM synced_ledger")}


def test_payload_for_a_contact_and_an_anonymous_view(ready):
    rows = ready.con.execute("SELECT * FROM filtered_views ORDER BY received_at")
    columns = [d[0] for d in rows.description]
    views = {r[2]: dict(zip(columns, r)) for r in rows.fetchall()}
    anna = activity_payload(views["anna"], SETTINGS)
    assert anna == {
        "entityType": "MarketingCustom", "subType": "Video view", "client": 7, "contact": 1, "score": 15,
        "date": f"{DAY} 00:01:40", "externalId": anna["externalId"],
        "value": f"Anna Berg watched Tour (58%) Heatmap: {views['anna']['heatmap_url']}",
    }
    assert len(anna["externalId"]) == 36
    someone = activity_payload(views["someone"], SETTINGS)
    assert "contact" not in someone and someone["client"] == 7
    assert someone["value"] == ("Someone watched Tour (40%) Heatmap: "
                                "https://api.wistia.com/v1/stats/events/someone/iframe.html?public_token=pub")


def test_posts_each_view_once_and_records_the_upsales_id(ready):
    upsales = FakeUpsales()
    sink = MarketingEventSink(upsales, SETTINGS)
    stats = post_new_views(ready.con, sink, DAY, DAY, "run-1", LOG)
    assert (stats["new"], stats["posted"]) == (3, 3)
    assert ledger(ready) == {"anna": ("posted", "100"), "someone": ("posted", "101"), "erik": ("posted", "102")}
    again = post_new_views(ready.con, sink, DAY, DAY, "run-2", LOG)
    assert (again["new"], again["posted"], len(upsales.events)) == (0, 0, 3)
    db.run_script(ready.con, "view_outcomes", {"first": DAY, "last": DAY, "destinations": ["activities"],
                                               "run_id": "run-2"})
    assert set(ready.rows("SELECT outcome FROM view_outcomes")) == {("already_synced",)}


def test_lost_response_is_found_by_external_id_and_not_posted_again(ready):
    upsales = FakeUpsales()
    sink = MarketingEventSink(upsales, SETTINGS)
    lost = MarketingEventSink.payload(sink, dict(zip(
        [d[0] for d in ready.con.execute("SELECT * FROM filtered_views WHERE event_key='anna'").description],
        ready.con.execute("SELECT * FROM filtered_views WHERE event_key='anna'").fetchone())))["externalId"]
    upsales.store_then_fail.add(lost)
    first = post_new_views(ready.con, sink, DAY, DAY, "run-1", LOG)
    assert first["failed"] == 1 and ledger(ready)["anna"] == ("in_flight", None)
    upsales.store_then_fail.clear()
    assert reconcile_in_flight(ready.con, sink, "run-2") == {"found": 1, "missing": 0, "withdrawn": 0}
    post_new_views(ready.con, sink, DAY, DAY, "run-2", LOG)
    assert [e["externalId"] for e in upsales.events].count(lost) == 1
    assert ledger(ready)["anna"] == ("posted", "100")


def test_transient_failure_is_retried_by_the_next_run_and_permanent_one_is_not(ready):
    upsales = FakeUpsales()
    sink = MarketingEventSink(upsales, SETTINGS)
    ids = {k: v for k, v in ready.rows("SELECT event_key, event_key FROM filtered_views")}
    from wistia_pipeline.rules import external_id
    upsales.fail[external_id(ids["erik"])] = ApiError("Upsales 500", service="Upsales", status=500)
    upsales.fail[external_id(ids["someone"])] = ApiError("Upsales 400: bad client", service="Upsales", status=400)
    stats = post_new_views(ready.con, sink, DAY, DAY, "run-1", LOG)
    assert (stats["posted"], stats["failed"], stats["rejected"]) == (1, 1, 1)
    assert ledger(ready)["erik"][0] == "in_flight" and ledger(ready)["someone"][0] == "rejected"
    db.run_script(ready.con, "view_outcomes", {"first": DAY, "last": DAY, "destinations": ["activities"],
                                               "run_id": "run-1"})
    outcomes = dict(ready.rows("SELECT event_key, outcome || ':' || coalesce(reason, '') FROM view_outcomes"))
    assert outcomes == {"anna": "synced:", "erik": "failed:post_unconfirmed", "someone": "failed:rejected_by_upsales"}
    upsales.fail.clear()
    assert reconcile_in_flight(ready.con, sink, "run-2") == {"found": 0, "missing": 1, "withdrawn": 0}
    again = post_new_views(ready.con, sink, DAY, DAY, "run-2", LOG)
    assert (again["new"], again["posted"]) == (1, 1)
    assert ledger(ready)["erik"][0] == "posted" and ledger(ready)["someone"][0] == "rejected"


def test_auth_error_stops_posting_at_once(ready):
    upsales = FakeUpsales()
    sink = MarketingEventSink(upsales, SETTINGS)
    upsales.create_event = lambda payload: (_ for _ in ()).throw(
        AuthError("Upsales rejected the API key (401)", service="Upsales", status=401))
    with pytest.raises(AuthError):
        post_new_views(ready.con, sink, DAY, DAY, "run-1", LOG)


def test_outcomes_give_every_view_one_reason(ready):
    ready.events([
        event(DAY, key="anon"), event(DAY, key="bad", conversion_email="foo@"),
        event(DAY, key="gmail", conversion_email="x@gmail.com"),
        event(DAY, key="anna", conversion_email="anna@acme.se", percent=0.575, media_name="Tour", seconds=100),
    ])
    ready.run("converted_views", "matched_views", "filtered_views")
    post_new_views(ready.con, MarketingEventSink(FakeUpsales(), SETTINGS), DAY, DAY, "run-1", LOG)
    db.run_script(ready.con, "view_outcomes", {"first": DAY, "last": DAY, "destinations": ["activities"],
                                               "run_id": "run-1"})
    outcomes = dict(ready.rows("SELECT event_key, coalesce(reason, outcome) FROM view_outcomes"))
    assert outcomes == {"anon": "not_converted", "bad": "invalid_email", "gmail": "personal_domain", "anna": "synced"}


def test_a_lost_ledger_finds_the_posted_views_in_upsales_instead_of_posting_again(ready):
    upsales = FakeUpsales()
    sink = MarketingEventSink(upsales, SETTINGS)
    post_new_views(ready.con, sink, DAY, DAY, "run-1", LOG)
    ready.con.execute("DELETE FROM synced_ledger")  # the DuckDB file was lost
    again = post_new_views(ready.con, sink, DAY, DAY, "run-2", LOG)
    assert (again["new"], again["posted"], again["found_in_upsales"]) == (3, 0, 3)
    assert len(upsales.events) == 3 and set(ledger(ready).values()) == {
        ("posted", "100"), ("posted", "101"), ("posted", "102")}


def refusal(key: str) -> ApiError:
    return ApiError(f"Upsales returned 400 for POST /v2/events: Missing required field: regDate ({key})",
                    service="Upsales", status=400)


def many_views(stage_db, n: int) -> list[str]:
    keys = [f"v{i:02d}" for i in range(n)]
    stage_db.events([event(DAY, key=k, conversion_email="anna@acme.se", percent=0.5, seconds=100 + i)
                     for i, k in enumerate(keys)])
    stage_db.contacts([contact(1, "anna@acme.se", 7, name="Anna Berg")])
    stage_db.run("converted_views", "matched_views", "filtered_views")
    return keys


def test_refusals_with_nothing_accepted_reject_nothing_and_stay_queued(stage_db):
    from wistia_pipeline.rules import external_id
    keys = many_views(stage_db, 3)
    upsales = FakeUpsales()
    upsales.fail = {external_id(k): refusal(k) for k in keys}
    stats = post_new_views(stage_db.con, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-1", LOG)
    assert (stats["posted"], stats["rejected"], stats["refused_retryable"], stats["failed"]) == (0, 0, 3, 3)
    assert stats["systematic"] is None  # three in a row: not yet the run's refusal
    assert {s for s, _ in ledger(stage_db).values()} == {"pending"}
    (history,) = stage_db.rows("SELECT count(*) FROM ledger_attempts WHERE outcome = 'refused'")
    assert history == (3,)
    upsales.fail.clear()  # Upsales accepts again: the next run posts all three
    again = post_new_views(stage_db.con, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-2", LOG)
    assert again["posted"] == 3 and {s for s, _ in ledger(stage_db).values()} == {"posted"}


def test_five_refusals_in_a_row_stop_the_destination_and_leave_the_streak_queued(stage_db):
    from wistia_pipeline.rules import external_id
    keys = many_views(stage_db, 12)
    upsales = FakeUpsales()
    upsales.fail = {external_id(k): refusal(k) for k in keys[1:2] + keys[3:]}  # v00 ok, v01 no, v02 ok, rest no
    stats = post_new_views(stage_db.con, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-1", LOG)
    assert "refused 5 posts in a row" in stats["systematic"] and "Missing required field: regDate" in stats["systematic"]
    # v01 was refused while Upsales accepted others: the view's own fault. The streak after the last
    # accepted post (v03..v07) is the run's: queued again; v08..v11 were never attempted.
    assert (stats["posted"], stats["rejected"], stats["refused_retryable"], stats["not_attempted"]) == (2, 1, 5, 4)
    statuses = {k: s for k, (s, _) in ledger(stage_db).items()}
    assert statuses == {"v00": "posted", "v01": "rejected", "v02": "posted",
                        **{k: "pending" for k in keys[3:]}}
    assert len(upsales.events) == 2


def test_a_trailing_refusal_in_a_run_that_posted_is_the_view_s_own(stage_db):
    from wistia_pipeline.rules import external_id
    keys = many_views(stage_db, 3)
    upsales = FakeUpsales()
    upsales.fail = {external_id(keys[2]): refusal(keys[2])}
    stats = post_new_views(stage_db.con, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-1", LOG)
    assert (stats["posted"], stats["rejected"], stats["refused_retryable"]) == (2, 1, 0)
    assert ledger(stage_db)["v02"] == ("rejected", None)


@pytest.mark.parametrize("status", [404, 409, 500, 503])
def test_a_gateway_conflict_or_server_error_never_rejects(stage_db, status):
    from wistia_pipeline.rules import external_id
    keys = many_views(stage_db, 2)
    upsales = FakeUpsales()
    upsales.fail = {external_id(k): ApiError(f"Upsales returned {status}", service="Upsales", status=status)
                    for k in keys}
    stats = post_new_views(stage_db.con, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-1", LOG)
    assert stats["rejected"] == 0 and {s for s, _ in ledger(stage_db).values()} == {"in_flight"}


def test_a_queued_view_is_posted_after_its_day_left_the_window(stage_db):
    """Queued on day D by a run that could not post it; the next run's window no longer holds D."""
    keys = many_views(stage_db, 2)
    upsales = FakeUpsales()
    upsales.fail = {k: ApiError("down", service="Upsales", status=503) for k in []}
    from wistia_pipeline.sinks.posting import enqueue
    assert enqueue(stage_db.con, "activities", DAY, DAY) == 2  # the run stopped right after queueing
    later = DAY.replace(day=DAY.day + 1)
    stats = post_new_views(stage_db.con, MarketingEventSink(upsales, SETTINGS), later, later, "run-2", LOG)
    assert (stats["posted"], stats["carried_over"]) == (2, 2)
    assert {s for s, _ in ledger(stage_db).values()} == {"posted"} and len(upsales.events) == len(keys)


def test_a_queued_view_that_no_longer_qualifies_is_withdrawn_not_posted(stage_db):
    many_views(stage_db, 2)
    from wistia_pipeline.sinks.posting import enqueue
    enqueue(stage_db.con, "activities", DAY, DAY)
    stage_db.run("filtered_views", min_percent=90)  # the minimum % was raised: neither qualifies now
    upsales = FakeUpsales()
    stats = post_new_views(stage_db.con, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-2", LOG)
    assert stats["new"] == 0 and ledger(stage_db) == {} and upsales.events == []
