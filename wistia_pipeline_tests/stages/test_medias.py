"""wistia_medias: the media -> project table, refreshed from Wistia only when a setting reads it,
and filtered_views reading it (never Wistia) as an upstream asset."""

from __future__ import annotations

from datetime import timedelta

import os

import dagster as dg
import duckdb
import pytest

from wistia_pipeline import run_health
from wistia_pipeline.automation import range_tags
from wistia_pipeline.definitions import TABLES, build_resources, defs
from wistia_pipeline.stages.common import DUCKDB_POOL
from wistia_pipeline.stages.converted import converted_views
from wistia_pipeline.stages.events import wistia_events
from wistia_pipeline.stages.filtered import filtered_views
from wistia_pipeline.stages.matched import matched_views
from wistia_pipeline.stages.medias import wistia_medias
from wistia_pipeline_tests.factories import contact, event

MEDIAS = [
    {"id": 1, "hashed_id": "tour000001", "name": "Tour one",
     "project": {"id": 11, "name": "Product tours", "hashed_id": "ptours0001"}},
    {"id": 2, "hashed_id": "tour000002", "name": "Tour two",
     "project": {"id": 11, "name": "Product tours", "hashedId": "ptours0001"}},
    {"id": 3, "hashed_id": "webin00001", "name": "Pricing webinar",
     "project": {"id": 12, "name": "Webinars", "hashedId": "webin0001p"}},
]
COLUMNS = ["hashed_id", "name", "project_id", "project_hashed_id", "project_name", "fetched_at"]


@pytest.fixture
def medias(sandbox, pipeline_env):
    sandbox.wistia.add_medias(MEDIAS)
    return pipeline_env["WISTIA_PIPELINE_DB"]


def materialize(*assets, **options) -> dg.ExecuteInProcessResult:
    """The assets in one run with the environment's resources (read now, after monkeypatch)."""
    return dg.materialize(list(assets), resources=build_resources(), raise_on_error=False, **options)


def metadata(result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition) -> dict:
    """The asset's metadata in the run (a run over days shows the same under each of its days)."""
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key == asset.key)
    return {k: v.value for k, v in event.materialization.metadata.items()}


def table(path: str) -> list[tuple]:
    with duckdb.connect(path, config={"custom_user_agent": "dagster"}) as con:
        assert [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns "
                                          "WHERE table_name = 'wistia_medias' ORDER BY ordinal_position").fetchall()] == COLUMNS
        return con.execute("SELECT hashed_id, name, project_id, project_hashed_id, project_name FROM wistia_medias "
                           "ORDER BY hashed_id").fetchall()


def test_the_asset_is_unpartitioned_in_the_group_and_pool_and_filtered_views_depends_on_it():
    assert wistia_medias.partitions_def is None
    assert wistia_medias.group_names_by_key[wistia_medias.key] == filtered_views.group_names_by_key[filtered_views.key]
    assert wistia_medias.specs_by_key[wistia_medias.key].kinds == {"duckdb"}
    graph = defs.resolve_asset_graph()
    assert graph.get(wistia_medias.key).pools == graph.get(filtered_views.key).pools == {DUCKDB_POOL}
    assert {d.asset_key for d in filtered_views.specs_by_key[filtered_views.key].deps} == {
        matched_views.key, wistia_medias.key}
    assert wistia_medias in TABLES


def test_its_step_tags_the_run_with_its_process(medias):
    """It may be a run's first step (a UI selection): a run whose process is gone is then found."""
    with dg.instance_for_test() as instance:
        result = materialize(wistia_medias, instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).tags[run_health.PID_TAG] == str(os.getpid())


def test_the_project_filter_refreshes_the_table_in_one_wistia_call(medias, sandbox, monkeypatch):
    monkeypatch.setenv("WISTIA_PROJECTS", "Webinars")
    result = materialize(wistia_medias)
    assert result.success
    assert sandbox.wistia.request_count() == sandbox.wistia.request_count("/medias.json") == 1
    assert sandbox.upsales.request_count() == 0
    assert table(medias) == [
        ("tour000001", "Tour one", 11, "ptours0001", "Product tours"),
        ("tour000002", "Tour two", 11, "ptours0001", "Product tours"),
        ("webin00001", "Pricing webinar", 12, "webin0001p", "Webinars"),
    ]
    shown = metadata(result, wistia_medias)
    assert shown["refreshed"] == "yes: WISTIA_PROJECTS (the project filter) read it"
    assert shown["dagster/row_count"] == 3 and shown["projects"] == 2
    assert shown["calls/wistia/GET /medias.json"] == 1
    assert shown["fetched_at"].endswith(" UTC")
    assert [c.name for c in shown["dagster/column_schema"].columns] == COLUMNS
    preview = shown["preview"]
    assert "| Product tours | ptours0001 | 11 | 2 | Tour one, Tour two |" in preview
    assert "| Webinars | webin0001p | 12 | 1 | Pricing webinar |" in preview and "all 2 rows" in preview


