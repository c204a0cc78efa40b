"""Nothing lost: late views, transient failures, permanent refusals, failed runs, backfills, bad input.

Each test drives whole Dagster runs against the sandbox (small world, both destinations) and ends
with the sandbox and the ledger agreeing on exactly one entry per qualifying view.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import timedelta

import pytest

from wistia_pipeline.rules import external_id
from wistia_pipeline.sandbox import Fault
from wistia_pipeline.sinks.marketing_events import MarketingEventSink
from wistia_pipeline_tests.factories import contact, event
from wistia_pipeline_tests.reliability.world import assert_complete, connect, ledger_rows, submitted_keys

pytestmark = pytest.mark.e2e  # whole Dagster runs against the sandbox


def qualifying(day, key, email="anna.berg@acme.se", seconds=50000, **extra):
    """A view that qualifies for both destinations (Anna's contact, Product tour, 90 %)."""
    return event(day, key=key, conversion_email=email, percent=0.9, media_id="tourmedia1",
                 media_name="Product tour", seconds=seconds, **extra)


def outcomes(db_path, *keys):
    with connect(db_path) as con:
        return {(k, d): (o, r) for k, d, o, r in con.execute(
            "SELECT event_key, destination, outcome, reason FROM view_outcomes "
            "WHERE list_contains(?::VARCHAR[], event_key)", [list(keys)]).fetchall()}


def test_views_that_show_up_late_within_the_lookback_are_posted_by_a_later_run(sandbox, world, run):
    late = [qualifying(world.last, "late-by-time", seconds=60000),
            qualifying(world.first, "late-by-release", email="ole.hansen@fjallsoft.no", seconds=60000)]
    now = [1000.0]
    sandbox.wistia.clock = lambda: now[0]  # the sandbox's clock: an hour passes when the test says
    sandbox.wistia.add_events([late[0]], visible_after=3600)
    sandbox.wistia.add_events([late[1]], hidden=True)
    first = run()
    assert first.success, first.error
    assert first.posted == {"activities": len(world.activity_keys), "forms": len(world.form_keys)}
    assert_complete(sandbox, run.db_path, world, "before the late views")

    now[0] += 3600  # an hour later the first late view has become visible by itself
    assert sandbox.wistia.release_hidden() == 1  # the second one is delivered now
    world.activity_keys |= {"late-by-time", "late-by-release"}
    world.form_keys |= {"late-by-time", "late-by-release"}
    second = run.until_complete("after the late views")
    assert second.posted == {"activities": 2, "forms": 2}


def test_upsales_down_for_posts_stops_that_destination_only_and_the_next_run_catches_up(sandbox, world, run):
    down = Fault(500, count=1000, path_prefix="/v2/events", method="POST")
    sandbox.upsales.inject(down)
    first = run()
    assert not first.success and "the next run retries them" in first.error
    assert down.fired == 3  # three views in a row unconfirmed: posting stops instead of hammering
    assert len(sandbox.upsales.form_submits) == len(world.form_keys)  # the other destination went on
    rows = ledger_rows(run.db_path)
    # Three unconfirmed (looked up first next time), the other nine queued: none without a row.
    assert Counter(s for d, _, s, _ in rows if d == "activities") == {"in_flight": 3, "pending": 9}
    unposted = outcomes(run.db_path, *world.activity_keys)
    assert {o for (k, d), o in unposted.items() if d == "activities"} <= {
        ("failed", "post_unconfirmed"), ("failed", "not_posted")}

    sandbox.upsales.clear_faults()
    run.until_complete("after Upsales came back")


def test_a_view_upsales_refuses_for_good_is_recorded_and_never_retried(sandbox, world, run):
    refusal = '{"error": {"key": "FailedValidation", "code": 400, "errorCode": 26, "msg": "Invalid contact"}, "metadata": null}'
    refused = Fault(400, body=refusal, path_prefix="/v2/events", method="POST", skip=2)
    sandbox.upsales.inject(refused)
    first = run()
    assert refused.fired == 1
    assert not first.success and "rejected by Upsales and are not retried" in first.error
    rows = {(d, k): (s, u) for d, k, s, u in ledger_rows(run.db_path)}
    rejected = [k for (d, k), (s, _) in rows.items() if s == "rejected"]
    assert len(rejected) == 1 and rows[("activities", rejected[0])] == ("rejected", None)
    (key,) = rejected
    with connect(run.db_path) as con:
        (error,) = con.execute("SELECT last_error FROM synced_ledger WHERE event_key = ? AND destination = "
                               "'activities'", [key]).fetchone()
    assert "Invalid contact" in error and "400" in error
    assert outcomes(run.db_path, key)[(key, "activities")] == ("failed", "rejected_by_upsales")
    # Every other view went through, in both destinations.
    assert len(sandbox.upsales.events) == len(world.activity_keys) - 1
    assert len(sandbox.upsales.form_submits) == len(world.form_keys)

    posts_before = sandbox.upsales.request_count("/v2/events", method="POST")
    second = run()
    assert second.success, second.error
    assert sandbox.upsales.request_count("/v2/events", method="POST") == posts_before  # not retried
    assert outcomes(run.db_path, key)[(key, "activities")] == ("failed", "rejected_by_upsales")
    world.activity_keys.discard(key)
    with pytest.raises(AssertionError, match="ledger statuses"):  # the refused row stays, as rejected
        assert_complete(sandbox, run.db_path, world)
    assert [e["externalId"] for e in sandbox.upsales.events].count(external_id(key)) == 0


def test_a_run_that_dies_mid_post_leaves_the_ledger_consistent(sandbox, world, run, monkeypatch):
    """A bug (not an API error) right after a post reached Upsales: the run fails, the view stays
    in flight, and the next run finds it instead of posting it again."""
    original = MarketingEventSink.post
    calls = []

    def post_then_crash(self, payload):
        upsales_id = original(self, payload)
        calls.append(upsales_id)
        if len(calls) == 4:
            raise RuntimeError("the process fell over between the post and the ledger update")
        return upsales_id

    monkeypatch.setattr(MarketingEventSink, "post", post_then_crash)
    first = run()
    assert not first.success and "fell over" in first.error
    statuses = [s for d, _, s, _ in ledger_rows(run.db_path) if d == "activities"]
    # The crashed post stays in flight; the views after it stay queued; every view has its row.
    assert statuses.count("in_flight") == 1 and set(statuses) == {"posted", "in_flight", "pending"}
    assert len(statuses) == len(world.activity_keys)
    monkeypatch.setattr(MarketingEventSink, "post", original)
    run.until_complete("after the crash")


def test_an_upsales_key_revoked_mid_run_stops_it_and_the_next_run_finishes(sandbox, world, run):
    sandbox.upsales.inject(Fault(401, path_prefix="/v2/events", method="POST", skip=3))
    first = run()
    assert not first.success and "Upsales rejected the API key (401)" in first.error
    run.until_complete("after the key works again")


def test_a_backfill_posts_views_older_than_the_lookback_and_nothing_twice(sandbox, world, run, monkeypatch):
    old_day = world.first - timedelta(days=5)
    sandbox.wistia.add_events([qualifying(old_day, "old-view")])
    run.until_complete("the lookback run leaves the old view alone")
    assert "old-view" not in submitted_keys(sandbox)

    monkeypatch.setattr(run.world, "first", old_day)
    world.activity_keys.add("old-view")
    world.form_keys.add("old-view")
    backfill = run.until_complete("the backfill")
    assert backfill.posted == {"activities": 1, "forms": 1}


def test_one_view_reported_on_two_days_is_posted_once(sandbox, world, run):
    """Wistia re-dating a view (it shows up under two days of the window) cannot double-post it."""
    sandbox.wistia.add_events([qualifying(world.first, "redated", seconds=80000),
                               qualifying(world.last, "redated", seconds=100)])
    world.activity_keys.add("redated")
    world.form_keys.add("redated")
    run.until_complete("a view on two days")


def test_a_lost_duckdb_file_posts_nothing_twice(sandbox, world, run):
    run.until_complete("first")
    os.remove(run.db_path)
    again = run.until_complete("after the DuckDB file was lost")
    assert again.posted == {"activities": 0, "forms": 0}


def test_odd_contacts_from_upsales_never_stop_the_others(sandbox, world, run):
    """Contacts with no or odd emails, no account, a name of thousands of characters, a non-object
    item: each is ignored or used as far as it is usable; every other view still syncs."""
    huge_name = "Ö" * 5000
    sandbox.upsales.add_contacts([
        {**contact(40, "huge.name@acme.se", 7), "name": huge_name},
        {**contact(41, "no.account@nordkraft.se", 8), "client": None},
        {**contact(42, "odd.account@nordkraft.se", 8), "client": 8},
        {**contact(43, "", 8), "email": None},
        {**contact(44, "", 9)},
        {**contact(45, "'; DROP TABLE synced_ledger; --@acme.se", 7)},
        {**contact(46, "ÅSA.ÖBERG@FJÄLLSOFT.NO", 9)},
    ])
    views = {"huge": "huge.name@acme.se", "no-account": "no.account@nordkraft.se",
             "odd-account": "odd.account@nordkraft.se", "unicode": "åsa.öberg@fjällsoft.no"}
    sandbox.wistia.add_events([qualifying(world.last, key, email=email, seconds=70000 + n)
                               for n, (key, email) in enumerate(views.items())])
    # The contacts without a usable account fall back to the domain's account (anonymous).
    world.activity_keys |= set(views)
    world.form_keys |= set(views)
    run.until_complete("odd contacts")
    entries = {e["externalId"]: e for e in sandbox.upsales.events}
    huge = entries[external_id("huge")]
    assert len(huge["value"]) <= 512 and huge["value"].startswith("Ö" * 100)
    assert entries[external_id("unicode")]["contacts"][0]["id"] == 46
    assert entries[external_id("no-account")]["contacts"] is None  # matched by domain, anonymously


def test_a_page_of_contacts_holding_junk_items_still_syncs_the_rest(sandbox, world, run):
    sandbox.upsales.inject(Fault(200, path_prefix="/v2/contacts", body=(
        '{"error": null, "metadata": {"total": 3, "limit": 1000, "offset": 0}, '
        '"data": ["not a contact", 42, {"id": null, "email": null, "client": "x"}]}')))
    first = run()
    assert first.success, first.error
    run.until_complete("after a junk page")  # the junk page matched nothing; the rerun matches all
