"""The tolerant readers the sinks and `probe` share: externalId at the top level or inside
`marketingCustom`; a submission's field values by `name` or by `fieldId` (mapped with the form)."""

from __future__ import annotations

from wistia_pipeline.clients import readback
from wistia_pipeline.sinks.forms import EVENT_KEY_FIELD, submitted_event_key

FORM = {"id": 3, "fields": [{"name": "Contact.email", "id": 3001}, {"name": EVENT_KEY_FIELD, "id": "3007"},
                            {"name": "Client.name"}]}  # recorded forms list fields without ids


def test_external_id_at_the_top_level_or_inside_marketing_custom():
    assert readback.event_external_id({"id": 1, "externalId": "a"}) == "a"
    assert readback.event_external_id({"id": 1, "marketingCustom": {"externalId": "b"}}) == "b"
    assert readback.event_external_id({"externalId": None, "marketingCustom": [{"x": 1}, {"externalId": "c"}]}) == "c"
    assert readback.event_external_id({"id": 1}) is None and readback.event_external_id("junk") is None
    assert readback.external_id_location({"externalId": "a"}) == "top level"
    assert readback.external_id_location({"marketingCustom": {"externalId": "b"}}) == "marketingCustom"
    assert readback.external_id_location({}) is None


def test_form_field_names_keep_only_fields_with_a_numeric_id():
    assert readback.form_field_names(FORM) == {3001: "Contact.email", 3007: EVENT_KEY_FIELD}
    assert readback.form_field_names({"fields": None}) == {} and readback.form_field_names(None) == {}


def test_field_values_by_name_or_by_field_id():
    by_name = {"fieldValues": [{"name": EVENT_KEY_FIELD, "value": "k1"}, {"name": "Contact.email", "value": "a@b.se"}]}
    by_id = {"fieldValues": [{"fieldId": 3007, "value": "k2"}, {"fieldId": "3001", "value": "a@b.se"},
                             {"fieldId": 9999, "value": "unknown field"}, "junk"]}
    names = readback.form_field_names(FORM)
    assert submitted_event_key(by_name) == "k1"
    assert not readback.needs_field_names(by_name) and readback.needs_field_names(by_id)
    assert submitted_event_key(by_id) is None  # ids without the form's fields name nothing
    assert submitted_event_key(by_id, names) == "k2"
    assert readback.field_values(by_id, names) == {EVENT_KEY_FIELD: "k2", "Contact.email": "a@b.se"}
    # a `fieldId` that is itself a field name, and an empty first value, as before
    assert submitted_event_key({"fieldValues": [{"fieldId": EVENT_KEY_FIELD, "value": ""},
                                                {"fieldId": EVENT_KEY_FIELD, "value": "k3"}]}) == "k3"
    assert submitted_event_key({"fieldValues": None}) is None


def test_a_form_score_is_a_whole_number_or_unknown():
    """Issue #15: no recorded form shows `score`; an unreadable one is unknown, never 0."""
    assert [readback.form_score({"score": v}) for v in (25, 0, 25.0, "25", " 7 ")] == [25, 0, 25, 25, 7]
    assert [readback.form_score(f) for f in ({}, {"score": None}, {"score": True}, {"score": 2.5},
                                              {"score": "ten"}, None, [])] == [None] * 7
