"""The whole chain through Dagster against the sandbox: the seed's funnel, reruns, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import duckdb
import pytest

from wistia_pipeline.cli import run_sync

pytestmark = pytest.mark.e2e

FUNNEL_KEYS = ["events", "converted", "matched", "at_min_percent", "in_projects", "new"]


def funnel(report, destination: str = "activities") -> list[int]:
    counts = report.funnels[destination]
    return [counts[k] for k in FUNNEL_KEYS if k in counts]


def external_ids(sandbox) -> list[str]:
    return [e["externalId"] for e in sandbox.upsales.events]


def test_demo_reproduces_the_seed_funnel_and_never_posts_twice(demo, sandbox, pipeline_env, today):
    first, last = today - timedelta(days=2), today

    run1 = run_sync(first, last)
    assert run1.success, run1.error
    assert funnel(run1) == demo.expected["first_run"] == [189, 50, 26, 16, 14, 14]
    assert run1.posted == {"activities": 14, "forms": 27}
    assert len(sandbox.upsales.events) == 14
    assert funnel(run1, "forms") == demo.expected["forms_first_run"] == [189, 50, 35, 27, 27]
    assert sorted(f["name"] for f in sandbox.upsales.forms) == demo.expected["forms_created"]

    assert sandbox.wistia.release_hidden() == 4  # the late views reach Wistia's API
    run2 = run_sync(first, last)
    assert run2.success, run2.error
    assert funnel(run2) == demo.expected["second_run"] == [193, 54, 30, 20, 18, 4]
    assert run2.posted == {"activities": 4, "forms": 4}
    assert funnel(run2, "forms") == demo.expected["forms_second_run"] == [193, 54, 39, 31, 4]
    ids = external_ids(sandbox)
    assert len(ids) == 18 == len(set(ids)) == demo.expected["posted_total"]
    form_keys = [f["value"] for s in sandbox.upsales.form_submits for f in s["fieldValues"]
                 if f["name"] == "Extra.wistia_event_key"]
    assert len(form_keys) == len(set(form_keys)) == demo.expected["forms_total"] == 31

    run3 = run_sync(first, last)
    assert run3.success and funnel(run3)[-1] == 0 and run3.posted == {"activities": 0, "forms": 0}
    assert len(sandbox.upsales.events) == 18 and len(sandbox.upsales.form_submits) == 31
    assert len(sandbox.upsales.forms) == 2

    with duckdb.connect(pipeline_env["WISTIA_PIPELINE_DB"], read_only=True) as con:
        per_day = con.execute("SELECT count(*), count(DISTINCT event_key) FROM wistia_events").fetchone()
        assert per_day == (193, 193)
        ledger = con.execute("SELECT destination, status, count(*) FROM synced_ledger GROUP BY ALL ORDER BY 1").fetchall()
        assert ledger == [("activities", "posted", 18), ("forms", "posted", 31)]
        ledger_ids = {r[0] for r in con.execute(
            "SELECT upsales_id FROM synced_ledger WHERE destination = 'activities'").fetchall()}
        assert ledger_ids == {str(e["id"]) for e in sandbox.upsales.events}
        outcomes = dict(con.execute(
            "SELECT coalesce(reason, outcome), count(*) FROM view_outcomes WHERE destination = 'activities' "
            "GROUP BY ALL").fetchall())
        assert outcomes == {
            "not_converted": 135, "invalid_email": 4, "personal_domain": 8, "no_match": 12,
            "ambiguous_domain": 4, "below_min_percent": 10, "project_not_enabled": 1,
            "unknown_project": 1, "already_synced": 18,
        }
        posted = con.execute("SELECT value FROM synced_ledger WHERE destination = 'activities' AND contact_id IS NULL").fetchall()
        assert posted and all(v.startswith("Someone watched ") for (v,) in posted)


def test_rerunning_one_day_twice_adds_no_rows_and_posts_nothing_new(demo, sandbox, pipeline_env, today):
    sandbox.wistia.release_hidden()
    day = today - timedelta(days=1)
    assert run_sync(day, day).success
    posted = len(sandbox.upsales.events)
    with duckdb.connect(pipeline_env["WISTIA_PIPELINE_DB"], read_only=True) as con:
        before = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("wistia_events", "converted_views", "matched_views", "filtered_views",
                            "view_rejections", "synced_ledger", "view_outcomes")}
    again = run_sync(day, day)
    assert again.success and again.posted == {"activities": 0, "forms": 0}
    assert len(sandbox.upsales.events) == posted
    with duckdb.connect(pipeline_env["WISTIA_PIPELINE_DB"], read_only=True) as con:
        after = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in before}
    assert after == before and before["wistia_events"] > 0


def test_the_run_is_recorded_in_dagster_home(demo, pipeline_env, today):
    import dagster as dg

    report = run_sync(today, today)
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(report.run_id)
        assert run is not None and run.is_success
        assert run.tags["dagster/asset_partition_range_start"] == today.isoformat()
        keys = instance.get_materialized_partitions(dg.AssetKey("synced_ledger"))
        assert today.isoformat() in keys


def test_cli_sync_prints_the_funnel_and_fails_on_a_bad_setting(demo, pipeline_env, today, tmp_path):
    cli = [sys.executable, "-m", "wistia_pipeline.cli"]
    env = {**os.environ}
    done = subprocess.run([*cli, "sync", "--start", str(today - timedelta(days=2)), "--end", str(today)],
                          env=env, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "activities: 189 views in Wistia -> 50 converted" in done.stdout
    assert "posted 14" in done.stdout and "Run succeeded." in done.stdout
    assert "forms: 189 views in Wistia -> 50 converted (Turnstile email) -> 35 at or above minimum %" in done.stdout
    assert "forms: submitted 27" in done.stdout

    bad = subprocess.run([*cli, "sync"], env={**env, "MIN_PERCENT_WATCHED": "120"}, capture_output=True,
                         text=True, cwd=tmp_path, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: MIN_PERCENT_WATCHED must be a number from 0 to 100, got '120'"

    wrong_key = subprocess.run([*cli, "sync", "--start", str(today), "--end", str(today)],
                               env={**env, "UPSALES_API_TOKEN": "not-the-key"}, capture_output=True, text=True,
                               cwd=tmp_path, timeout=300)
    assert wrong_key.returncode == 1
    assert "Upsales rejected the API key (401)" in wrong_key.stdout
    assert "not-the-key" not in wrong_key.stdout + wrong_key.stderr


def test_a_run_can_override_a_setting_in_its_own_config(demo, sandbox, pipeline_env, today):
    """Settings are Dagster config (the resource `pipeline_settings`): the launchpad's run config
    overrides one for one run, the environment's value stays for the next."""
    import dagster as dg

    from wistia_pipeline.automation import SYNC_JOB_NAME, range_tags
    from wistia_pipeline.definitions import build_defs

    job = build_defs().resolve_job_def(SYNC_JOB_NAME)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance, tags=range_tags(today - timedelta(days=2), today),
            run_config={"resources": {"pipeline_settings": {"config": {
                "min_percent_watched": "100", "sync_forms": "false"}}}})
    assert result.success
    with duckdb.connect(pipeline_env["WISTIA_PIPELINE_DB"], read_only=True) as con:
        below = con.execute("SELECT count(*) FROM view_rejections WHERE reason = 'below_min_percent' "
                            "AND destination = 'activities'").fetchone()[0]
        passed = con.execute("SELECT count(*), min(percent_viewed) FROM filtered_views").fetchone()
        destinations = con.execute("SELECT DISTINCT destination FROM view_outcomes").fetchall()
    assert below > 0 and (passed[0] == 0 or passed[1] >= 1.0)
    assert destinations == [("activities",)]  # SYNC_FORMS overridden to false for this run

    run = run_sync(today - timedelta(days=2), today)  # the environment's settings again
    assert run.success and run.funnels["activities"]["at_min_percent"] > passed[0]


