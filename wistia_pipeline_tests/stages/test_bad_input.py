"""Bad input from Wistia never stops a stage: each bad view gets its reason, the rest go on."""

from wistia_pipeline_tests.factories import contact, event
from wistia_pipeline_tests.stages.conftest import DAY

GOOD = dict(conversion_email="anna@acme.se", media_id="tour000001")


def reasons_after_chain(stage_db, events):
    stage_db.events(events)
    stage_db.contacts([contact(1, "anna@acme.se", 7), contact(2, "åsa@fjällsoft.no", 9)])
    stage_db.run("converted_views", "matched_views", "filtered_views")
    kept = {k for (k,) in stage_db.rows("SELECT event_key FROM filtered_views")}
    return kept, stage_db.reasons()


def test_hostile_and_odd_emails(stage_db):
    kept, reasons = reasons_after_chain(stage_db, [
        event(DAY, key="unicode", conversion_email="Åsa@Fjällsoft.no"),
        event(DAY, key="upper", conversion_email="ANNA@ACME.SE"),
        event(DAY, key="spaces", conversion_email="anna berg@acme.se"),
        event(DAY, key="quotes", conversion_email="\"anna\"@acme.se"),
        event(DAY, key="injection", conversion_email="'; DROP TABLE x; --"),
        event(DAY, key="injection2", conversion_email="x'; DROP TABLE wistia_events; --@acme.se"),
        event(DAY, key="two-ats", conversion_email="anna@acme@se"),
        event(DAY, key="empty", conversion_email=""),
    ])
    assert kept == {"unicode", "upper"}
    assert reasons == {"spaces": "invalid_email", "quotes": "invalid_email", "injection": "invalid_email",
                       "injection2": "invalid_email", "two-ats": "invalid_email", "empty": "not_converted"}
    assert stage_db.rows("SELECT count(*) FROM wistia_events") == [(8,)]  # nothing was dropped


def test_bad_percent_values_are_recorded(stage_db):
    bad = {"above-one": 1.7, "negative": -0.2, "text": "0.5", "null": None}
    kept, reasons = reasons_after_chain(
        stage_db, [event(DAY, key=k, percent=v, **GOOD) for k, v in bad.items()]
        + [event(DAY, key="fine", percent=1.0, **GOOD)])
    assert kept == {"fine"}
    assert reasons == {k: "invalid_percent_viewed" for k in bad}


def test_missing_and_malformed_fields(stage_db):
    no_key = event(DAY, **GOOD)
    del no_key["event_key"]
    null_key = dict(event(DAY, **GOOD), event_key=None)
    bad_time = dict(event(DAY, key="bad-time", **GOOD), received_at="26/11/2026 10:00")
    no_time = event(DAY, key="no-time", **GOOD)
    del no_time["received_at"]
    nulls = {"event_key": "nulls", "received_at": f"{DAY}T10:00:00Z", "email": None, "percent_viewed": 0.5,
             "conversion_type": None, "conversion_data": None, "media_id": None, "media_name": None}
    bare = {"event_key": "bare", "received_at": f"{DAY}T11:00:00Z", "percent_viewed": 0.5}
    kept, reasons = reasons_after_chain(stage_db, [no_key, null_key, bad_time, no_time, nulls, bare,
                                                   event(DAY, key="fine", **GOOD)])
    assert kept == {"fine"}
    missing = {k: r for k, r in reasons.items() if k.startswith("missing-key:")}
    assert list(missing.values()) == ["missing_event_key", "missing_event_key"]
    assert {k: r for k, r in reasons.items() if k not in missing} == {
        "bad-time": "invalid_received_at", "no-time": "invalid_received_at",
        "nulls": "not_converted", "bare": "not_converted"}


def test_very_long_names_and_unknown_media_still_sync(stage_db):
    kept, reasons = reasons_after_chain(stage_db, [
        event(DAY, key="long", media_name="N" * 5000, first_name="F" * 3000, **GOOD),
        event(DAY, key="unknown-media", conversion_email="anna@acme.se", media_id="nowhere"),
    ])
    assert kept == {"long", "unknown-media"} and reasons == {}


def test_a_non_object_item_in_a_page_is_kept_as_a_recorded_problem(stage_db):
    kept, reasons = reasons_after_chain(stage_db, [["not", "an", "event"], 42, event(DAY, key="fine", **GOOD)])
    assert kept == {"fine"}
    assert sorted(reasons.values()) == ["missing_event_key", "missing_event_key"]
