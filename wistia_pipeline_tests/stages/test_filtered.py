"""filtered_views: minimum % (inclusive) then the project filter, for both branches."""

import pytest

from wistia_pipeline_tests.factories import contact, event
from wistia_pipeline_tests.stages.conftest import DAY

MEDIAS = [
    {"hashed_id": "tour000001", "name": "Tour", "project": {"id": 11, "name": "Product tours", "hashed_id": "ptours0001"}},
    {"hashed_id": "webin00001", "name": "Webinar", "project": {"id": 12, "name": "Webinars", "hashedId": "webin0001p"}},
    {"hashed_id": "train00001", "name": "Training", "project": {"id": 13, "name": "Internal training", "hashedId": "train0001p"}},
]


def filtered(stage_db, events, **options):
    stage_db.events(events)
    stage_db.contacts([contact(1, "anna@acme.se", 7)])
    stage_db.medias(MEDIAS)
    stage_db.run("converted_views", "matched_views")
    stage_db.run("filtered_views", **options)
    kept = {k for (k,) in stage_db.rows("SELECT event_key FROM filtered_views WHERE destination = 'activities'")}
    return kept, stage_db.reasons("filtered_views")


@pytest.mark.parametrize("percent,minimum,passes", [
    (0.57, 57, True), (0.5699, 57, False), (0.25, 25, True), (1.0, 100, True), (0.0, 0, True), (0.1, 25, False)])
def test_minimum_percent_is_inclusive(stage_db, percent, minimum, passes):
    kept, reasons = filtered(stage_db, [event(DAY, key="v", conversion_email="anna@acme.se", percent=percent)],
                             min_percent=minimum)
    assert (kept == {"v"}) is passes
    assert reasons == ({} if passes else {"v": "below_min_percent"})


@pytest.mark.parametrize("entry", ["ptours0001", "11", "Product tours"])
def test_project_filter_accepts_hashed_id_numeric_id_or_name(stage_db, entry):
    kept, reasons = filtered(stage_db, [
        event(DAY, key="tour", conversion_email="anna@acme.se", media_id="tour000001"),
        event(DAY, key="train", conversion_email="anna@acme.se", media_id="train00001"),
    ], projects=(entry,))
    assert kept == {"tour"} and reasons == {"train": "project_not_enabled"}


def test_media_with_hashedId_project_key_is_found(stage_db):
    kept, _ = filtered(stage_db, [event(DAY, key="w", conversion_email="anna@acme.se", media_id="webin00001")],
                       projects=("webin0001p",))
    assert kept == {"w"}


def test_unknown_media_under_a_project_filter_is_unknown_project(stage_db):
    kept, reasons = filtered(stage_db, [event(DAY, key="u", conversion_email="anna@acme.se", media_id="gone000001")],
                             projects=("Product tours",))
    assert kept == set() and reasons == {"u": "unknown_project"}


def test_no_project_filter_keeps_unknown_media(stage_db):
    kept, _ = filtered(stage_db, [event(DAY, key="u", conversion_email="anna@acme.se", media_id="gone000001")])
    assert kept == {"u"}


def test_below_minimum_is_reported_before_the_project(stage_db):
    _, reasons = filtered(stage_db, [event(DAY, key="v", conversion_email="anna@acme.se", percent=0.1,
                                           media_id="train00001")], min_percent=25, projects=("Product tours",))
    assert reasons == {"v": "below_min_percent"}


def test_forms_branch_filters_converted_views_without_matching(stage_db):
    stage_db.events([event(DAY, key="f", conversion_email="nobody@gmail.com", percent=0.9, media_id="tour000001")])
    stage_db.contacts([])
    stage_db.medias(MEDIAS)
    stage_db.run("converted_views", "matched_views")
    stage_db.run("filtered_views", destinations=("activities", "forms"), projects=("Product tours",))
    assert stage_db.rows("SELECT destination, event_key, project_name FROM filtered_views") == [
        ("forms", "f", "Product tours")]
