"""A user's first real sync (issue #11, part 2): `sync --dry-run` posts nothing and shows what
it would post; `sync --only EMAIL` posts that viewer's views alone and reads each one back; then
the full sync posts the rest, nothing twice."""

from __future__ import annotations

import json

import duckdb
import pytest

from wistia_pipeline import cli

pytestmark = pytest.mark.e2e

ANNA = "anna.berg@acme.se"


def writes(sandbox) -> int:
    return sum(1 for r in sandbox.upsales.requests if r.method in ("POST", "PUT", "DELETE"))


def ledger(db_path) -> list[tuple]:
    with duckdb.connect(db_path, config={"custom_user_agent": "dagster"}) as con:
        return con.execute("SELECT destination, event_key, status FROM synced_ledger ORDER BY ALL").fetchall()


def test_a_dry_run_posts_nothing_and_shows_what_it_would_post(demo, sandbox, pipeline_env, capsys):
    assert cli.main(["sync", "--dry-run"]) == 0
    out = capsys.readouterr().out
    first = demo.expected["first_run"][-1]
    assert f"activities: would post {first}" in out
    assert f"forms: would submit {demo.expected['forms_first_run'][-1]}" in out
    assert writes(sandbox) == 0  # not one POST, not even a form created
    assert ledger(pipeline_env["WISTIA_PIPELINE_DB"]) == []
    payloads = [json.loads(line) for line in out.splitlines() if line.startswith("  {")]
    activities = [p for p in payloads if p.get("entityType") == "MarketingCustom"]
    assert len(activities) == 10 and all(len(p["externalId"]) == 36 and p["score"] == 10 for p in activities)
    assert sandbox.upsales.token not in out and sandbox.wistia.token not in out
    assert out.splitlines()[-1] == "Dry run: nothing was posted and the ledger was not written."

    report = cli.run_sync(min(demo.days), max(demo.days))  # a real sync afterwards posts the same views
    assert report.success and report.posted["activities"] == first


def test_only_one_viewer_is_posted_and_read_back_then_the_rest(demo, sandbox, pipeline_env, capsys):
    assert cli.main(["sync", "--only", " Anna.Berg@ACME.se "]) == 0
    out = capsys.readouterr().out
    anna_events = [e for e in sandbox.upsales.events if (e.get("contacts") or [{}])[0].get("email") == ANNA]
    assert anna_events and len(sandbox.upsales.events) == len(anna_events)  # hers alone
    for event in anna_events:
        assert f"posted as Upsales id {event['id']}, found again in Upsales" in out
    anna_submissions = [s for s in sandbox.upsales.form_submits
                        if any(f["name"] == "Contact.email" and f["value"].strip().lower() == ANNA
                               for f in s["fieldValues"])]
    assert len(sandbox.upsales.form_submits) == len(anna_submissions) > 0

    report = cli.run_sync(min(demo.days), max(demo.days))
    assert report.success, report.error
    assert len(sandbox.upsales.events) == demo.expected["first_run"][-1]  # the rest, none twice
    assert len({e["externalId"] for e in sandbox.upsales.events}) == len(sandbox.upsales.events)
