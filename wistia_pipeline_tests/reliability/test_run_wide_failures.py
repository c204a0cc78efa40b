"""Failures of a whole run, not of one view: a refusal of every post, a failure on the window's
oldest day, a lost DuckDB file plus a changed setting. Each must lose nothing and post nothing
twice, and the run's report must say what it did and what it left (issue #10, cases 1-3 and 9).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from wistia_pipeline import cli
from wistia_pipeline.sandbox import Fault
from wistia_pipeline.sinks.posting import POST_THREADS, SYSTEMATIC_REFUSALS
from wistia_pipeline_tests.reliability.world import assert_complete, connect, ledger_rows, submitted_keys

pytestmark = pytest.mark.e2e  # whole Dagster runs against the sandbox

REGDATE = ('{"error": {"key": "FailedValidation", "code": 400, "errorCode": 26, '
           '"msg": "Missing required field: regDate"}, "metadata": null}')


def statuses(db_path, destination: str) -> Counter:
    return Counter(s for d, _, s, _ in ledger_rows(db_path) if d == destination)


def test_a_refusal_of_every_post_rejects_nothing_and_the_next_run_posts_them_all(sandbox, world, run):
    refuse_all = Fault(400, body=REGDATE, count=10_000, path_prefix="/v2/events", method="POST")
    sandbox.upsales.inject(refuse_all)
    first = run()
    assert not first.success
    assert "refused 5 posts in a row" in first.error and "Missing required field: regDate" in first.error
    assert refuse_all.fired == SYSTEMATIC_REFUSALS  # it stopped instead of refusing the whole window
    assert statuses(run.db_path, "activities") == {"pending": len(world.activity_keys)}  # none rejected
    assert len(sandbox.upsales.form_submits) == len(world.form_keys)  # the other destination went on
    assert first.counts["activities"]["refused_retryable"] == SYSTEMATIC_REFUSALS
    assert first.counts["activities"]["not_attempted"] == len(world.activity_keys) - SYSTEMATIC_REFUSALS
    with connect(run.db_path) as con:
        history = con.execute("SELECT count(*), min(error) FROM ledger_attempts WHERE outcome = 'refused'").fetchone()
    assert history[0] == SYSTEMATIC_REFUSALS and "regDate" in history[1]

    sandbox.upsales.clear_faults()  # Upsales is fixed: the next run posts every view by itself
    second = run.until_complete("after Upsales accepts posts again")
    assert second.posted == {"activities": len(world.activity_keys), "forms": 0}


def test_a_gateway_404_page_is_never_a_reason_to_reject(sandbox, world, run):
    page = "<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
    sandbox.upsales.inject(Fault(404, body=page, count=10_000, path_prefix="/v2/events", method="POST"))
    first = run()
    assert not first.success
    assert "rejected" not in statuses(run.db_path, "activities")
    sandbox.upsales.clear_faults()
    run.until_complete("after the gateway is fixed")


def test_views_of_the_window_s_oldest_day_are_posted_after_it_left_the_window(sandbox, world, run, monkeypatch):
    """Every post fails on the run over both days; the later runs cover only the newer day."""
    sandbox.upsales.inject(Fault(500, count=10_000, method="POST"))
    first = run()
    assert not first.success
    assert {s for d, _, s, _ in ledger_rows(run.db_path)} <= {"pending", "in_flight"}
    sandbox.upsales.clear_faults()

    oldest = world.first
    monkeypatch.setattr(run.world, "first", world.last)  # midnight passed: the oldest day left the window
    second = run.until_complete("the oldest day left the window")  # every view of both days, once
    carried = sum(1 for k in world.activity_keys if oldest.isoformat() in k)
    assert second.counts["activities"]["carried_over"] == carried > 0
    assert second.counts["activities"]["reconciled_missing"] > 0  # in flight, absent, then posted
    with connect(run.db_path) as con:
        outcomes = Counter(con.execute("SELECT outcome FROM view_outcomes WHERE day = ? AND destination = "
                                       "'activities' AND outcome <> 'skipped'", [oldest]).fetchall())
    assert outcomes == {("synced",): carried}  # the old day's outcomes follow the ledger too
    report = cli.format_report(second)
    assert f"activities: posted {len(world.activity_keys)} ({carried} of the queue from days before" in report


def test_a_failed_run_reports_what_it_posted_and_what_it_left(sandbox, world, run):
    down = Fault(500, count=10_000, path_prefix="/v2/events", method="POST", skip=4)
    sandbox.upsales.inject(down)
    first = run()
    assert not first.success
    counts = first.counts["activities"]
    assert counts["posted"] == 4 and first.posted["activities"] == 4
    # Three unconfirmed in a row and Upsales looks down: posting stops (the posts already in flight
    # when the failures began, up to POST_THREADS, come back unconfirmed too).
    unconfirmed = counts["unconfirmed"]
    assert 3 <= unconfirmed <= POST_THREADS
    assert counts["not_attempted"] == len(world.activity_keys) - 4 - unconfirmed
    assert statuses(run.db_path, "activities") == {"posted": 4, "in_flight": unconfirmed,
                                                   "pending": counts["not_attempted"]}
    report = cli.format_report(first)
    assert "activities: posted 4" in report
    assert (f"activities: not posted: {unconfirmed} unconfirmed (maybe stored: looked up before any new post), "
            f"{counts['not_attempted']} never attempted; the next run retries them") in report
    assert "forms: submitted 14" in report and report.splitlines()[-1].startswith("Run FAILED: ")
    sandbox.upsales.clear_faults()
    run.until_complete("after Upsales came back")


def test_a_lost_file_and_a_form_policy_change_submit_nothing_again(sandbox, world, run, monkeypatch):
    monkeypatch.setenv("SYNC_ACTIVITIES", "false")
    monkeypatch.setenv("FORM_POLICY", "single")
    world.activity_keys = set()
    world.form_names = ["Wistia video views"]
    run.until_complete("forms only, one form")
    os.remove(run.db_path)

    monkeypatch.setenv("FORM_POLICY", "project")
    again = run()
    assert again.success, again.error
    assert again.posted == {"forms": 0}
    assert Counter(submitted_keys(sandbox)) == Counter(world.form_keys)  # nothing submitted twice
    assert statuses(run.db_path, "forms") == {"posted": len(world.form_keys)}
    with connect(run.db_path) as con:
        forms = {name for (name,) in con.execute("SELECT DISTINCT form_name FROM synced_ledger").fetchall()}
    assert forms == {"Wistia video views"}  # recorded where they were found
    assert [f["name"] for f in sandbox.upsales.forms] == ["Wistia video views"]  # no form made for nothing


def test_a_lost_file_and_a_renamed_project_submit_nothing_again(sandbox, world, run):
    run.until_complete("first")
    os.remove(run.db_path)
    for media in sandbox.wistia.medias:
        if media["project"]["name"] == "Product tours":
            media["project"]["name"] = "Product tours 2026"
    for project in sandbox.wistia.projects:
        if project["name"] == "Product tours":
            project["name"] = "Product tours 2026"
    again = run()
    assert again.success, again.error
    assert again.posted == {"activities": 0, "forms": 0}
    assert Counter(submitted_keys(sandbox)) == Counter(world.form_keys)


def test_an_expected_failure_prints_one_line_and_its_traceback_only_when_verbose(sandbox, world, run, capsys):
    sandbox.upsales.inject(Fault(400, body=REGDATE, count=10_000, path_prefix="/v2/events", method="POST"))
    days = ["--start", world.first.isoformat(), "--end", world.last.isoformat()]
    assert cli.main(["sync", *days]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "Stack Trace" not in out + err
    assert out.splitlines()[-1].startswith("Run FAILED: synced_ledger: activities: Upsales refused 5 posts in a row")
    assert "activities: posted 0" in out and "forms: submitted 14" in out
    assert all(line.startswith(("warning: ", "error: ")) for line in err.splitlines() if line.strip()), err

    assert cli.main(["sync", "--verbose", *days]) == 1
    out, err = capsys.readouterr()
    assert "Stack Trace" in err and "STEP_FAILURE" in err
    assert out.splitlines()[-1].startswith("Run FAILED: synced_ledger: activities: Upsales refused 5 posts in a row")
