"""Issue #14's "Done when" on PostgreSQL instance storage: the real `dagster-daemon` with
deploy/dagster.postgres.yaml ticks the schedule once for a 3-account file; the tick launches one
run per account (tag wistia/account), each account's run posts exactly its own views to its own
Upsales, and gamma, whose Upsales key is rejected, fails alone. The schedule is turned on as of
25 minutes ago, as in automation/test_daemon_postgres.py, so the first tick is owed at once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

import dagster as dg
import pytest

from wistia_pipeline.account_defs import ACCOUNT_TAG
from wistia_pipeline.automation import SCHEDULE_NAME, SCHEDULE_TAG
from wistia_pipeline.rules import external_id
from wistia_pipeline_tests.accounts.many import NAMES, posted_keys, three_accounts
from wistia_pipeline_tests.automation.conftest import PIPELINE_SETTINGS, REPO, RUN_TIMEOUT, stop_process_group, wait_for
from wistia_pipeline_tests.automation.test_daemon_postgres import (
    DAGSTER_DAEMON, DONE, TURNED_ON_MINUTES_AGO, WORKSPACE, posted_event_keys, schedule_turned_on, tail,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_the_daemon_on_postgres_launches_one_run_per_account_each_posting_to_its_own_upsales(
        tmp_path, postgres_db, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    log = tmp_path / "dagster_daemon.log"
    for name, value in postgres_db.env().items():
        monkeypatch.setenv(name, value)
    today = datetime.now(timezone.utc).date()

    with three_accounts(tmp_path, today, bad_upsales_token="gamma") as accounts:
        env = {k: v for k, v in os.environ.items() if k not in PIPELINE_SETTINGS}
        env.update(accounts.env)
        env.update(postgres_db.env())
        env.update({"DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"})
        # The schedule's origin is read from the same workspace as the daemon's, in this process.
        monkeypatch.setenv("WISTIA_PIPELINE_ACCOUNTS", accounts.env["WISTIA_PIPELINE_ACCOUNTS"])

        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.add_instigator_state(schedule_turned_on(time.time() - TURNED_ON_MINUTES_AGO * 60))
            with log.open("wb") as out:
                daemon = subprocess.Popen(
                    [sys.executable, str(DAGSTER_DAEMON), "run", "-w", str(WORKSPACE)],
                    cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            try:
                def every_account_done():
                    if daemon.poll() is not None:
                        raise AssertionError(f"dagster-daemon exited ({daemon.returncode}):\n{tail(log)}")
                    runs = instance.get_runs(dg.RunsFilter(tags={SCHEDULE_TAG: SCHEDULE_NAME}))
                    done = {run.tags.get(ACCOUNT_TAG): run for run in runs if run.status in DONE}
                    return done if set(done) == set(NAMES) else None

                runs = wait_for(every_account_done, 2 * RUN_TIMEOUT, "a scheduled run of every account", interval=2.0)
                every_run = instance.get_runs(dg.RunsFilter(tags={SCHEDULE_TAG: SCHEDULE_NAME}))
            finally:
                stop_process_group(daemon)
            daemon_log = log.read_text(errors="replace")

        # One run per account from the one tick, each selecting only its own assets.
        assert sorted(run.tags[ACCOUNT_TAG] for run in every_run) == sorted(NAMES)
        for name, run in runs.items():
            assert {key.path[0] for key in run.asset_selection} == {name}
        assert runs["acme"].status == dg.DagsterRunStatus.SUCCESS, daemon_log[-4000:]
        assert runs["beta"].status == dg.DagsterRunStatus.SUCCESS, daemon_log[-4000:]
        assert runs["gamma"].status == dg.DagsterRunStatus.FAILURE
        [(status,)] = postgres_db.query("SELECT status FROM runs WHERE run_id = %s", (runs["acme"].run_id,))
        assert status == "SUCCESS"

        for name in ("acme", "beta"):
            activities, forms = posted_keys(accounts.sandboxes[name])
            ledger_activities = posted_event_keys(accounts.db(name), "activities")
            ledger_forms = posted_event_keys(accounts.db(name), "forms")
            assert len(ledger_activities) == 14 and len(ledger_forms) == 27
            assert sorted(activities) == sorted(external_id(key) for key in ledger_activities)
            assert sorted(forms) == sorted(ledger_forms)
            assert all(key.startswith(f"{name}_") for key in [*ledger_activities, *ledger_forms])
        assert posted_keys(accounts.sandboxes["gamma"]) == ([], [])
        for sandbox in accounts.sandboxes.values():
            for secret in (sandbox.wistia.token, sandbox.upsales.token):
                assert secret not in daemon_log
        assert postgres_db.password not in daemon_log
