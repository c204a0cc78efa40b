"""What every stage asset shares: the daily partitions, the day window, settings, metadata."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import dagster as dg
import duckdb

from wistia_pipeline import db, run_health
from wistia_pipeline.settings import Settings, SettingsError

GROUP = "wistia_to_upsales"
# Every asset that writes the DuckDB file runs in this pool (size 1, see dagster.yaml), so a
# scheduled run, a UI materialization and a backfill take turns instead of meeting a file lock.
DUCKDB_POOL = "wistia_duckdb"

# One partition per UTC day of `received_at`; end_offset=1 makes today a partition. Wistia keeps
# events for two years, so a backfill can reach back to the start date at most.
daily_partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC", end_offset=1)

STAGE_ASSET_ARGS: dict[str, Any] = dict(
    partitions_def=daily_partitions,
    # One run covers a whole range of days (the lookback window, a backfill) in one pass.
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=GROUP,
    pool=DUCKDB_POOL,
    kinds={"duckdb"},
)


def day_window(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last UTC day (inclusive) of the partitions this run materializes.

    Every asset calls it first, so it also tags the run with the process running it (once per
    run): a run whose process is gone can then be failed and its pool slot freed (run_health)."""
    run_health.record_run_process(context.instance, context.run)
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


def days_in(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def load_settings() -> Settings:
    """Validated settings, or a one-line failure that names the variable (before any API call)."""
    try:
        return Settings.from_env(require_tokens=False)
    except SettingsError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None


FUNNEL_LABELS = {
    "events": "views in Wistia",
    "converted": "converted (Turnstile email)",
    "matched": "matched to Upsales",
    "at_min_percent": "at or above minimum %",
    "in_projects": "in enabled projects",
    "new": "not yet synced",
}


FUNNEL_STAGES = ("events", "converted", "matched", "at_min_percent", "in_projects")


def funnel(con: duckdb.DuckDBPyConnection, first: date, last: date, destination: str = "activities",
           upto: str = "in_projects", new: int | None = None) -> dict[str, int]:
    """Stage counts of the window for one destination up to stage `upto`, from the stage tables."""
    row = con.execute(db.sql("funnel"), [first, last, destination]).fetchone()
    counts = dict(zip(FUNNEL_STAGES[: FUNNEL_STAGES.index(upto) + 1], row))
    if counts.get("matched", 0) is None:  # the forms branch does not match
        del counts["matched"]
    if new is not None:
        counts["new"] = new
    return counts


def funnel_metadata(counts_by_destination: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """The funnel as a one-line arrow chain per destination plus a markdown table."""
    metadata: dict[str, Any] = {}
    lines = ["| destination | stage | views |", "|---|---|---|"]
    for destination, counts in counts_by_destination.items():
        metadata[f"funnel_{destination}"] = " -> ".join(str(v) for v in counts.values())
        lines += [f"| {destination} | {FUNNEL_LABELS[k]} | {v} |" for k, v in counts.items()]
    metadata["funnel"] = dg.MetadataValue.md("\n".join(lines))
    metadata["funnel_counts"] = dg.MetadataValue.json({d: dict(c) for d, c in counts_by_destination.items()})
    return metadata


def table_metadata(con: duckdb.DuckDBPyConnection, table: str, first: date, last: date,
                   preview_query: str | None = None, preview_params: Sequence[Any] = ()) -> dict[str, Any]:
    """Row count, column schema and a preview of the window's rows, for the asset page."""
    query = preview_query or f"SELECT * FROM {table} WHERE day BETWEEN ? AND ? ORDER BY day, event_key"
    params = preview_params if preview_query else (first, last)
    return {
        "dagster/row_count": db.count(con, table, first, last),
        "dagster/column_schema": db.column_schema(con, table),
        "days": f"{first.isoformat()} .. {last.isoformat()}",
        "preview": dg.MetadataValue.md(db.preview_markdown(con, query, params)),
    }


def rejection_counts(con: duckdb.DuckDBPyConnection, stage: str, first: date, last: date) -> dict[str, Any]:
    """How many views this stage stopped, by reason (metadata `skipped/<destination>/<reason>`)."""
    rows = con.execute(
        "SELECT destination, reason, count(*) FROM view_rejections WHERE stage = ? AND day BETWEEN ? AND ? "
        "GROUP BY ALL ORDER BY ALL",
        [stage, first, last],
    ).fetchall()
    return {f"skipped/{destination}/{reason}": n for destination, reason, n in rows}
