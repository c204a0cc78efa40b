"""Issue #13: a scheduled run spends Upsales look-ups only on views whose outcome can still change.

The look-ups (email or domain, answer, when) are kept in DuckDB: a run right after a sync asks
Upsales nothing about contacts; a view that found no contact is asked about again once its answer
is older than CONTACT_REFRESH_MINUTES (late binding); and an old answer never sends a view to a
contact deactivated since. Answers are aged in the DuckDB file, so no test waits or depends on
the time of day.
"""

from __future__ import annotations

from wistia_pipeline.rules import external_id
from wistia_pipeline_tests.factories import contact, event
from wistia_pipeline_tests.reliability.world import connect

CONTACTS = "/v2/contacts"


def contact_lookups(sandbox) -> int:
    return sandbox.upsales.request_count(CONTACTS, method="GET")


def age_lookups(db_path: str, minutes: int) -> None:
    """Make every kept answer `minutes` older, as if the runs had happened that long ago."""
    with connect(db_path) as con:
        con.execute("UPDATE upsales_lookups SET looked_up_at = looked_up_at - to_minutes(?)", [minutes])


def ledger_row(db_path: str, key: str) -> tuple | None:
    with connect(db_path) as con:
        return con.execute("SELECT status, contact_id, client_id FROM synced_ledger "
                           "WHERE destination = 'activities' AND event_key = ?", [key]).fetchone()


def posted_entry(sandbox, key: str) -> dict | None:
    return next((e for e in sandbox.upsales.events if e.get("externalId") == external_id(key)), None)


def new_view(sandbox, world, key: str, email: str) -> None:
    sandbox.wistia.add_events([event(world.first, key=key, conversion_email=email, percent=0.9,
                                     media_id="tourmedia1", media_name="Product tour", seconds=9000)])


def test_a_run_right_after_a_sync_makes_no_contact_lookups(sandbox, world, run):
    assert run().success
    first = contact_lookups(sandbox)
    assert first > 0
    report = run()
    assert report.success
    assert contact_lookups(sandbox) == first  # every answer is kept and still fresh
    assert run().success and contact_lookups(sandbox) == first


def test_views_that_cannot_change_are_never_looked_up_again_even_when_old(sandbox, world, run, pipeline_env):
    """Once every view of an email is posted (or rejected), its answer is final; a view below the
    minimum % or on a project not enabled is never posted whatever Upsales says: aging their
    answers costs nothing (the world's: anna, one view below 25 %, and karl, one in a project not
    enabled). Only someone.else@gmail.com, unmatched and passing the filters, is asked again: a
    contact may have been created for it since (one batch call; a personal domain, no domain call)."""
    assert run().success
    age_lookups(pipeline_env["WISTIA_PIPELINE_DB"], 24 * 60)
    before = contact_lookups(sandbox)
    assert run().success
    asked = [r.query for r in sandbox.upsales.requests[-200:] if r.method == "GET" and CONTACTS in r.path]
    assert contact_lookups(sandbox) - before == 1, asked
    assert '["someone.else@gmail.com"]' in asked[-1]["q"][0], asked


def test_a_setting_that_lets_a_view_through_asks_again_for_its_old_answer(sandbox, world, run, pipeline_env,
                                                                          monkeypatch):
    """The filters are read each run: when MIN_PERCENT_WATCHED drops, anna's view below the old
    minimum may now be posted, so her old answer is asked again before it is (one batch call;
    no domain call, anna has an exact contact)."""
    assert run().success
    age_lookups(pipeline_env["WISTIA_PIPELINE_DB"], 24 * 60)
    monkeypatch.setenv("MIN_PERCENT_WATCHED", "0")
    before = contact_lookups(sandbox)
    assert run().success
    asked = [r.query for r in sandbox.upsales.requests[-200:] if r.method == "GET" and CONTACTS in r.path]
    assert contact_lookups(sandbox) - before == 1, asked
    assert "anna.berg@acme.se" in str(asked[-1]).lower() and "karl" not in str(asked[-1]).lower()


