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
