"""wistia_events typing and dedupe; converted_views: the Turnstile rule and email checks."""

from wistia_pipeline_tests.factories import event
from wistia_pipeline_tests.stages.conftest import DAY


def test_events_are_typed_and_raw_json_is_kept(stage_db):
    e = event(DAY, conversion_email="anna@acme.se", percent=0.83, seconds=3600)
    stage_db.events([e])
    (received_at, percent, raw_key), = stage_db.rows(
        "SELECT received_at, percent_viewed, raw->>'event_key' FROM wistia_events")
    assert str(received_at) == f"{DAY} 01:00:00"
    assert percent == 0.83
    assert raw_key == e["event_key"]


def test_received_at_with_and_without_milliseconds_or_an_offset(stage_db):
    a = event(DAY, key="a"); a["received_at"] = f"{DAY}T22:42:53Z"
    b = event(DAY, key="b"); b["received_at"] = f"{DAY}T22:42:53.000Z"
    c = event(DAY, key="c"); c["received_at"] = f"{DAY}T23:42:53+01:00"
    d = event(DAY, key="d"); d["received_at"] = "yesterday-ish"
    stage_db.events([a, b, c, d])
    got = dict(stage_db.rows("SELECT event_key, CAST(received_at AS VARCHAR) FROM wistia_events"))
    assert got == {"a": f"{DAY} 22:42:53", "b": f"{DAY} 22:42:53", "c": f"{DAY} 22:42:53", "d": None}


def test_duplicate_event_key_keeps_the_copy_with_the_highest_percent(stage_db):
    low = event(DAY, key="k1", percent=0.2, conversion_email="a@acme.se")
    high = dict(low, percent_viewed=0.7)
    stage_db.events([low, event(DAY, key="k2")], [high])  # the shifted page repeats k1
    assert stage_db.rows("SELECT event_key, percent_viewed FROM wistia_events ORDER BY 1") == [("k1", 0.7), ("k2", 0.5)]


def test_turnstile_conversion_rules(stage_db):
    stage_db.events([
        event(DAY, key="data-email", conversion_email="Anna@Acme.se"),
        event(DAY, key="type-and-email", email="erik@acme.se", conversion_type="turnstile"),
        event(DAY, key="numeric-type", email="sara@acme.se", conversion_type=1),
        event(DAY, key="zero-type", email="olle@acme.se", conversion_type=0),
        event(DAY, key="email-only", email="wemail@acme.se"),
        event(DAY, key="anonymous"),
        event(DAY, key="data-wins", email="other@acme.se", conversion_email="first@acme.se"),
        event(DAY, key="blank-data-email", email="karin@acme.se", conversion_type="turnstile",
              conversion_data={"email": "  "}),
    ])
    stage_db.run("converted_views")
    converted = dict(stage_db.rows("SELECT event_key, email FROM converted_views"))
    assert converted == {
        "data-email": "Anna@Acme.se",
        "type-and-email": "erik@acme.se",
        "numeric-type": "sara@acme.se",
        "data-wins": "first@acme.se",
        "blank-data-email": "karin@acme.se",
    }
    assert stage_db.reasons("converted_views") == {
        "zero-type": "not_converted", "email-only": "not_converted", "anonymous": "not_converted"}


def test_email_is_trimmed_and_lowered_for_matching(stage_db):
    stage_db.events([event(DAY, key="k", conversion_email="  Anna.Berg@ACME.se \t")])
    stage_db.run("converted_views")
    assert stage_db.rows("SELECT email, email_lower, email_domain FROM converted_views") == [
        ("Anna.Berg@ACME.se", "anna.berg@acme.se", "acme.se")]


def test_invalid_emails_stop_with_invalid_email(stage_db):
    bad = ["foo@", "a@b@c", "erik@nodot", "anna berg@acme.se", "@acme.se", "x@acme..se"]
    stage_db.events([event(DAY, key=f"bad{i}", conversion_email=e) for i, e in enumerate(bad)]
                    + [event(DAY, key="good", conversion_email="ok@acme.se")])
    stage_db.run("converted_views")
    assert [k for (k,) in stage_db.rows("SELECT event_key FROM converted_views")] == ["good"]
    assert stage_db.reasons("converted_views") == {f"bad{i}": "invalid_email" for i in range(len(bad))}


def test_each_view_is_dated_by_the_utc_day_of_its_received_at(stage_db):
    """Wistia's days may not be UTC days: a view listed under one day but received on the next (UTC)
    belongs to the next day, and one outside the days rewritten is left to the runs of its own day."""
    from datetime import timedelta

    next_day = DAY + timedelta(days=1)
    late = event(DAY, key="late"); late["received_at"] = f"{next_day}T00:30:00Z"
    early = event(DAY, key="early"); early["received_at"] = f"{DAY}T00:30:00+02:00"  # 22:30 UTC the day before
    kept = event(DAY, key="kept")
    unparsed = event(DAY, key="unparsed"); unparsed["received_at"] = "soon"
    stage_db.events([late, early, kept, unparsed])  # rewrites DAY only
    assert dict(stage_db.rows("SELECT event_key, day FROM wistia_events")) == {"kept": DAY, "unparsed": DAY}
    stage_db.con.execute("DELETE FROM _wistia_event_pages")
    from wistia_pipeline.stages.events import stage_pages
    import json
    stage_pages(stage_db.con, [(DAY, 1, json.dumps([late, early, kept, unparsed]))])
    from wistia_pipeline import db
    db.rewrite_days(stage_db.con, "wistia_events", DAY - timedelta(days=1), next_day)
    assert dict(stage_db.rows("SELECT event_key, day FROM wistia_events")) == {
        "late": next_day, "early": DAY - timedelta(days=1), "kept": DAY, "unparsed": DAY}