def test_the_forms_policy_project_refreshes_it_too(medias, sandbox, monkeypatch):
    monkeypatch.setenv("SYNC_FORMS", "true")
    monkeypatch.setenv("FORM_POLICY", "project")
    result = materialize(wistia_medias)
    assert result.success and sandbox.wistia.request_count("/medias.json") == 1
    assert metadata(result, wistia_medias)["refreshed"] == "yes: FORM_POLICY=project (one form per project) read it"


@pytest.mark.parametrize("settings", [
    {},                                                  # every project, activities only
    {"SYNC_FORMS": "true", "FORM_POLICY": "single"},
    {"SYNC_FORMS": "true", "FORM_POLICY": "video"},
    {"SYNC_FORMS": "false", "FORM_POLICY": "project"},   # the policy of a destination that is off
], ids=["activities", "single-form", "form-per-video", "forms-off"])
def test_no_setting_reads_it_no_wistia_call_and_the_table_is_kept(medias, sandbox, monkeypatch, settings):
    monkeypatch.setenv("WISTIA_PROJECTS", "Webinars")
    assert materialize(wistia_medias).success  # fetched once, while the filter read it
    monkeypatch.delenv("WISTIA_PROJECTS")
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    sandbox.wistia.medias.pop()
    result = materialize(wistia_medias)
    assert result.success
    assert sandbox.wistia.request_count() == 1  # the first materialization's call only
    shown = metadata(result, wistia_medias)
    assert shown["refreshed"].startswith("no Wistia call: WISTIA_PROJECTS is empty")
    assert not any(key.startswith("calls/") for key in shown)
    assert shown["dagster/row_count"] == 3 and len(table(medias)) == 3  # as last fetched


def test_a_refresh_replaces_the_whole_table(medias, sandbox, monkeypatch):
    monkeypatch.setenv("WISTIA_PROJECTS", "Webinars")
    assert materialize(wistia_medias).success
    sandbox.wistia.medias.pop(0)  # a video deleted in Wistia
    for media in sandbox.wistia.medias:
        if media["project"]["name"] == "Webinars":
            media["project"]["name"] = "Webinars 2026"  # a renamed project
    assert materialize(wistia_medias).success
    assert table(medias) == [
        ("tour000002", "Tour two", 11, "ptours0001", "Product tours"),
        ("webin00001", "Pricing webinar", 12, "webin0001p", "Webinars 2026"),
    ]


def chain_of(day, sandbox, monkeypatch):
    """A converted, matched view on a Webinars video on `day`, under the project filter."""
    sandbox.upsales.add_accounts([{"id": 7, "name": "Acme AB"}])
    sandbox.upsales.add_contacts([contact(1, "anna.berg@acme.se", 7)])
    sandbox.wistia.add_events([event(day, key="v-webinar", conversion_email="anna.berg@acme.se", percent=0.9,
                                     media_id="webin00001", media_name="Pricing webinar")])
    monkeypatch.setenv("WISTIA_PROJECTS", "Webinars")


def test_filtered_views_reads_the_table_and_never_calls_wistia_for_it(medias, sandbox, monkeypatch, today):
    chain_of(today, sandbox, monkeypatch)
    result = materialize(wistia_events, converted_views, matched_views, filtered_views, wistia_medias,
                         tags=range_tags(today - timedelta(days=1), today))
    assert result.success
    assert sandbox.wistia.request_count("/medias.json") == 1  # the asset's refresh, once per run
    filtered = metadata(result, filtered_views)
    assert filtered["wistia_medias"] == 3 and filtered["dagster/row_count"] == 1
    assert not any(key.startswith("calls/wistia") for key in filtered)
    # The refresh runs just before the filter, after the stages ready with it (as it did inside it).
    order = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert order == ["wistia_events", "converted_views", "matched_views", "wistia_medias", "filtered_views"]


def test_filtered_views_refuses_a_media_table_never_fetched(medias, sandbox, monkeypatch, today):
    """A new file, and the days materialized alone (a UI selection without wistia_medias): every
    view would be an unknown_project. The filter says what to do instead."""
    chain_of(today, sandbox, monkeypatch)
    result = materialize(wistia_events, converted_views, matched_views, filtered_views, partition_key=today.isoformat())
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "filtered_views"
    assert failure.step_failure_data.user_failure_data.description == (
        "wistia_medias is empty and WISTIA_PROJECTS (the project filter) read it: materialize wistia_medias "
        "with these days (the job wistia_sync does)")
    assert sandbox.wistia.request_count("/medias.json") == 0

    monkeypatch.delenv("WISTIA_PROJECTS")  # nothing reads the projects: the empty table is fine
    assert materialize(wistia_events, converted_views, matched_views, filtered_views,
                       partition_key=today.isoformat()).success


def test_an_empty_media_list_fetched_by_the_run_is_wistia_s_answer(pipeline_env, sandbox, monkeypatch, today):
    chain_of(today, sandbox, monkeypatch)  # no medias in Wistia at all
    result = materialize(wistia_events, converted_views, matched_views, filtered_views, wistia_medias,
                         partition_key=today.isoformat())
    assert result.success
    assert metadata(result, filtered_views)["skipped/activities/unknown_project"] == 1
