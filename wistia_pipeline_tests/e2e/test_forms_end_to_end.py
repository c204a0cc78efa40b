"""The forms destination through Dagster against the sandbox: policies, reruns, failures."""

from __future__ import annotations

import os
from datetime import timedelta

import duckdb
import pytest

from wistia_pipeline.cli import run_sync
from wistia_pipeline_tests.factories import contact, event

pytestmark = pytest.mark.e2e

PROJECTS = [
    {"id": 1, "hashedId": "proj000001", "name": "Product tours"},
    {"id": 2, "hashedId": "proj000002", "name": "Webinars"},
]
MEDIAS = [
    {"id": 11, "hashed_id": "tour000001", "name": "Tour one", "type": "Video",
     "project": {"id": 1, "name": "Product tours", "hashed_id": "proj000001"}},
    {"id": 12, "hashed_id": "tour000002", "name": "Tour two", "type": "Video",
     "project": {"id": 1, "name": "Product tours", "hashedId": "proj000001"}},
    {"id": 13, "hashed_id": "webi000001", "name": "Pricing webinar", "type": "Video",
     "project": {"id": 2, "name": "Webinars", "hashedId": "proj000002"}},
]
EXPECTED_FORMS = {
    "single": {"Wistia video views"},
    "project": {"Wistia: Product tours", "Wistia: Webinars"},
    "video": {"Wistia: Tour one (tour000001)", "Wistia: Tour two (tour000002)",
              "Wistia: Pricing webinar (webi000001)"},
}


@pytest.fixture
def views(sandbox, pipeline_env, today, monkeypatch):
    """3 videos in 2 projects; 4 converted views, one of them below the minimum."""
    day = today - timedelta(days=1)
    sandbox.wistia.add_projects(PROJECTS)
    sandbox.wistia.add_medias(MEDIAS)
    sandbox.upsales.add_accounts([{"id": 7, "name": "Acme AB", "active": 1, "isExternal": 0}])
    sandbox.upsales.add_contacts([contact(1, "anna.berg@acme.se", 7, name="Anna Berg")])
    items = [
        event(day, key="k-anna", conversion_email=" Anna.Berg@Acme.se ", first_name="Anna", last_name="Berg",
              media_id="tour000001", media_name="Tour one", percent=0.575, seconds=3600),
        event(day, key="k-erik", conversion_email="erik@gmail.com", first_name="Erik", last_name="Lund",
              media_id="tour000002", media_name="Tour two", percent=0.9, seconds=7200),
        event(day, key="k-sara", email="sara@nordkraft.se", conversion_type="turnstile",
              media_id="webi000001", media_name="Pricing webinar", percent=0.3, seconds=9000),
        event(day, key="k-low", conversion_email="low@acme.se", media_id="webi000001",
              media_name="Pricing webinar", percent=0.05, seconds=9500),
    ]
    sandbox.wistia.add_events(items)
    monkeypatch.setenv("SYNC_FORMS", "true")
    monkeypatch.setenv("SYNC_ACTIVITIES", "false")
    monkeypatch.setenv("MIN_PERCENT_WATCHED", "10")
    monkeypatch.setenv("WISTIA_PUBLIC_TOKEN", "pub")
    return day


def submitted(sandbox) -> dict[str, dict[str, str]]:
    """event_key -> the submitted field values (with the form's name)."""
    out = {}
    for submit in sandbox.upsales.form_submits:
        fields = {f["name"]: f["value"] for f in submit["fieldValues"]}
        key = fields["Extra.wistia_event_key"]
        assert key not in out, f"{key} submitted twice"
        out[key] = {**fields, "form": submit["form"]["name"]}
    return out


@pytest.mark.parametrize("policy", ["single", "project", "video"])
def test_each_policy_creates_its_forms_once_and_submits_each_view_once(policy, views, sandbox, monkeypatch):
    monkeypatch.setenv("FORM_POLICY", policy)
    report = run_sync(views, views)
    assert report.success, report.error
    assert report.funnels["forms"] == {"events": 4, "converted": 4, "at_min_percent": 3, "in_projects": 3, "new": 3}
    assert report.posted == {"forms": 3}
    assert {f["name"] for f in sandbox.upsales.forms} == EXPECTED_FORMS[policy]
    assert len(sandbox.upsales.forms) == len(EXPECTED_FORMS[policy])
    got = submitted(sandbox)
    assert set(got) == {"k-anna", "k-erik", "k-sara"}
    assert got["k-anna"] == {
        "Contact.email": "Anna.Berg@Acme.se", "Contact.firstname": "Anna", "Contact.lastname": "Berg",
        "Extra.wistia_video": "Tour one", "Extra.wistia_percent_watched": "58",
        "Extra.wistia_heatmap": "https://api.wistia.com/v1/stats/events/k-anna/iframe.html?public_token=pub",
        "Extra.wistia_event_key": "k-anna",
        "form": {"single": "Wistia video views", "project": "Wistia: Product tours",
                 "video": "Wistia: Tour one (tour000001)"}[policy],
    }
    assert got["k-sara"]["Contact.email"] == "sara@nordkraft.se" and got["k-sara"]["Contact.firstname"] == ""
    form_fields = {f["name"] for f in sandbox.upsales.forms[0]["fields"]}
    assert {"Contact.email", "Contact.firstname", "Contact.lastname", "Extra.wistia_event_key"} <= form_fields

    forms_before, requests_before = len(sandbox.upsales.forms), sandbox.upsales.request_count("/v2/forms", "POST")
    again = run_sync(views, views)
    assert again.success and again.posted == {"forms": 0}
    assert len(sandbox.upsales.forms) == forms_before
    assert sandbox.upsales.request_count("/v2/forms", "POST") == requests_before
    assert len(sandbox.upsales.form_submits) == 3


