"""The job the schedule runs, and the 20-minute schedule over the lookback window."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import dagster as dg

from wistia_pipeline.settings import Settings, SettingsError
from wistia_pipeline.stages.common import GROUP, daily_partitions

SYNC_JOB_NAME = "wistia_sync"
SCHEDULE_NAME = "wistia_sync_every_20_minutes"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

sync_job = dg.define_asset_job(
    SYNC_JOB_NAME,
    selection=dg.AssetSelection.groups(GROUP),
    partitions_def=daily_partitions,
    description="The whole chain, Wistia events to the Upsales ledger, over a range of days in one run.",
)


def lookback_window(today: date, lookback_days: int) -> tuple[date, date]:
    """The last `lookback_days` UTC days, today included."""
    return today - timedelta(days=lookback_days - 1), today


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run materialize the partitions first..last."""
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


def _lookback_days() -> int:
    try:
        return Settings.from_env(require_tokens=False).lookback_days
    except SettingsError:
        return 3  # the run itself fails with the one-line settings error


def _run_in_progress(context: dg.ScheduleEvaluationContext) -> bool:
    runs = context.instance.get_runs(
        filters=dg.RunsFilter(
            job_name=SYNC_JOB_NAME,
            statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
                      dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
            tags={"dagster/schedule_name": SCHEDULE_NAME},
        ),
        limit=1,
    )
    return bool(runs)


@dg.schedule(
    name=SCHEDULE_NAME,
    cron_schedule="*/20 * * * *",
    execution_timezone="UTC",
    job=sync_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 20 minutes, one run over the last LOOKBACK_DAYS days (Wistia can show a view hours late).",
)
def wistia_sync_every_20_minutes(context: dg.ScheduleEvaluationContext):
    if _run_in_progress(context):
        return dg.SkipReason("The previous scheduled sync is still running.")
    tick = context.scheduled_execution_time or datetime.now(timezone.utc)
    first, last = lookback_window(tick.astimezone(timezone.utc).date(), _lookback_days())
    return dg.RunRequest(
        run_key=None,
        tags=range_tags(first, last),
    )
