"""The production instance end to end: the real `dagster-daemon`, with DAGSTER_HOME holding
deploy/dagster.postgres.yaml and a PostgreSQL server of the test's own, launches a tick of the
20-minute schedule against the sandbox loaded with the demo. The run succeeds, its events are in
PostgreSQL, and the sandbox's Upsales received each expected post exactly once.

The schedule is turned on as the UI's switch does (its state RUNNING in the schedule storage), but
as of 25 minutes ago: the daemon's first iteration then owes the most recent :00/:20/:40 tick and
launches it at once (a schedule without partitions never catches up on more than one), instead of
the test waiting up to 20 minutes for the next one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

import dagster as dg
import duckdb
import pytest
from dagster._core.remote_origin import RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import (
    InstigatorState, InstigatorStatus, InstigatorType, ScheduleInstigatorData, TickStatus,
)
from dagster._core.workspace.load import location_origins_from_yaml_paths

from wistia_pipeline.automation import (
    RANGE_END_TAG, RANGE_START_TAG, SCHEDULE_NAME, SCHEDULE_TAG, SYNC_JOB_NAME, lookback_window,
    wistia_sync_every_20_minutes,
)
from wistia_pipeline.rules import external_id
from wistia_pipeline.sandbox import Sandbox, load_demo
from wistia_pipeline.sinks.forms import submitted_event_key
from wistia_pipeline_tests.automation.conftest import (
    LOCATION, PIPELINE_SETTINGS, REPO, RUN_TIMEOUT, stop_process_group, wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

DAGSTER_DAEMON = REPO / ".venv" / "bin" / "dagster-daemon"
WORKSPACE = REPO / "workspace.yaml"
TURNED_ON_MINUTES_AGO = 25
DONE = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def schedule_turned_on(started_at: float) -> InstigatorState:
    """The schedule's state as the UI's switch writes it, with its start moved back in time.

    The origin is the one the daemon builds from the same workspace.yaml, run by the same Python
    (the daemon below runs with this interpreter, which is part of the origin)."""
    [location] = location_origins_from_yaml_paths([str(WORKSPACE)])
    assert location.location_name == LOCATION
    origin = RemoteRepositoryOrigin(location, "__repository__").get_instigator_origin(SCHEDULE_NAME)
    cron = wistia_sync_every_20_minutes.cron_schedule
    return InstigatorState(origin, InstigatorType.SCHEDULE, InstigatorStatus.RUNNING,
                           ScheduleInstigatorData(cron, start_timestamp=started_at))


def posted_event_keys(db_path, destination: str) -> set[str]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute("SELECT event_key FROM synced_ledger WHERE destination = ? AND status = 'posted'",
                           [destination]).fetchall()
    return {key for (key,) in rows}


def test_the_daemon_on_postgres_launches_a_scheduled_sync_that_posts_each_view_once(
        tmp_path, postgres_db, monkeypatch):
    started = time.monotonic()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    db_path = tmp_path / "pipeline.duckdb"
    log = tmp_path / "dagster_daemon.log"
    for name, value in postgres_db.env().items():
        monkeypatch.setenv(name, value)  # this process reads the same instance as the daemon
    today = datetime.now(timezone.utc).date()

    with Sandbox() as sb:
        scenario = load_demo(sb, today)
        env = {k: v for k, v in os.environ.items() if k not in PIPELINE_SETTINGS}
        env.update(sb.env())
        env.update(scenario.env)
        env.update(postgres_db.env())
        env.update({"DAGSTER_HOME": str(home), "WISTIA_PIPELINE_DB": str(db_path),
                    "DAGSTER_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"})

        with dg.DagsterInstance.from_config(str(home)) as instance:
            state = instance.add_instigator_state(schedule_turned_on(time.time() - TURNED_ON_MINUTES_AGO * 60))

            with log.open("wb") as out:
                daemon = subprocess.Popen(
                    [sys.executable, str(DAGSTER_DAEMON), "run", "-w", str(WORKSPACE)],
                    cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own group: daemon, code server, run worker
                )
            try:
                def scheduled_run_done():
                    if daemon.poll() is not None:
                        raise AssertionError(f"dagster-daemon exited ({daemon.returncode}):\n{tail(log)}")
                    runs = instance.get_runs(dg.RunsFilter(tags={SCHEDULE_TAG: SCHEDULE_NAME}))
                    return runs[-1] if runs and runs[-1].status in DONE else None  # the first tick's run

                run = wait_for(scheduled_run_done, RUN_TIMEOUT + 60, "the scheduled run to finish", interval=1.0)
                ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
                # The daemon ticked the state turned on above (the same origin), not one of its own.
                states = instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
            finally:
                stop_process_group(daemon)
            daemon_log = log.read_text(errors="replace")

        assert run.status == dg.DagsterRunStatus.SUCCESS, daemon_log[-4000:]
        assert run.job_name == SYNC_JOB_NAME
        # A tick of the schedule over the lookback window ending on the tick's day (today: the
        # latest :00/:20/:40 is never on another UTC day than now).
        first, last = lookback_window(today, int(scenario.env["LOOKBACK_DAYS"]))
        assert (run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG]) == (first.isoformat(), last.isoformat())
        assert [s.instigator_origin_id for s in states] == [state.instigator_origin_id]
        assert [t.status for t in ticks if run.run_id in t.run_ids] == [TickStatus.SUCCESS]

        # Its events are in PostgreSQL, in the database DAGSTER_PG_DB names.
        [(status,)] = postgres_db.query("SELECT status FROM runs WHERE run_id = %s", (run.run_id,))
        assert status == "SUCCESS"
        kinds = dict(postgres_db.query(
            "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s GROUP BY 1", (run.run_id,)))
        # (The enum's values are the stored names: RUN_SUCCESS is stored as "PIPELINE_SUCCESS".)
        assert kinds[dg.DagsterEventType.RUN_SUCCESS.value] == 1
        assert kinds[dg.DagsterEventType.ASSET_MATERIALIZATION.value] >= 5  # every stage, every day
        assert postgres_db.query("SELECT count(*) FROM job_ticks WHERE status = 'SUCCESS'")[0][0] >= 1

        # The demo's first sync, each post exactly once: 14 activities, 27 form submissions.
        activities = posted_event_keys(db_path, "activities")
        assert len(activities) == scenario.expected["first_run"][-1] == 14
        sent = [e["externalId"] for e in sb.upsales.events]
        assert sorted(sent) == sorted(external_id(key) for key in activities)
        assert sb.upsales.request_count("/v2/events", "POST") == len(activities)
        forms = posted_event_keys(db_path, "forms")
        assert len(forms) == scenario.expected["forms_first_run"][-1] == 27
        assert sorted(submitted_event_key(s) for s in sb.upsales.form_submits) == sorted(forms)
        assert sb.upsales.request_count("/external/formSubmit", "POST") == len(forms)

        # No secret in the daemon's log: neither the database password nor an API token.
        for secret in (postgres_db.password, sb.wistia.token, sb.upsales.token):
            assert secret not in daemon_log
    assert time.monotonic() - started < 300


def tail(log, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:]
