"""The 20-minute schedule: one run per tick over the lookback window, none while one is going."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import dagster as dg
import pytest

from wistia_pipeline.settings import PipelineSettings
from wistia_pipeline.automation import (
    RANGE_END_TAG, RANGE_START_TAG, SCHEDULE_NAME, SYNC_JOB_NAME, wistia_sync_every_20_minutes,
)
from wistia_pipeline.definitions import defs
from wistia_pipeline.stages.common import daily_partitions


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture(autouse=True)
def default_lookback(monkeypatch):
    monkeypatch.delenv("LOOKBACK_DAYS", raising=False)


def evaluate(instance, at: datetime):
    # As a context manager: the context then releases the resources it built (and the instance's
    # state it set for them) when the tick is done, as a daemon's tick does.
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=at,
                                   resources={"pipeline_settings": PipelineSettings.from_environment()}) as context:
        return wistia_sync_every_20_minutes(context)


def partition_keys(request: dg.RunRequest) -> list[str]:
    keys = dg.PartitionKeyRange(request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG])
    return daily_partitions.get_partition_keys_in_range(keys)


def add_run(instance, status: dg.DagsterRunStatus, tags: dict[str, str]) -> None:
    instance.add_run(dg.DagsterRun(job_name=SYNC_JOB_NAME, run_id=str(uuid.uuid4()), status=status, tags=tags))


def test_the_schedule_is_the_one_in_the_definitions():
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    assert schedule.cron_schedule == "*/20 * * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == SYNC_JOB_NAME
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_a_tick_requests_one_run_over_the_last_three_days(instance):
    request = evaluate(instance, datetime(2026, 3, 10, 12, 20, tzinfo=UTC))
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key is None  # a range in one run, not a run per day
    assert partition_keys(request) == ["2026-03-08", "2026-03-09", "2026-03-10"]


def test_a_tick_at_midnight_covers_the_new_day_and_the_two_before(instance):
    request = evaluate(instance, datetime(2026, 3, 10, 0, 0, tzinfo=UTC))
    assert partition_keys(request) == ["2026-03-08", "2026-03-09", "2026-03-10"]


def test_lookback_days_sets_the_window(instance, monkeypatch):
    monkeypatch.setenv("LOOKBACK_DAYS", "5")
    request = evaluate(instance, datetime(2026, 3, 1, 23, 40, tzinfo=UTC))
    assert partition_keys(request) == ["2026-02-25", "2026-02-26", "2026-02-27", "2026-02-28", "2026-03-01"]


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED])
def test_a_tick_is_skipped_while_the_previous_scheduled_run_is_going(instance, status):
    add_run(instance, status, {"dagster/schedule_name": SCHEDULE_NAME})
    result = evaluate(instance, datetime(2026, 3, 10, 12, 40, tzinfo=UTC))
    assert isinstance(result, dg.SkipReason)
    assert "still queued or running" in result.skip_message


def test_a_finished_scheduled_run_or_a_manual_run_does_not_skip_the_tick(instance):
    add_run(instance, dg.DagsterRunStatus.SUCCESS, {"dagster/schedule_name": SCHEDULE_NAME})
    add_run(instance, dg.DagsterRunStatus.FAILURE, {"dagster/schedule_name": SCHEDULE_NAME})
    add_run(instance, dg.DagsterRunStatus.STARTED, {})  # a UI materialization: the pool makes them take turns
    result = evaluate(instance, datetime(2026, 3, 10, 12, 40, tzinfo=UTC))
    assert isinstance(result, dg.RunRequest)


STAGES = ["wistia_events", "converted_views", "matched_views", "filtered_views", "synced_ledger"]
TABLES = ["wistia_medias", "upsales_forms"]  # unpartitioned: one table for every day


@pytest.mark.e2e
def test_a_tick_s_run_materializes_the_seven_assets_in_one_run_over_its_days(demo, sandbox, instance):
    """The run a tick requests, as the daemon launches it (the job and the tick's range tags),
    against the demo: the five stages over the three days and the two unpartitioned tables, in
    one run that succeeds."""
    from wistia_pipeline.definitions import build_defs

    request = evaluate(instance, datetime.now(UTC))
    days = partition_keys(request)
    assert len(days) == 3
    job = build_defs().resolve_job_def(SYNC_JOB_NAME)  # with the demo's DuckDB file
    result = job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False)
    assert result.success
    materialized: dict[str, list[str | None]] = {}
    for event in result.get_asset_materialization_events():
        materialized.setdefault(event.asset_key.to_user_string(), []).append(event.partition)
    assert materialized == {**{name: days for name in STAGES}, **{name: [None] for name in TABLES}}
    assert instance.get_run_by_id(result.run_id).tags[RANGE_START_TAG] == days[0]
    # The tables run just before the stage reading them, as their work did inside the stages.
    # (the ledger's steps are `synced_ledger.<step>`, one per destination between two of its own)
    order = [e.step_key for e in result.all_events
             if e.event_type_value == "STEP_START" and e.step_key.split(".")[0] in STAGES + TABLES]  # not the checks
    assert order == ["wistia_events", "converted_views", "matched_views", "upsales_forms", "wistia_medias",
                     "filtered_views", "synced_ledger.queue_views", "synced_ledger.post_activities",
                     "synced_ledger.post_forms", "synced_ledger.record_outcomes"]
    assert len(sandbox.upsales.events) == demo.expected["first_run"][-1]  # the demo's first sync posted
