"""Issue #15, part 1: the forms the pipeline creates carry FORM_SCORE, so a submission scores;
a changed FORM_SCORE is PUT once on the pipeline's own forms before their next submission (never a
form re-created), a customer's form of the same name is left alone, and an unchanged setting costs
no call. The forms sink against the sandbox, on an in-memory DuckDB."""

from __future__ import annotations

import logging

import pytest

from wistia_pipeline.clients.upsales import UpsalesClient
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks.forms import DESTINATION, FORM_DESCRIPTION, SINGLE_FORM_NAME, FormSink
from wistia_pipeline.sinks.posting import dry_run_plan, post_new_views
from wistia_pipeline_tests.factories import contact, event
from wistia_pipeline_tests.stages.conftest import DAY

LOG = logging.getLogger("test")
ANNA = "anna.berg@acme.se"


@pytest.fixture
def world(sandbox, stage_db):
    """Anna, a contact of Acme, and a DuckDB whose forms branch holds what `views` stages."""
    sandbox.upsales.add_accounts([{"id": 7, "name": "Acme AB"}])
    sandbox.upsales.add_contacts([contact(1, ANNA, 7, name="Anna Berg")])
    client = UpsalesClient(sandbox.upsales_url, sandbox.env()["UPSALES_API_TOKEN"], customer_id=1234,
                           backoff_base=0.01, backoff_max=0.05)
    staged: list[dict] = []

    class World:
        upsales = sandbox.upsales
        con = stage_db.con

        def views(self, *keys: str) -> None:
            """Add views of Anna's (the day keeps the earlier ones, as Wistia does)."""
            staged.extend(event(DAY, key=k, conversion_email=ANNA, percent=0.9) for k in keys)
            stage_db.events(staged)
            stage_db.run("converted_views", "filtered_views", destinations=("forms",))

        def run(self, score: int, run_id: str, dry_run: bool = False) -> tuple[FormSink, dict]:
            """One run's forms step: posting, or with `dry_run` the plan of what it would post."""
            sink = FormSink(client, Settings(sync_forms=True, form_score=score), stage_db.con, dry_run=dry_run)
            if dry_run:
                return sink, dry_run_plan(stage_db.con, sink, DAY, DAY)
            return sink, post_new_views(stage_db.con, sink, DAY, DAY, run_id, LOG)

        def registry(self) -> list[tuple]:
            return stage_db.rows("SELECT name, created, score FROM upsales_forms ORDER BY name")

        def calls(self, method: str | None = None, path: str | None = None) -> int:
            return sandbox.upsales.request_count(path, method=method)

    yield World()
    client.close()


def puts(world) -> list[str]:
    return [r.path for r in world.upsales.requests if r.method == "PUT"]


def test_a_created_form_carries_form_score_and_a_submission_adds_it_to_the_contact(world):
    world.views("v1")
    sink, stats = world.run(25, "run-1")
    assert stats["posted"] == 1
    [form] = world.upsales.forms
    assert (form["name"], form["score"], form["description"]) == (SINGLE_FORM_NAME, 25, FORM_DESCRIPTION)
    assert world.upsales.form_submits[0]["score"] == 25 and world.upsales.contacts[1]["score"] == 25
    assert world.registry() == [(SINGLE_FORM_NAME, True, 25)]
    assert puts(world) == []  # created with its score: nothing to update
    assert DESTINATION.metadata(sink) == {"forms/created": SINGLE_FORM_NAME, "forms/score": 25,
                                          "forms/score_set": "none", "forms/score_left_alone": "none"}


def test_a_changed_score_is_put_once_before_the_next_submission_and_the_form_is_kept(world):
    world.views("v1")
    world.run(25, "run-1")
    world.views("v2", "v3")
    sink, stats = world.run(40, "run-2")
    assert stats["posted"] == 2
    [form] = world.upsales.forms  # the same form, updated; none created
    assert form["score"] == 40 and world.calls("POST", "/v2/forms") == 1
    assert puts(world) == [f"/api/v2/forms/{form['id']}"]
    order = [(r.method, r.path.rsplit("/", 1)[-1]) for r in world.upsales.requests]
    assert order.index(("PUT", str(form["id"]))) < len(order) - 2  # before both submissions of run-2
    assert [r for r in order[order.index(("PUT", str(form["id"]))):] if r[1] == "formSubmit"] == [
        ("POST", "formSubmit")] * 2
    assert [s["score"] for s in world.upsales.form_submits] == [25, 40, 40]
    assert world.upsales.contacts[1]["score"] == 25 + 40 + 40
    assert world.registry() == [(SINGLE_FORM_NAME, True, 40)]
    assert DESTINATION.metadata(sink)["forms/score_set"] == f"{SINGLE_FORM_NAME} (25 -> 40)"

    world.views("v4")  # the same setting: no PUT again
    _, stats = world.run(40, "run-3")
    assert stats["posted"] == 1 and len(puts(world)) == 1
    before = world.calls()
    _, stats = world.run(40, "run-4")  # nothing new: the sink calls no one
    assert stats["posted"] == 0 and world.calls() == before


