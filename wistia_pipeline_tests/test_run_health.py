"""Runs that cannot still be running (their process is gone) are failed, their slots freed, and
the schedule ticks again; doctor says so; the failure alert names the process. Real Dagster
instances, runs with made-up process tags, slots claimed in the real concurrency tables."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType

from wistia_pipeline.settings import PipelineSettings
from wistia_pipeline import alerts, run_health
from wistia_pipeline.automation import SCHEDULE_NAME, SCHEDULE_TAG, SYNC_JOB_NAME, wistia_sync_every_20_minutes
from wistia_pipeline.definitions import defs
from wistia_pipeline.operations.doctor import check_runs
from wistia_pipeline.run_health import (
    BOOT_TAG, HOST_TAG, OWNER_TAG, PID_TAG, START_TAG, SlotWaitTimeout, process_tags, release_stuck_runs,
    wait_for_slot,
)
from wistia_pipeline.stages.common import DUCKDB_POOL, day_window, daily_partitions
from wistia_pipeline_tests.test_alerts import Receiver, failure_context

REPO = Path(__file__).resolve().parents[1]
HOST = socket.gethostname()
linux_only = pytest.mark.skipif(not run_health.boot_id(), reason="needs /proc and a boot id")


@pytest.fixture
def home(tmp_path) -> Path:
    """A DAGSTER_HOME with the project's dagster.yaml (one slot per pool, claimed per step)."""
    path = tmp_path / "dagster_home"
    path.mkdir()
    shutil.copy(REPO / "dagster.yaml", path / "dagster.yaml")
    return path


