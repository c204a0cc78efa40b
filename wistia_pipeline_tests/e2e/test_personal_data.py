"""Personal data end to end (issue #15): Dagster's run storage holds no viewer's email in full, and
the DuckDB file none of a day past RETENTION_DAYS, through real syncs of the demo against the sandbox."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from wistia_pipeline import cli
from wistia_pipeline.cli import run_sync
from wistia_pipeline_tests.test_retention import every_value

pytestmark = pytest.mark.e2e

VIEWER_EMAILS = """
    SELECT day, event_key, lower(trim(coalesce(nullif(trim(conversion_email), ''), email))) AS email
    FROM wistia_events WHERE coalesce(nullif(trim(conversion_email), ''), email) LIKE '%@%'
"""


def viewer_emails(db_path: str) -> list[tuple]:
    with duckdb.connect(db_path, read_only=True) as con:
        return con.execute(VIEWER_EMAILS).fetchall()


def run_storage_text(home: str) -> str:
    """Every file of the Dagster instance (run and event storage, schedules, compute logs), as text."""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in Path(home).rglob("*") if p.is_file()).lower()


def test_run_storage_shows_emails_masked_and_ids_in_full(demo, sandbox, pipeline_env):
    report = run_sync(min(demo.days), max(demo.days))
    assert report.success, report.error
    emails = {email for _, _, email in viewer_emails(pipeline_env["WISTIA_PIPELINE_DB"])}
    assert "anna.berg@acme.se" in emails and len(emails) > 20

    stored = run_storage_text(pipeline_env["DAGSTER_HOME"])
    assert "a•••@acme.se" in stored or "a\\u2022\\u2022\\u2022@acme.se" in stored  # previews still show them, masked
    assert sorted(e for e in emails if e in stored) == []

    with dg.DagsterInstance.get() as instance:
        ledger = instance.get_latest_materialization_event(dg.AssetKey("synced_ledger")).asset_materialization
        events = instance.get_latest_materialization_event(dg.AssetKey("wistia_events")).asset_materialization
    assert "•••@" in events.metadata["preview"].value
    posted = ledger.metadata["posted_this_run/activities"].value
    with duckdb.connect(pipeline_env["WISTIA_PIPELINE_DB"], read_only=True) as con:
        rows = con.execute("SELECT upsales_id, client_id, contact_id FROM synced_ledger WHERE destination = "
                           "'activities' AND contact_id IS NOT NULL").fetchall()
    assert rows and all(f"| {u} | {a} | {c} |" in posted for u, a, c in rows)  # ids stay visible


def test_preview_emails_full_shows_them(demo, sandbox, pipeline_env, monkeypatch):
    monkeypatch.setenv("PREVIEW_EMAILS", "full")
    report = run_sync(min(demo.days), max(demo.days))
    assert report.success, report.error
    emails = {email for _, _, email in viewer_emails(pipeline_env["WISTIA_PIPELINE_DB"])}
    stored = run_storage_text(pipeline_env["DAGSTER_HOME"])
    assert "anna.berg@acme.se" in stored and len([e for e in emails if e in stored]) > 10


def test_retention_scrubs_old_days_and_a_backfill_of_one_posts_nothing_twice(demo, sandbox, pipeline_env,
                                                                               monkeypatch, capsys):
    db_path = pipeline_env["WISTIA_PIPELINE_DB"]
    first, last = min(demo.days), max(demo.days)
    assert run_sync(first, last).success  # RETENTION_DAYS=90: every day kept
    views = viewer_emails(db_path)

    monkeypatch.setenv("LOOKBACK_DAYS", "1")
    monkeypatch.setenv("RETENTION_DAYS", "2")  # today and yesterday kept: the demo's first day is past it
    report = run_sync(last, last)  # the schedule's run: its window is today only
    assert report.success, report.error
    posted = (len(sandbox.upsales.events), len(sandbox.upsales.form_submits))

    def check_scrubbed() -> date:
        with duckdb.connect(db_path, read_only=True) as con:
            # The run's own cutoff, so that a test crossing midnight still knows which days it scrubbed.
            first_kept = con.execute("SELECT max(cutoff) FROM retention_runs").fetchone()[0]
            text = every_value(con)
        assert first < first_kept <= last
        kept = {email for day, _, email in views if day >= first_kept}
        old_only = {email for day, _, email in views if day < first_kept} - kept
        assert old_only and kept
        assert sorted(e for e in old_only if e in text) == []
        assert all(e in text for e in kept)
        return first_kept

    first_kept = check_scrubbed()
    with duckdb.connect(db_path, read_only=True) as con:
        key, upsales_id = con.execute(
            "SELECT event_key, upsales_id FROM synced_ledger WHERE destination = 'activities' AND day < ? "
            "AND status = 'posted' ORDER BY event_key LIMIT 1", [first_kept]).fetchone()
        assert con.execute("SELECT count(*) FROM synced_ledger WHERE day < ? AND status <> 'posted'",
                           [first_kept]).fetchone()[0] == 0

    # A backfill of the expired day re-reads Wistia: nothing is posted twice, and the end of the run
    # scrubs the day again.
    report = run_sync(first, first)
    assert report.success, report.error
    assert report.posted == {"activities": 0, "forms": 0}
    assert (len(sandbox.upsales.events), len(sandbox.upsales.form_submits)) == posted
    check_scrubbed()

    assert cli.main(["explain", key]) == 0
    out = capsys.readouterr().out
    assert "past retention (RETENTION_DAYS=2): its email and raw data were removed on " in out
    assert f"the ledger keeps that it was posted as {upsales_id} (activities)" in out
    assert "(email removed: past retention)" in out


def test_retention_below_the_lookback_stops_the_sync_in_one_line(demo, sandbox, pipeline_env, monkeypatch, capsys):
    monkeypatch.setenv("LOOKBACK_DAYS", "3")
    monkeypatch.setenv("RETENTION_DAYS", "3")
    assert cli.main(["sync"]) != 0
    captured = capsys.readouterr()
    assert "RETENTION_DAYS must be at least LOOKBACK_DAYS + 1 (4), got 3" in captured.out + captured.err
    assert not sandbox.upsales.events