def test_a_customer_s_own_form_of_the_same_name_keeps_its_score(world):
    """A form the pipeline did not create (no pipeline description) is the customer's: its
    scoring is not the pipeline's to change; the run's metadata says it was left alone."""
    world.upsales.forms.append({"id": 900, "uuid": "1234uown", "name": SINGLE_FORM_NAME, "description": "Ours",
                                "fields": [], "score": 5, "submits": 0})
    world.views("v1")
    sink, stats = world.run(25, "run-1")
    assert stats["posted"] == 1 and puts(world) == [] and world.calls("POST", "/v2/forms") == 0
    assert world.upsales.forms[0]["score"] == 5 and world.upsales.form_submits[0]["score"] == 5
    assert world.registry() == [(SINGLE_FORM_NAME, False, 5)]
    assert DESTINATION.metadata(sink)["forms/score_left_alone"] == (
        f"{SINGLE_FORM_NAME}: score 5, not 25: a form of that name the pipeline did not create; left as it is")
    world.views("v2")
    sink, _ = world.run(25, "run-2")  # remembered: no look-up, still left alone, still said
    assert puts(world) == [] and world.calls("GET", "/v2/forms") == 2  # run-1's name look-up and read-back
    assert "left as it is" in DESTINATION.metadata(sink)["forms/score_left_alone"]


def test_the_pipeline_s_form_found_again_after_a_lost_file_gets_the_score_once(world):
    """Found by name with the pipeline's description: the pipeline created it (before the DuckDB
    file was lost, or before FORM_SCORE, scoring 0), so it is updated, once."""
    world.upsales.forms.append({"id": 901, "uuid": "1234uold", "name": SINGLE_FORM_NAME,
                                "description": FORM_DESCRIPTION, "fields": [], "score": 0, "submits": 0})
    world.views("v1")
    _, stats = world.run(25, "run-1")
    assert stats["posted"] == 1 and puts(world) == ["/api/v2/forms/901"]
    assert world.upsales.forms[0]["score"] == 25 and world.upsales.form_submits[0]["score"] == 25
    assert world.registry() == [(SINGLE_FORM_NAME, True, 25)]
    world.views("v2")
    world.run(25, "run-2")
    assert len(puts(world)) == 1


def test_a_registry_row_from_before_form_score_gets_the_score_once(world):
    """A DuckDB file from before FORM_SCORE (score NULL after the migration): the pipeline's forms
    then scored 0 in Upsales; the first submission after the upgrade is preceded by one PUT."""
    world.views("v1")
    world.run(25, "run-1")
    world.upsales.forms[0]["score"] = 0
    world.con.execute("UPDATE upsales_forms SET score = NULL")
    world.views("v2")
    _, stats = world.run(25, "run-2")
    assert stats["posted"] == 1 and len(puts(world)) == 1
    assert world.upsales.form_submits[-1]["score"] == 25 and world.registry() == [(SINGLE_FORM_NAME, True, 25)]


def test_a_refused_update_keeps_the_form_s_views_queued_and_is_asked_once_a_run(world):
    world.views("v1")
    world.run(25, "run-1")
    world.views("v2", "v3")
    world.upsales.fail_next(400, count=10, path_prefix="/v2/forms", method="PUT")
    _, stats = world.run(40, "run-2")
    assert (stats["posted"], stats["not_attempted"]) == (0, 2)
    assert len(puts(world)) == 1  # one refused PUT for the two views, not one per view
    assert len(world.upsales.form_submits) == 1 and world.registry() == [(SINGLE_FORM_NAME, True, 25)]
    world.upsales.clear_faults()
    _, stats = world.run(40, "run-3")
    assert stats["posted"] == 2 and len(puts(world)) == 2
    assert [s["score"] for s in world.upsales.form_submits] == [25, 40, 40]


def test_a_dry_run_changes_no_score(world):
    world.views("v1")
    world.run(25, "run-1")
    world.views("v2")
    _, plan = world.run(40, "dry", dry_run=True)
    assert plan["would_post"] == 1 and plan["payloads"][0]["form_name"] == SINGLE_FORM_NAME
    assert puts(world) == [] and world.upsales.forms[0]["score"] == 25
    assert world.registry() == [(SINGLE_FORM_NAME, True, 25)]  # still to be set by the next real run


def test_a_form_that_does_not_show_its_score_is_taken_at_the_score_sent(world):
    """The quirk `no_form_score`: Upsales answers forms without `score` (unverified shape). A
    created form is taken at the score sent; no PUT follows in the steady state."""
    world.upsales.quirks.add("no_form_score")
    world.views("v1")
    world.run(25, "run-1")
    assert world.registry() == [(SINGLE_FORM_NAME, True, 25)] and world.upsales.forms[0]["score"] == 25
    world.views("v2")
    world.run(25, "run-2")
    assert puts(world) == [] and [s["score"] for s in world.upsales.form_submits] == [25, 25]