def test_a_lost_duckdb_file_creates_no_form_twice_and_resubmits_nothing(views, sandbox, pipeline_env, monkeypatch):
    monkeypatch.setenv("FORM_POLICY", "project")
    assert run_sync(views, views).success
    os.remove(pipeline_env["WISTIA_PIPELINE_DB"])
    again = run_sync(views, views)
    assert again.success, again.error
    assert len(sandbox.upsales.forms) == 2 and sandbox.upsales.request_count("/v2/forms", "POST") == 2
    assert len(sandbox.upsales.form_submits) == 3
    assert again.posted == {"forms": 0}


def test_changing_the_policy_creates_new_forms_but_never_resubmits(views, sandbox, monkeypatch):
    monkeypatch.setenv("FORM_POLICY", "single")
    assert run_sync(views, views).success
    sandbox.wistia.add_events([event(views, key="k-new", conversion_email="nils@acme.se", media_id="tour000002",
                                     media_name="Tour two", percent=0.8, seconds=10000)])
    monkeypatch.setenv("FORM_POLICY", "video")
    report = run_sync(views, views)
    assert report.success and report.posted == {"forms": 1}
    assert {f["name"] for f in sandbox.upsales.forms} == {"Wistia video views", "Wistia: Tour two (tour000002)"}
    got = submitted(sandbox)
    assert len(got) == 4 and got["k-new"]["form"] == "Wistia: Tour two (tour000002)"
    assert got["k-anna"]["form"] == "Wistia video views"


def test_forms_failing_does_not_stop_activities_and_is_retried_next_run(views, sandbox, monkeypatch):
    monkeypatch.setenv("SYNC_ACTIVITIES", "true")
    monkeypatch.setenv("FORM_POLICY", "single")
    sandbox.upsales.fail_next(500, count=1000, headers={"Retry-After": "0"}, path_prefix="/external/formSubmit")
    failed = run_sync(views, views)
    assert not failed.success and "forms" in failed.error
    assert len(sandbox.upsales.events) == 1  # anna's activity (exact contact) was still posted
    assert sandbox.upsales.form_submits == []
    assert failed.funnels["activities"]["new"] == 1

    sandbox.upsales.clear_faults()
    report = run_sync(views, views)
    assert report.success, report.error
    assert report.posted == {"activities": 0, "forms": 3}
    assert set(submitted(sandbox)) == {"k-anna", "k-erik", "k-sara"}
    assert len(sandbox.upsales.events) == 1


def test_submissions_score_form_score_and_a_changed_score_is_put_once_before_the_next(
        views, sandbox, pipeline_env, monkeypatch):
    """Issue #15: the created form scores FORM_SCORE, so each submission adds it to the contact;
    a changed FORM_SCORE is one PUT on the same form (never a new form) before the next
    submission; an unchanged one costs no call; the launchpad can override it for one run."""
    import dagster as dg

    from wistia_pipeline.automation import SYNC_JOB_NAME, range_tags
    from wistia_pipeline.definitions import build_defs

    def anna() -> int:
        return sandbox.upsales.contacts[1]["score"]

    def new_view(key: str, seconds: int) -> None:
        sandbox.wistia.add_events([event(views, key=key, conversion_email="anna.berg@acme.se",
                                         media_id="tour000001", media_name="Tour one", percent=0.8, seconds=seconds)])

    monkeypatch.setenv("FORM_POLICY", "single")
    monkeypatch.setenv("FORM_SCORE", "25")
    first = run_sync(views, views)
    assert first.success and first.posted == {"forms": 3}, first.error
    [form] = sandbox.upsales.forms
    assert form["score"] == 25
    assert [s["score"] for s in sandbox.upsales.form_submits] == [25, 25, 25]
    assert anna() == 25  # Anna's one view; Erik and Sara are no contacts in Upsales

    monkeypatch.setenv("FORM_SCORE", "40")
    new_view("k-anna-2", 20000)
    second = run_sync(views, views)
    assert second.success and second.posted == {"forms": 1}, second.error
    assert sandbox.upsales.request_count("/v2/forms", method="PUT") == 1
    assert sandbox.upsales.request_count("/v2/forms", method="POST") == 1 and len(sandbox.upsales.forms) == 1
    assert sandbox.upsales.forms[0]["score"] == 40 and sandbox.upsales.form_submits[-1]["score"] == 40
    assert anna() == 25 + 40
    with duckdb.connect(pipeline_env["WISTIA_PIPELINE_DB"], read_only=True) as con:
        assert con.execute("SELECT name, created, score FROM upsales_forms").fetchall() == [
            ("Wistia video views", True, 40)]

    steady = run_sync(views, views)  # nothing new, the same setting: the one call of every run
    assert steady.success and steady.posted == {"forms": 0}
    assert steady.calls["upsales"] == {"GET /v2/self": 1}
    assert sandbox.upsales.request_count("/v2/forms", method="PUT") == 1

    new_view("k-anna-3", 21000)  # the launchpad's run config overrides FORM_SCORE for one run
    with dg.instance_for_test() as instance:
        result = build_defs().resolve_job_def(SYNC_JOB_NAME).execute_in_process(
            instance=instance, tags=range_tags(views, views),
            # The one setting: the others keep the environment's values (test_sync_end_to_end).
            run_config={"resources": {"pipeline_settings": {"config": {"form_score": "60"}}}})
    assert result.success
    assert sandbox.upsales.request_count("/v2/forms", method="PUT") == 2
    assert sandbox.upsales.form_submits[-1]["score"] == 60 and anna() == 25 + 40 + 60
