"""upsales_forms: the registry of the forms the pipeline submits to, read from DuckDB without an
Upsales call; the forms sink still finds or creates a form when a view is first posted to it."""

from __future__ import annotations

import os
from datetime import datetime

import dagster as dg
import duckdb
import pytest

from wistia_pipeline import db, run_health
from wistia_pipeline.cli import run_sync
from wistia_pipeline.definitions import TABLES, build_resources, defs
from wistia_pipeline.stages.common import DUCKDB_POOL
from wistia_pipeline.stages.filtered import filtered_views
from wistia_pipeline.stages.form_registry import upsales_forms
from wistia_pipeline.stages.ledger import build_synced_ledger
from wistia_pipeline_tests.factories import contact, event

# (name, policy, form id, uuid, created by the pipeline)
REGISTRY = [
    ("Wistia video views", "single", 31, "uuid-31", True),
    ("Wistia: Webinars", "project", 33, "uuid-33", True),
    ("Wistia: Product tours", "project", 32, "uuid-32", False),
]


def materialize(**options) -> dg.ExecuteInProcessResult:
    return dg.materialize([upsales_forms], resources=build_resources(), **options)


def metadata_of(materialization: dg.AssetMaterialization) -> dict:
    return {k: v.value for k, v in materialization.metadata.items()}


def seed(path: str, rows: list[tuple]) -> None:
    with db.open_database(path) as con:
        db.prepare(con)
        con.executemany("INSERT INTO upsales_forms (name, policy, form_id, form_uuid, created, recorded_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [[*row, datetime(2026, 11, 1, 12, 0)] for row in rows])


def test_the_asset_is_unpartitioned_in_the_group_and_pool_and_synced_ledger_depends_on_it():
    synced_ledger = build_synced_ledger()
    assert upsales_forms.partitions_def is None
    assert upsales_forms.group_names_by_key[upsales_forms.key] == synced_ledger.group_names_by_key[synced_ledger.key]
    assert upsales_forms.specs_by_key[upsales_forms.key].kinds == {"duckdb"}
    assert defs.resolve_asset_graph().get(upsales_forms.key).pools == {DUCKDB_POOL}
    assert {d.asset_key for d in synced_ledger.specs_by_key[synced_ledger.key].deps} == {
        filtered_views.key, upsales_forms.key}
    assert upsales_forms in TABLES


def test_its_step_tags_the_run_with_its_process(pipeline_env):
    """It may be a run's first step (a UI selection): a run whose process is gone is then found."""
    with dg.instance_for_test() as instance:
        result = materialize(instance=instance)
        assert instance.get_run_by_id(result.run_id).tags[run_health.PID_TAG] == str(os.getpid())


def test_with_forms_off_it_calls_no_one(pipeline_env, sandbox):
    result = materialize()
    assert result.success
    assert sandbox.upsales.request_count() == 0 and sandbox.wistia.request_count() == 0
    shown = metadata_of(result.asset_materializations_for_node("upsales_forms")[0])
    assert shown["form_policy"] == "none: SYNC_FORMS is off"
    assert shown["dagster/row_count"] == 0 and shown["forms_of_the_policy"] == 0
    assert shown["preview"] == "_no rows_"


@pytest.mark.parametrize("policy,of_policy", [("project", 2), ("single", 1), ("video", 0)])
def test_it_shows_the_registry_the_policy_s_forms_first_and_calls_no_one(pipeline_env, sandbox, monkeypatch,
                                                                          policy, of_policy):
    seed(pipeline_env["WISTIA_PIPELINE_DB"], REGISTRY)
    monkeypatch.setenv("SYNC_FORMS", "true")
    monkeypatch.setenv("FORM_POLICY", policy)
    result = materialize()
    assert result.success
    assert sandbox.upsales.request_count() == 0
    shown = metadata_of(result.asset_materializations_for_node("upsales_forms")[0])
    assert shown["form_policy"] == policy
    assert shown["dagster/row_count"] == 3 and shown["forms_of_the_policy"] == of_policy
    assert shown["created_by_the_pipeline"] == 2
    assert [c.name for c in shown["dagster/column_schema"].columns] == [
        "name", "policy", "form_id", "form_uuid", "created", "recorded_at", "score"]
    rows = [line for line in shown["preview"].splitlines() if line.startswith("| Wistia")]
    names = [line.split(" | ")[0].removeprefix("| ") for line in rows]
    assert names[:of_policy] == sorted(n for n, p, *_ in REGISTRY if p == policy)
    assert sorted(names) == sorted(n for n, *_ in REGISTRY)


def test_the_sink_still_creates_the_forms_while_posting_and_the_next_run_lists_them(
        pipeline_env, sandbox, monkeypatch, today):
    """A run reads the registry before its posts: the forms the first run creates show in the
    second run's materialization; that run has nothing to post and makes its one Upsales call."""
    sandbox.wistia.add_medias([
        {"hashed_id": "tour000001", "name": "Tour", "project": {"id": 1, "name": "Product tours", "hashed_id": "p1"}},
        {"hashed_id": "webin00001", "name": "Webinar", "project": {"id": 2, "name": "Webinars", "hashedId": "p2"}},
    ])
    sandbox.upsales.add_accounts([{"id": 7, "name": "Acme AB"}])
    sandbox.upsales.add_contacts([contact(1, "anna.berg@acme.se", 7)])
    sandbox.wistia.add_events([
        event(today, key="k-tour", conversion_email="anna.berg@acme.se", media_id="tour000001", percent=0.9),
        event(today, key="k-webinar", conversion_email="erik@gmail.com", media_id="webin00001", percent=0.9),
    ])
    for name, value in {"SYNC_FORMS": "true", "SYNC_ACTIVITIES": "false", "FORM_POLICY": "project"}.items():
        monkeypatch.setenv(name, value)

    first = run_sync(today, today)
    assert first.success, first.error
    assert first.posted == {"forms": 2}
    assert sorted(f["name"] for f in sandbox.upsales.forms) == ["Wistia: Product tours", "Wistia: Webinars"]
    with duckdb.connect(pipeline_env["WISTIA_PIPELINE_DB"], config={"custom_user_agent": "dagster"}) as con:
        assert con.execute("SELECT name, policy, created FROM upsales_forms ORDER BY name").fetchall() == [
            ("Wistia: Product tours", "project", True), ("Wistia: Webinars", "project", True)]

    second = run_sync(today, today)
    assert second.success and second.posted == {"forms": 0}
    assert second.calls["upsales"] == {"GET /v2/self": 1}
    with dg.DagsterInstance.get() as instance:  # the DAGSTER_HOME the runs were recorded in
        latest = instance.get_latest_materialization_event(upsales_forms.key)
    assert latest.run_id == second.run_id
    shown = metadata_of(latest.asset_materialization)
    assert shown["dagster/row_count"] == 2 and shown["forms_of_the_policy"] == 2
    assert shown["created_by_the_pipeline"] == 2 and "Wistia: Webinars" in shown["preview"]
