"""synced_ledger's posting loop: several posts in flight, each claimed first, slow start, stops."""

import logging
import threading
import time

import pytest

from wistia_pipeline.clients.http import ApiError
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks.marketing_events import MarketingEventSink
from wistia_pipeline.sinks.posting import MAX_CONSECUTIVE_TRANSIENT_FAILURES, POST_BATCH, POST_THREADS, post_new_views
from wistia_pipeline_tests.factories import contact, event
from wistia_pipeline_tests.stages.conftest import DAY

SETTINGS = Settings(activity_score=15, wistia_public_token="pub")
LOG = logging.getLogger("test")
VIEWS = 30


class SlowUpsales:
    """Stores events after `latency` seconds; counts the posts in flight at once."""

    def __init__(self, latency: float = 0.0, fail_with: Exception | None = None, on_post=None):
        self.latency, self.fail_with, self.on_post = latency, fail_with, on_post
        self.events: list[dict] = []
        self.attempts = self.in_flight = self.peak = 0
        self.lock = threading.Lock()

    def create_event(self, payload):
        with self.lock:
            self.attempts += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            if self.on_post:
                self.on_post(payload)
            time.sleep(self.latency)
            if self.fail_with is not None:
                raise self.fail_with
            with self.lock:
                self.events.append({**payload, "id": 1000 + len(self.events)})
                return self.events[-1]
        finally:
            with self.lock:
                self.in_flight -= 1

    def find_events_by_external_ids(self, external_ids):
        return [e for e in self.events if e["externalId"] in external_ids]


@pytest.fixture
def many(stage_db):
    """VIEWS views by known contacts, all of them sync candidates."""
    stage_db.events([event(DAY, key=f"v{n:03}", conversion_email=f"p{n}@acme.se", seconds=10 * n)
                     for n in range(VIEWS)])
    stage_db.contacts([contact(n + 1, f"p{n}@acme.se", 7) for n in range(VIEWS)])
    stage_db.run("converted_views", "matched_views", "filtered_views")
    return stage_db


def statuses(stage_db) -> dict[str, int]:
    return dict(stage_db.rows("SELECT status, count(*) FROM synced_ledger GROUP BY status"))


def test_several_posts_are_in_flight_at_once_but_never_more_than_post_threads(many):
    upsales = SlowUpsales(latency=0.05)  # long next to a ledger write: the slots refill while posts wait
    stats = post_new_views(many.con, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-1", LOG)
    assert (stats["new"], stats["posted"], len(upsales.events)) == (VIEWS, VIEWS, VIEWS)
    assert upsales.peak == POST_THREADS
    assert statuses(many) == {"posted": VIEWS}


def test_each_view_is_claimed_in_a_committed_ledger_row_before_its_post_leaves(many):
    seen: list[str] = []

    def look(payload):  # from the worker thread, on a connection of its own: only committed rows show
        reader = many.con.cursor()
        try:
            seen.append(reader.execute("SELECT status FROM synced_ledger WHERE external_id = ?",
                                       [payload["externalId"]]).fetchone()[0])
        finally:
            reader.close()

    upsales = SlowUpsales(on_post=look)
    post_new_views(many.con, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-1", LOG)
    assert seen == ["in_flight"] * VIEWS


def test_a_down_upsales_gets_a_few_posts_one_at_a_time_then_none(many):
    upsales = SlowUpsales(fail_with=ApiError("Upsales POST /v2/events answered 503", service="Upsales", status=503))
    stats = post_new_views(many.con, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-1", LOG)
    assert upsales.attempts == MAX_CONSECUTIVE_TRANSIENT_FAILURES and upsales.peak == 1
    assert (stats["posted"], stats["failed"]) == (0, VIEWS)
    # The views tried are in flight (looked up next run); the others stay queued for the next run.
    assert statuses(many) == {"in_flight": MAX_CONSECUTIVE_TRANSIENT_FAILURES,
                              "pending": VIEWS - MAX_CONSECUTIVE_TRANSIENT_FAILURES}


def test_a_bug_in_one_post_stops_the_run_after_recording_the_posts_in_flight(many):
    calls = iter(range(10_000))

    def crash_on_the_tenth(payload):
        if next(calls) == 9:
            raise RuntimeError("bug")

    upsales = SlowUpsales(latency=0.01, on_post=crash_on_the_tenth)
    with pytest.raises(RuntimeError, match="bug"):
        post_new_views(many.con, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-1", LOG)
    # Every post that returned is recorded; only the crashed one is left in flight (looked up next
    # run); the views never reached stay queued.
    assert statuses(many) == {"posted": len(upsales.events), "in_flight": 1,
                              "pending": VIEWS - len(upsales.events) - 1}
    assert 9 <= len(upsales.events) < VIEWS


def test_candidates_are_read_in_batches_past_the_first(stage_db):
    views = POST_BATCH + 5
    stage_db.events([event(DAY, key=f"w{n:04}", conversion_email=f"q{n}@acme.se", seconds=n) for n in range(views)])
    stage_db.contacts([contact(n + 1, f"q{n}@acme.se", 7) for n in range(views)])
    stage_db.run("converted_views", "matched_views", "filtered_views")
    upsales = SlowUpsales()
    stats = post_new_views(stage_db.con, MarketingEventSink(upsales, SETTINGS), DAY, DAY, "run-1", LOG)
    assert (stats["new"], stats["posted"]) == (views, views)
    assert len({e["externalId"] for e in upsales.events}) == views
    assert stage_db.rows("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'post_queue'") == [(0,)]