def test_overriding_one_setting_keeps_the_environments_others(demo, sandbox, pipeline_env, today):
    """Run config for the resource replaces its whole configuration: the fields it leaves out
    still take the environment's values (here SYNC_FORMS=true), not their defaults (false)."""
    import dagster as dg

    from wistia_pipeline.automation import SYNC_JOB_NAME, range_tags
    from wistia_pipeline.definitions import build_defs

    assert os.environ["SYNC_FORMS"] == "true"
    job = build_defs().resolve_job_def(SYNC_JOB_NAME)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance, tags=range_tags(today - timedelta(days=2), today),
            run_config={"resources": {"pipeline_settings": {"config": {"min_percent_watched": "100"}}}})
    assert result.success
    with duckdb.connect(pipeline_env["WISTIA_PIPELINE_DB"], read_only=True) as con:
        destinations = con.execute("SELECT DISTINCT destination FROM view_outcomes ORDER BY 1").fetchall()
        below = con.execute("SELECT count(*) FROM view_rejections WHERE reason = 'below_min_percent' "
                            "AND destination = 'forms'").fetchone()[0]
    assert destinations == [("activities",), ("forms",)]
    assert below > 0  # the override holds for both destinations


def test_notify_on_only_the_views_at_or_above_its_minimum_notify(demo, sandbox, pipeline_env, today, monkeypatch):
    """Issue #15: with ACTIVITY_NOTIFY the posted entries at or above ACTIVITY_NOTIFY_MIN_PERCENT
    carry `notify: true` (Upsales notifies the account managers), the others none; the ledger keeps
    which did, and `explain` says so."""
    from wistia_pipeline import rules
    from wistia_pipeline.operations.explain import explain
    from wistia_pipeline.settings import Settings

    monkeypatch.setenv("ACTIVITY_NOTIFY", "true")
    monkeypatch.setenv("ACTIVITY_NOTIFY_MIN_PERCENT", "60")
    run = run_sync(today - timedelta(days=2), today)
    assert run.success and run.posted["activities"] == 14, run.error
    with duckdb.connect(pipeline_env["WISTIA_PIPELINE_DB"], read_only=True) as con:
        posted = con.execute(
            "SELECT l.external_id, f.percent_viewed, l.notified, f.email FROM synced_ledger AS l JOIN filtered_views AS f "
            "USING (destination, event_key) WHERE l.destination = 'activities'").fetchall()
    assert len(posted) == 14
    stored = {e["externalId"]: e.get("notify") for e in sandbox.upsales.events}
    expected = {external_id: (True if percent * 100 >= 60 - rules.PERCENT_TOLERANCE else None)
                for external_id, percent, _, _ in posted}
    assert stored == expected
    assert {True, None} == set(expected.values())  # the demo has views on both sides of 60 %
    assert all(notified == (expected[external_id] is True) for external_id, _, notified, _ in posted)
    email = next(e for x, p, n, e in posted if n)
    words = [o.words for v in explain(email, Settings.from_env(), today).views for o in v.outcomes
             if o.destination == "activities" and o.outcome == "synced"]
    assert any(", notifying the account managers by run " in w for w in words)