def test_a_contact_created_later_is_matched_after_the_refresh_interval(sandbox, world, run, pipeline_env):
    db_path = pipeline_env["WISTIA_PIPELINE_DB"]
    new_view(sandbox, world, "late-binding", "new.person@brandnew.se")
    assert run().success
    assert ledger_row(db_path, "late-binding") is None  # no_match: nothing queued

    sandbox.upsales.add_contacts([contact(10, "new.person@brandnew.se", 8, name="New Person")])
    before = contact_lookups(sandbox)
    assert run().success
    assert contact_lookups(sandbox) == before  # within the interval: the kept answer stands
    assert ledger_row(db_path, "late-binding") is None

    age_lookups(db_path, 61)  # the default interval (60 minutes) has passed
    assert run().success
    assert contact_lookups(sandbox) > before
    assert ledger_row(db_path, "late-binding") == ("posted", 10, 8)
    assert posted_entry(sandbox, "late-binding") is not None


def test_refresh_minutes_zero_looks_up_every_run(sandbox, world, run, pipeline_env, monkeypatch):
    monkeypatch.setenv("CONTACT_REFRESH_MINUTES", "0")
    new_view(sandbox, world, "late-binding", "new.person@brandnew.se")
    assert run().success
    sandbox.upsales.add_contacts([contact(10, "new.person@brandnew.se", 8, name="New Person")])
    assert run().success
    assert ledger_row(pipeline_env["WISTIA_PIPELINE_DB"], "late-binding") == ("posted", 10, 8)


def test_a_contact_deactivated_after_a_cached_match_is_not_posted_to(sandbox, world, run, pipeline_env):
    db_path = pipeline_env["WISTIA_PIPELINE_DB"]
    assert run().success
    anna = next(key for key in world.activity_keys if key.endswith("contact0"))
    assert ledger_row(db_path, anna)[1] == 1  # anna.berg@acme.se was posted to contact 1

    sandbox.upsales.contacts[1]["active"] = 0
    new_view(sandbox, world, "after-deactivation", "anna.berg@acme.se")
    age_lookups(db_path, 61)  # the match of anna's email is older than the interval
    assert run().success
    status, contact_id, client_id = ledger_row(db_path, "after-deactivation")
    # Looked up again first: anna is no longer an active contact, so the view goes to her
    # company anonymously (johan.sjoberg@acme.se keeps Acme's domain at account 7).
    assert (status, contact_id, client_id) == ("posted", None, 7)
    entry = posted_entry(sandbox, "after-deactivation")
    assert entry is not None and not entry.get("contacts") and entry.get("contact") in (None, "")


def test_each_run_counts_its_calls_per_api_and_endpoint(sandbox, world, run, pipeline_env):
    from wistia_pipeline.cli import format_report

    before = {m: sandbox.upsales.request_count("/v2/", method=m) for m in ("GET", "POST")}
    report = run()
    assert report.success
    upsales = report.calls["upsales"]
    assert upsales["GET /v2/contacts"] > 0 and upsales["POST /v2/events"] == len(world.activity_keys)
    # Every Upsales request the sandbox saw is counted once, under its endpoint.
    assert sum(n for e, n in upsales.items() if e.startswith("GET /v2/")) == \
        sandbox.upsales.request_count("/v2/", method="GET") - before["GET"]
    assert report.calls["wistia"]["GET /stats/events.json"] > 0
    text = format_report(report)
    assert f"Upsales calls this run: {sum(upsales.values())} (" in text
    assert "GET /v2/contacts " in text and "Wistia calls this run: " in text
    with connect(pipeline_env["WISTIA_PIPELINE_DB"]) as con:
        kept = con.execute("SELECT sum(calls) FROM run_calls WHERE run_id = ? AND api = 'upsales'",
                           [report.run_id]).fetchone()[0]
    assert kept == sum(upsales.values())

    again = run()  # right after: no contact look-ups, and the summary says so
    assert "GET /v2/contacts" not in again.calls["upsales"]
