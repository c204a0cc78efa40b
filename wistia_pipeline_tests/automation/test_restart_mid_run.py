"""The whole deployment killed mid-run (host restart, container OOM) and started again: the next
schedule tick fails the dead run, frees its slot and requests a new sync, which succeeds; the
failure alert is posted. A `dagster dev` of its own (killed and restarted on one DAGSTER_HOME),
not the package's shared one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from wistia_pipeline.automation import SCHEDULE_NAME, SCHEDULE_TAG, SYNC_JOB_NAME
from wistia_pipeline.run_health import run_process
from wistia_pipeline.sandbox import Fault, Sandbox, load_demo
from wistia_pipeline.stages.common import DUCKDB_POOL
from wistia_pipeline_tests.automation.conftest import (
    DAGSTER, LAUNCH_RUN, LOCATION, PIPELINE_SETTINGS, REPO, STARTUP_TIMEOUT, DagsterDev, _location_loaded,
    free_port, stop_process_group, wait_for,
)
from wistia_pipeline_tests.test_alerts import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

GONE = "is gone: the deployment was restarted or the process was killed"
SCHEDULE_SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                     "scheduleName": SCHEDULE_NAME}

SCHEDULE_STATE = """
query($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) { __typename ... on Schedule { scheduleState { id } } }
}"""

STOP_SCHEDULE = """
mutation($id: String!) { stopRunningSchedule(id: $id) { __typename ... on PythonError { message } } }"""

DRY_RUN = """
mutation($selector: ScheduleSelector!, $timestamp: Float!) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on DryRunInstigationTick { evaluationResult {
        skipReason error { message } runRequests { tags { key value } } } }
    ... on PythonError { message }
  }
}"""


def start_dev(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(DAGSTER), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", env["TEST_PORT"]],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # one process group: webserver, daemon, code server, run workers
        )


def launch(dev: DagsterDev, tags: dict[str, str]) -> str:
    data = dev.graphql(LAUNCH_RUN, {"params": {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": SYNC_JOB_NAME},
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }})["launchRun"]
    assert data["__typename"] == "LaunchRunSuccess", data
    return data["run"]["runId"]


def test_a_deployment_killed_mid_run_syncs_again_at_the_next_tick(tmp_path):
    started = time.monotonic()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    today = datetime.now(timezone.utc).date()
    log = tmp_path / "dagster_dev.log"
    with Sandbox() as sb, Receiver() as webhook:
        scenario = load_demo(sb, today)
        env = {k: v for k, v in os.environ.items() if k not in PIPELINE_SETTINGS}
        env.update(sb.env())
        env.update(scenario.env)
        env.update({"DAGSTER_HOME": str(home), "WISTIA_PIPELINE_DB": str(tmp_path / "pipeline.duckdb"),
                    "ALERT_WEBHOOK_URL": webhook.url, "DAGSTER_DISABLE_TELEMETRY": "1",
                    "PYTHONUNBUFFERED": "1", "TEST_PORT": str(free_port())})
        process = start_dev(env, log)
        dev = DagsterDev(url=f"http://127.0.0.1:{env['TEST_PORT']}", process=process, log=log, sandbox=sb,
                         scenario=scenario, today=today, db_path=tmp_path / "pipeline.duckdb")
        try:
            wait_for(lambda: _location_loaded(dev), STARTUP_TIMEOUT, "dagster dev to load the code location")
            # Only this test's ticks: a real one at :00/:20/:40 would race the launch below.
            state = dev.graphql(SCHEDULE_STATE, {"selector": SCHEDULE_SELECTOR})["scheduleOrError"]["scheduleState"]
            dev.graphql(STOP_SCHEDULE, {"id": state["id"]})

            # The deployment dies, all of it at once, while the scheduled run is posting.
            def kill_everything() -> None:
                os.killpg(process.pid, signal.SIGKILL)

            sb.upsales.inject(Fault(mode="drop_after_write", method="POST", path_prefix="/v2/events", skip=2,
                                    on_fire=kill_everything))
            first, last = today.isoformat(), today.isoformat()
            dead_id = launch(dev, {SCHEDULE_TAG: SCHEDULE_NAME, "dagster/asset_partition_range_start": first,
                                   "dagster/asset_partition_range_end": last})
            process.wait(timeout=180)
            with dg.DagsterInstance.from_config(str(home)) as instance:
                dead = instance.get_run_by_id(dead_id)
                assert dead.status == dg.DagsterRunStatus.STARTED  # nobody is left to notice
                worker = run_process(dead)
                assert worker is not None, dead.tags  # its first step named its process
                wait_for(worker.gone, 30, f"the run worker ({worker.where}) to be gone")
                claimed = instance.event_log_storage.get_concurrency_info(DUCKDB_POOL).claimed_slots
                assert [slot.run_id for slot in claimed] == [dead_id]

            # Started again on the same DAGSTER_HOME; the next tick, evaluated by its code server.
            process = start_dev(env, log)
            dev.process = process
            wait_for(lambda: _location_loaded(dev), STARTUP_TIMEOUT, "dagster dev to load the code location again")
            tick = dev.graphql(DRY_RUN, {"selector": SCHEDULE_SELECTOR, "timestamp": time.time()})["scheduleDryRun"]
            assert tick["__typename"] == "DryRunInstigationTick", tick
            evaluation = tick["evaluationResult"]
            assert evaluation["error"] is None and evaluation["skipReason"] is None, evaluation
            [request] = evaluation["runRequests"]

            with dg.DagsterInstance.from_config(str(home)) as instance:
                dead = instance.get_run_by_id(dead_id)
                assert dead.status == dg.DagsterRunStatus.FAILURE
                [failure] = instance.get_records_for_run(dead_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
                assert failure.event_log_entry.dagster_event.message == f"its process ({worker.where}) {GONE}"
                holders = instance.event_log_storage.get_concurrency_info(DUCKDB_POOL).claimed_slots
                assert dead_id not in [slot.run_id for slot in holders]

            tags = {t["key"]: t["value"] for t in request["tags"]}
            new_id = launch(dev, {**tags, SCHEDULE_TAG: SCHEDULE_NAME})
            assert dev.wait_for_run(new_id) == "SUCCESS", dev.tail()

            def alerted():
                return [b for b in webhook.bodies if b["run_id"] == dead_id]

            [alert] = wait_for(alerted, 120, "the failure alert of the dead run", interval=1.0)
            assert GONE in alert["error"]
        finally:
            stop_process_group(dev.process)
    assert time.monotonic() - started < 300
