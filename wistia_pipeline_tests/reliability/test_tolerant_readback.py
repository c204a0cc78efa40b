"""The pipeline's own read-back is tolerant where Upsales' answer shape is unverified: an event's
`externalId` inside `marketingCustom`, a submission's field values by `fieldId`. With both quirks
on in the sandbox, a lost DuckDB file still posts nothing twice (each post is found again)."""

from __future__ import annotations

import os

import pytest

from wistia_pipeline.clients.upsales import UpsalesClient

pytestmark = pytest.mark.e2e  # whole Dagster runs against the sandbox

TOLERATED = ("external_id_in_marketing_custom", "field_values_by_id")


def test_a_lost_duckdb_file_posts_nothing_twice_with_the_tolerated_shapes(sandbox, world, run):
    sandbox.upsales.quirks.update(TOLERATED)
    run.until_complete("first, with the read-back quirks on")
    os.remove(run.db_path)
    again = run.until_complete("after the DuckDB file was lost, with the read-back quirks on")
    assert again.posted == {"activities": 0, "forms": 0}

    # The answers the second run read really had the other shapes.
    client = UpsalesClient(sandbox.upsales_url, sandbox.upsales.token)
    posted = sandbox.upsales.events[0]["externalId"]
    [event] = client.find_events_by_external_ids([posted])
    assert "externalId" not in event and event["marketingCustom"] == {"externalId": posted}
    form_id = sandbox.upsales.form_submits[0]["formId"]
    [first, *_] = next(client.iter_form_submits(form_id))
    assert all("fieldId" in value and "name" not in value for value in first["fieldValues"])
    client.close()
