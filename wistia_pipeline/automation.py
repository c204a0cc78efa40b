"""The job the schedule runs, and the 20-minute schedule over the lookback window."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import dagster as dg

from wistia_pipeline import run_health
from wistia_pipeline.settings import PipelineSettings, SettingsError
from wistia_pipeline.stages.common import GROUP

SYNC_JOB_NAME = "wistia_sync"
SCHEDULE_NAME = "wistia_sync_every_20_minutes"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
SCHEDULE_TAG = "dagster/schedule_name"  # set by Dagster on every run a schedule launches
MAX_RUNTIME_TAG = "dagster/max_runtime"  # seconds; the daemon's run monitoring fails a run after it

# A run in one of these states is still going: the next tick waits for it.
RUN_GOING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

sync_job = dg.define_asset_job(
    SYNC_JOB_NAME,
    selection=dg.AssetSelection.groups(GROUP),
    # No executor here: the Definitions' own (in process, definitions.py) runs this job too.
    # The bound of dagster.yaml (run_monitoring.max_runtime_seconds) on the job's own runs too, so it
    # holds even with an older dagster.yaml in DAGSTER_HOME: see run_health.MAX_RUNTIME_S.
    run_tags={MAX_RUNTIME_TAG: str(run_health.MAX_RUNTIME_S)},
    description="The whole chain, Wistia events to the Upsales ledger, over a range of days in one run.",
)


def lookback_window(today: date, lookback_days: int) -> tuple[date, date]:
    """The last `lookback_days` UTC days, today included."""
    return today - timedelta(days=lookback_days - 1), today


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run materialize the partitions first..last."""
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


def _lookback_days(pipeline_settings: PipelineSettings) -> int:
    try:
        return pipeline_settings.load().lookback_days
    except SettingsError:
        return 3  # the run itself fails with the one-line settings error


def previous_run_going(instance: dg.DagsterInstance) -> bool:
    """Whether a run this schedule launched is queued or running."""
    runs = instance.get_run_ids(
        filters=dg.RunsFilter(job_name=SYNC_JOB_NAME, statuses=RUN_GOING, tags={SCHEDULE_TAG: SCHEDULE_NAME}),
        limit=1,
    )
    return bool(runs)


def release_stuck_runs(context: dg.ScheduleEvaluationContext) -> None:
    """Fail runs whose process is gone before asking whether the previous run is going: else a
    run killed with the whole deployment would skip every tick for ever."""
    try:
        released = run_health.release_stuck_runs(context.instance)
    except Exception as error:  # never let the clean-up stop the tick itself
        context.log.warning(f"Could not check for stuck runs: {error}")
        return
    for item in released:
        context.log.warning(item.message)


# The schedule's cadence; `doctor` projects the daily Upsales calls at it.
SCHEDULE_MINUTES = 20
RUNS_PER_DAY = 24 * 60 // SCHEDULE_MINUTES


@dg.schedule(
    name=SCHEDULE_NAME,
    cron_schedule=f"*/{SCHEDULE_MINUTES} * * * *",
    execution_timezone="UTC",
    job=sync_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Every 20 minutes, one run over the last LOOKBACK_DAYS days, today included (Wistia can "
        "show a view hours late); a tick is skipped while the previous scheduled run is going. "
        "Each tick first fails the runs whose process is gone (a restart mid-run) and frees their slots."
    ),
)
def wistia_sync_every_20_minutes(context: dg.ScheduleEvaluationContext, pipeline_settings: PipelineSettings):
    release_stuck_runs(context)
    if previous_run_going(context.instance):
        return dg.SkipReason("The previous scheduled sync is still queued or running.")
    tick = context.scheduled_execution_time or datetime.now(timezone.utc)
    first, last = lookback_window(tick.astimezone(timezone.utc).date(), _lookback_days(pipeline_settings))
    # One run over the whole window (the assets' single-run backfill policy), not one per day.
    return dg.RunRequest(tags=range_tags(first, last))