@pytest.fixture
def instance(home):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def dead_pid() -> int:
    """The pid of a child that has exited and been reaped: surely no process."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def start_run(instance, tags: dict[str, str] | None = None, *, job: str = SYNC_JOB_NAME,
              parent: str | None = None) -> str:
    """A run that Dagster considers STARTED (a real start event, so it has a start time)."""
    run_id = str(uuid.uuid4())
    instance.add_run(dg.DagsterRun(job_name=job, run_id=run_id, status=dg.DagsterRunStatus.NOT_STARTED,
                                   tags=tags or {}, parent_run_id=parent, root_run_id=parent))
    instance.report_dagster_event(DagsterEvent(DagsterEventType.PIPELINE_START.value, job_name=job), run_id=run_id)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
    return run_id


def tagged(run_id: str, pid: int, **overrides: str) -> dict[str, str]:
    return {**process_tags(run_id), PID_TAG: str(pid), **overrides}


def start_run_in(instance, pid: int, *, schedule: bool = False, **overrides: str) -> str:
    """A STARTED run whose tags say it runs in `pid` on this host (its own run id as the owner)."""
    run_id = start_run(instance)
    tags = tagged(run_id, pid, **overrides)
    if schedule:
        tags[SCHEDULE_TAG] = SCHEDULE_NAME
    instance.add_run_tags(run_id, tags)
    return run_id


def hold_slot(instance, run_id: str, step: str = "synced_ledger") -> None:
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(DUCKDB_POOL)
    assert storage.claim_concurrency_slot(DUCKDB_POOL, run_id, step).is_claimed


def slot_holders(instance) -> list[str]:
    return [slot.run_id for slot in instance.event_log_storage.get_concurrency_info(DUCKDB_POOL).claimed_slots]


def status(instance, run_id: str) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def failure_message(instance, run_id: str) -> str:
    [record] = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records
    return record.event_log_entry.dagster_event.message


# --- failing runs whose process is gone --------------------------------------------------------

def test_a_run_whose_process_is_gone_is_failed_and_its_slot_freed(instance):
    pid = dead_pid()
    run_id = start_run_in(instance, pid)
    hold_slot(instance, run_id)

    released = release_stuck_runs(instance)

    assert [r.run_id for r in released] == [run_id]
    assert status(instance, run_id) == dg.DagsterRunStatus.FAILURE
    assert failure_message(instance, run_id) == (
        f"its process (pid {pid} on {HOST}) is gone: the deployment was restarted or the process was killed")
    assert slot_holders(instance) == []
    assert release_stuck_runs(instance) == []  # nothing left to do


@linux_only
def test_a_pid_now_used_by_another_process_counts_as_gone(instance):
    # this test's own pid, but the start time of an earlier process: the pid was reused
    run_id = start_run_in(instance, os.getpid(), **{START_TAG: "1"})
    release_stuck_runs(instance)
    assert status(instance, run_id) == dg.DagsterRunStatus.FAILURE


@linux_only
def test_a_run_from_before_a_reboot_counts_as_gone(instance):
    run_id = start_run_in(instance, os.getpid(), **{BOOT_TAG: "00000000-0000-0000-0000-000000000000"})
    release_stuck_runs(instance)
    assert status(instance, run_id) == dg.DagsterRunStatus.FAILURE


def test_live_runs_other_hosts_and_copied_tags_are_left_alone(instance):
    live = start_run_in(instance, os.getpid())  # this very process, really running
    hold_slot(instance, live)
    elsewhere = start_run_in(instance, dead_pid(), **{HOST_TAG: "another-machine"})
    parent = str(uuid.uuid4())
    # a re-execution copies its parent's tags: they name the parent's (dead) process, not its own
    copied = start_run(instance, tagged(parent, dead_pid()), parent=parent)
    untagged = start_run(instance)

    assert release_stuck_runs(instance) == []
    for run_id in (live, elsewhere, copied, untagged):
        assert status(instance, run_id) == dg.DagsterRunStatus.STARTED
    assert slot_holders(instance) == [live]


def test_a_slot_held_by_a_finished_or_deleted_run_is_freed(instance):
    finished = start_run(instance)
    hold_slot(instance, finished)
    instance.report_run_failed(instance.get_run_by_id(finished), message="ended")
    assert release_stuck_runs(instance)[0].message == f"freed the pool slots of run {finished[:8]} (FAILURE)"
    assert slot_holders(instance) == []

    deleted = str(uuid.uuid4())
    hold_slot(instance, deleted)
    assert [r.run_id for r in release_stuck_runs(instance)] == [deleted]
    assert slot_holders(instance) == []


def test_a_dead_run_waiting_for_the_slot_does_not_keep_it_once_given(instance):
    """A waiting step is given the slot when it frees; dead, it would hold it without using it."""
    working = start_run_in(instance, os.getpid())
    hold_slot(instance, working)
    waiting = start_run_in(instance, dead_pid())
    assert not instance.event_log_storage.claim_concurrency_slot(DUCKDB_POOL, waiting, "wistia_events").is_claimed

    release_stuck_runs(instance)
    assert status(instance, waiting) == dg.DagsterRunStatus.FAILURE
    instance.event_log_storage.free_concurrency_slot_for_step(working, "synced_ledger")
    assert run_health.pool_holders(instance, DUCKDB_POOL)[0] == []  # nobody was given the slot


# --- where runs record their process -----------------------------------------------------------

def test_every_step_tags_its_run_with_its_process_once(instance):
    @dg.asset(partitions_def=daily_partitions)
    def probe(context) -> None:
        day_window(context)  # what every stage asset calls first
        day_window(context)

    result = dg.materialize([probe], partition_key="2026-03-10", instance=instance)
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags[HOST_TAG] == HOST and tags[PID_TAG] == str(os.getpid()) and tags[OWNER_TAG] == result.run_id
    if run_health.boot_id():
        assert tags[BOOT_TAG] == run_health.boot_id() and tags[START_TAG] == run_health.process_start(os.getpid())


def test_steps_run_in_the_run_process_so_a_steps_pid_is_the_runs():
    assert defs.resolve_job_def(SYNC_JOB_NAME).executor_def is dg.in_process_executor
    assert defs.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor


def test_runs_have_a_maximum_runtime_of_12_hours(instance):
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_runtime_seconds == run_health.MAX_RUNTIME_S == 12 * 3600
    assert defs.resolve_job_def(SYNC_JOB_NAME).run_tags["dagster/max_runtime"] == str(12 * 3600)


# --- the schedule tick -------------------------------------------------------------------------

def tick(instance: dg.DagsterInstance):
    """One evaluation of the schedule at 12:40 UTC, its resources released after it."""
    with dg.build_schedule_context(instance=instance,
                                   scheduled_execution_time=datetime(2026, 3, 10, 12, 40, tzinfo=UTC),
                                   resources={"pipeline_settings": PipelineSettings.from_environment()}) as context:
        return wistia_sync_every_20_minutes(context)


def test_a_tick_fails_a_dead_scheduled_run_and_requests_a_new_one(instance):
    pid = dead_pid()
    dead = start_run_in(instance, pid, schedule=True)
    hold_slot(instance, dead)
    result = tick(instance)

    assert isinstance(result, dg.RunRequest)
    assert status(instance, dead) == dg.DagsterRunStatus.FAILURE
    assert f"pid {pid} on {HOST}) is gone" in failure_message(instance, dead)
    assert slot_holders(instance) == []


def test_a_tick_still_waits_for_a_live_scheduled_run(instance):
    start_run_in(instance, os.getpid(), schedule=True)
    assert isinstance(tick(instance), dg.SkipReason)


# --- the alert -----------------------------------------------------------------------------------

def test_the_failure_alert_for_a_released_run_says_its_process_is_gone(instance, monkeypatch):
    pid = dead_pid()
    run_id = start_run_in(instance, pid)
    release_stuck_runs(instance)
    with Receiver() as receiver:
        monkeypatch.setenv("ALERT_WEBHOOK_URL", receiver.url)
        assert alerts.alert_on_run_failure(failure_context(run_id, instance)) is None
    [message] = receiver.bodies
    assert message["run_id"] == run_id
    assert message["error"] == (
        f"its process (pid {pid} on {HOST}) is gone: the deployment was restarted or the process was killed")


# --- waiting for the slot --------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_wait_says_every_10_s_whom_it_waits_for_then_gives_up(instance):
    holder = start_run_in(instance, os.getpid())
    hold_slot(instance, holder)
    out, clock = io.StringIO(), FakeClock()
    with pytest.raises(SlotWaitTimeout) as caught:
        wait_for_slot(instance, DUCKDB_POOL, 25, out=out, clock=clock, sleep=clock.sleep)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # at 0, 10 and 20 s
    assert lines[0].startswith(f"waiting for the wistia_duckdb slot held by run {holder[:8]} (step synced_ledger, "
                               "started ")
    assert lines[0].endswith(" s ago)")
    assert str(caught.value).startswith(
        f"gave up after 25 s (DB_LOCK_TIMEOUT_S) waiting for the wistia_duckdb slot held by run {holder[:8]} ")
    assert "\n" not in str(caught.value)


def test_the_wait_ends_when_the_slot_is_free_or_its_holder_dies(instance):
    out, clock = io.StringIO(), FakeClock()
    wait_for_slot(instance, DUCKDB_POOL, 0, out=out, clock=clock, sleep=clock.sleep)  # free: no wait
    assert out.getvalue() == ""

    holder = start_run_in(instance, os.getpid())
    hold_slot(instance, holder)

    def holder_dies(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now >= 5:  # its process is gone from now on
            instance.add_run_tags(holder, {PID_TAG: str(dead_pid()), START_TAG: ""})

    wait_for_slot(instance, DUCKDB_POOL, 60, out=out, clock=clock, sleep=holder_dies)
    assert 10 <= clock.now < 12  # released at the next 10-second check
    assert status(instance, holder) == dg.DagsterRunStatus.FAILURE


# --- doctor ------------------------------------------------------------------------------------------

def test_doctor_without_an_instance_is_green_and_creates_nothing(tmp_path):
    missing = tmp_path / "nowhere"
    check = check_runs({"DAGSTER_HOME": str(missing)})
    assert check.ok and check.detail.startswith("no runs recorded yet")
    assert not missing.exists()

    empty = tmp_path / "empty_home"
    empty.mkdir()
    (empty / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    check = check_runs({"DAGSTER_HOME": str(empty)})
    assert check.ok and check.detail == f"no runs recorded yet in {empty}"
    assert sorted(p.name for p in empty.iterdir()) == ["dagster.yaml"]


def test_doctor_is_red_for_a_run_whose_process_is_gone_and_green_once_released(instance, home):
    env = {"DAGSTER_HOME": str(home)}
    assert check_runs(env).detail == "no stuck runs; the wistia_duckdb slot is free"
    pid = dead_pid()
    dead = start_run_in(instance, pid)
    hold_slot(instance, dead)

    check = check_runs(env)
    assert not check.ok
    assert check.detail == (f"run {dead[:8]} (wistia_sync) is STARTED but its process (pid {pid} on {HOST}) is "
                            "gone: the deployment was restarted or the process was killed")
    assert "wistia-pipeline sync" in check.hint
    assert status(instance, dead) == dg.DagsterRunStatus.STARTED  # doctor only reads

    release_stuck_runs(instance)
    assert check_runs(env).ok


def test_doctor_names_the_running_holder_and_a_slot_held_by_a_finished_run(instance, home):
    env = {"DAGSTER_HOME": str(home)}
    live = start_run_in(instance, os.getpid())
    hold_slot(instance, live)
    check = check_runs(env)
    assert check.ok
    assert check.detail == f"no stuck runs; the wistia_duckdb slot is held by run {live[:8]} (step synced_ledger), running"

    instance.report_run_failed(instance.get_run_by_id(live), message="marked failed in the UI")
    instance.add_run_tags(live, {PID_TAG: str(dead_pid())})  # and its process has ended
    check = check_runs(env)
    assert not check.ok
    assert check.detail == f"the wistia_duckdb slot is held by run {live[:8]}, which is FAILURE"


def test_doctor_is_red_for_a_run_going_longer_than_the_bound(instance):
    run_id = start_run(instance)  # no process tags (died before its first step): only the bound tells
    start = instance.get_run_record_by_id(run_id).start_time
    health = run_health.assess(instance, DUCKDB_POOL, now=start + 13 * 3600)
    assert health.problems == [f"run {run_id[:8]} (wistia_sync) has been STARTED for 13.0 h, longer than the "
                               "12.0 h bound"]
    assert run_health.assess(instance, DUCKDB_POOL, now=start + 11 * 3600).problems == []
