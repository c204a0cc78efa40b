"""Asset checks: the rules on DuckDB, and inside the sync job, where a failure stops the posting."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from wistia_pipeline import checks, db
from wistia_pipeline.cli import run_sync
from wistia_pipeline.definitions import build_defs
from wistia_pipeline_tests.factories import contact, event
from wistia_pipeline_tests.stages.conftest import DAY, StageDb

# -- the rules on DuckDB ---------------------------------------------------------------------------


@pytest.fixture
def chain():
    """One day through converted, matched and filtered (both destinations)."""
    stage_db = StageDb()
    stage_db.events([
        event(DAY, key="a", conversion_email="anna@acme.se"),
        event(DAY, key="b", conversion_email="bo@acme.se"),
        event(DAY, key="c"),
    ])
    stage_db.contacts([contact(1, "anna@acme.se", 7)])
    stage_db.run("converted_views", "matched_views")
    stage_db.run("filtered_views", destinations=("activities", "forms"))
    return stage_db


def test_a_clean_chain_passes_every_rule(chain):
    con = chain.con
    for table in db.STAGE_TABLES:
        assert checks.duplicate_keys(con, table, DAY, DAY) == (0, [])
    counts = checks.stage_counts(con, DAY, DAY)
    assert [(r["events"], r["converted"], r["matched"], r["filtered_activities"], r["filtered_forms"])
            for r in counts] == [(3, 2, 2, 2, 2)]
    for links in checks.count_links().values():
        assert checks.count_growth(counts, links) == []
    assert checks.ledger_without_upsales_id(con) == (0, [])
    assert checks.ledger_duplicates(con) == (0, [])


@pytest.mark.parametrize("table", db.STAGE_TABLES)
def test_a_key_held_twice_on_a_day_is_reported(chain, table):
    chain.con.execute(f"INSERT INTO {table} SELECT * FROM {table} WHERE event_key = 'a'")
    total, offending = checks.duplicate_keys(chain.con, table, DAY, DAY)
    per_destination = 2 if table == "filtered_views" else 1  # 'a' is in both branches
    assert total == per_destination
    assert offending[0] == {"day": DAY.isoformat(), "destination": "activities" if table == "filtered_views" else "*",
                            "event_key": "a", "copies": 2}
    # days outside the checked window are not read
    assert checks.duplicate_keys(chain.con, table, DAY + timedelta(days=1), DAY + timedelta(days=2)) == (0, [])


def test_a_stage_holding_more_views_than_its_upstream_is_reported(chain):
    chain.con.execute("DELETE FROM matched_views WHERE event_key = 'b'")  # matched 1, filtered 2
    counts = checks.stage_counts(chain.con, DAY, DAY)
    assert checks.count_growth(counts, checks.count_links()["matched_views"]) == []
    assert checks.count_growth(counts, checks.count_links()["filtered_views"]) == [{
        "day": DAY.isoformat(), "stage": "filtered_activities", "views": 2,
        "upstream": "matched", "upstream_views": 1}]


def test_ledger_rows_posted_without_an_id_and_pairs_held_twice_are_reported(chain):
    con = chain.con
    insert = ("INSERT INTO synced_ledger (destination, event_key, day, status, upsales_id, first_seen_at) "
              "VALUES (?, ?, ?, ?, ?, now())")
    con.execute(insert, ["activities", "a", DAY, "posted", "101"])
    con.execute(insert, ["activities", "b", DAY, "posted", None])
    con.execute(insert, ["forms", "b", DAY, "in_flight", None])  # not posted yet: no id expected
    total, offending = checks.ledger_without_upsales_id(con)
    assert total == 1 and [(r["destination"], r["event_key"]) for r in offending] == [("activities", "b")]
    # The primary key keeps pairs unique; the check guards a table that lost it (a migration, say).
    con.execute("CREATE OR REPLACE TABLE synced_ledger AS SELECT * FROM synced_ledger")
    con.execute(insert, ["activities", "a", DAY, "posted", "102"])
    assert checks.ledger_duplicates(con) == (1, [{"destination": "activities", "event_key": "a", "copies": 2}])


# -- in the sync job ---------------------------------------------------------------------------------


def test_the_sync_job_runs_every_check_and_the_stage_checks_block():
    defs = build_defs()
    job = defs.resolve_job_def("wistia_sync")
    check_keys = defs.resolve_asset_graph().asset_check_keys
    assert len(check_keys) == len(checks.CHECKS) == 10
    assert {f"{k.asset_key.to_user_string()}_{k.name}" for k in check_keys} <= {n.name for n in job.graph.nodes}
    specs = [spec for c in checks.CHECKS for spec in c.check_specs]
    # Every invariant blocks; the rejected-views warning does not (a rejected view is a fact to
    # show, not a broken chain).
    assert {spec.name for spec in specs if not spec.blocking} == {"no_views_rejected"}
    assert {s.asset_key.to_user_string() for s in specs} == {
        "wistia_events", "converted_views", "matched_views", "filtered_views", "synced_ledger"}


def check_evaluations(run_id: str) -> dict[str, dg.AssetCheckEvaluation]:
    with dg.DagsterInstance.get() as instance:
        records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in evaluations}


def test_checks_pass_on_a_range_run_and_read_the_days_it_covers(demo, pipeline_env, today):
    first = today - timedelta(days=1)
    report = run_sync(first, today)
    assert report.success, report.error
    evaluations = check_evaluations(report.run_id)
    assert len(evaluations) == 10 and all(e.passed for e in evaluations.values())
    unique = evaluations["filtered_views:unique_event_key_per_day"]
    assert unique.metadata["days"].value == f"{first} .. {today}"
    assert unique.metadata["duplicated_keys"].value == 0
    counts = evaluations["filtered_views:no_more_views_than_upstream"].metadata["counts_per_day"].value
    assert sorted(counts) == [first.isoformat(), today.isoformat()]
    assert evaluations["synced_ledger:posted_rows_have_upsales_id"].metadata["rows_without_id"].value == 0


def test_a_failed_check_stops_the_run_before_anything_is_posted(demo, sandbox, pipeline_env, today, monkeypatch):
    original = db.sql

    def filtered_with_a_duplicate(name: str) -> str:
        text = original(name)
        if name == "filtered_views":  # a broken rule that keeps one view twice
            text += ("\nINSERT INTO filtered_views SELECT * FROM filtered_views "
                     "WHERE day BETWEEN $first AND $last AND destination = 'activities' ORDER BY event_key LIMIT 1;")
        return text

    monkeypatch.setattr(db, "sql", filtered_with_a_duplicate)
    report = run_sync(today, today)

    assert not report.success
    assert "unique_event_key_per_day" in report.error
    assert sandbox.upsales.request_count(method="POST") == 0 and sandbox.upsales.events == []
    evaluations = check_evaluations(report.run_id)
    failed = evaluations["filtered_views:unique_event_key_per_day"]
    assert not failed.passed
    assert failed.metadata["duplicated_keys"].value == 1
    [offending] = failed.metadata["offending"].value
    assert offending["day"] == today.isoformat() and offending["copies"] == 2
    assert "synced_ledger:posted_rows_have_upsales_id" not in evaluations  # the ledger never ran
    with dg.DagsterInstance.get() as instance:
        assert today.isoformat() not in instance.get_materialized_partitions(dg.AssetKey("synced_ledger"))


def test_rejected_views_are_counted_with_their_reason():
    """A rejected row makes the non-blocking check warn, with the row's reason in its metadata."""
    import duckdb

    from wistia_pipeline import db

    con = db.prepare(duckdb.connect(":memory:"))
    assert checks.rejected_views(con) == (0, [])
    con.execute("INSERT INTO synced_ledger (destination, event_key, day, status, last_error, first_seen_at) "
                "VALUES ('activities', 'k1', DATE '2026-03-10', 'rejected', 'Upsales returned 400: Invalid contact', now())")
    total, rows = checks.rejected_views(con)
    assert total == 1 and rows[0]["event_key"] == "k1" and "Invalid contact" in rows[0]["last_error"]
