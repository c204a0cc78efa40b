"""Asset checks: the chain's invariants, checked inside every sync run.

- every stage table holds each `event_key` once per day (filtered_views once per destination);
- no stage holds more views on a day than the stage it reads from (events >= converted >=
  matched >= filtered activities; converted >= filtered forms);
- every ledger row marked posted has its Upsales id, and no (destination, event_key) is in the
  ledger twice.

All checks are blocking: a failed stage check stops the run before the next stage starts, so
nothing reaches `synced_ledger` (the only asset that posts) from a broken chain; a failed ledger
check fails the run, which the alert sensor reports. Jobs that select an asset run its checks
(the sync job selects the whole group).

Partitions: the checks are not partitioned themselves (partitioned checks are a preview in
Dagster 1.13, and record nothing per day for a range run). Each stage check reads the days the
run materializes from `context.partition_time_window` (a single day, or the range of a
single-run backfill or scheduled run); a check run on its own from the UI reads every day. The
ledger checks read the whole ledger (one row per view ever sent).
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations.
from datetime import date
from typing import Any

import dagster as dg
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db, privacy
from wistia_pipeline.sinks import registry
from wistia_pipeline.settings import DEFAULT_DB_LOCK_TIMEOUT_S, PipelineSettings, SettingsError
from wistia_pipeline.stages.common import DUCKDB_POOL, partition_days
from wistia_pipeline.stages.converted import converted_views
from wistia_pipeline.stages.events import wistia_events
from wistia_pipeline.stages.filtered import filtered_views
from wistia_pipeline.stages.ledger import SYNCED_LEDGER
from wistia_pipeline.stages.matched import matched_views

ALL_DAYS = (date(1, 1, 1), date(9999, 12, 31))
SHOWN = 10  # offending rows listed in a check's metadata

def count_links() -> dict[str, tuple[tuple[str, str], ...]]:
    """Per stage: (this stage's count, the upstream count it must not exceed), per day; each
    destination's filtered views are bounded by the views it takes (sinks/registry.py)."""
    return {
        "converted_views": (("converted", "events"),),
        "matched_views": (("matched", "converted"),),
        "filtered_views": tuple((f"filtered_{d.name}", d.takes) for d in registry.destinations()),
    }


def checked_days(context: dg.AssetCheckExecutionContext) -> tuple[date, date]:
    """First and last day of the partitions the run materializes; every day outside a partitioned run."""
    if context.has_partition_key or context.has_partition_key_range:
        return partition_days(context)
    return ALL_DAYS


def describe_days(first: date, last: date) -> str:
    return "all days" if (first, last) == ALL_DAYS else f"{first.isoformat()} .. {last.isoformat()}"


def _json_safe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v.isoformat() if isinstance(v, date) else v for k, v in row.items() if k != "total"}
            for row in rows]


# -- the rules, on a DuckDB connection (tested without Dagster) ----------------------------------

def duplicate_keys(con: duckdb_module.DuckDBPyConnection, table: str, first: date, last: date
                   ) -> tuple[int, list[dict[str, Any]]]:
    """How many (day, destination, event_key) appear more than once in `table`, and the first 10."""
    if table not in db.STAGE_TABLES:
        raise ValueError(f"not a stage table: {table}")
    rows = db.rows(con, "check_duplicate_keys", {"table": table, "first": first, "last": last})
    return (rows[0]["total"] if rows else 0), _json_safe(rows)


def stage_counts(con: duckdb_module.DuckDBPyConnection, first: date, last: date) -> list[dict[str, Any]]:
    """Rows per day of every stage (filtered per registered destination, 0 where none)."""
    stages = ["events", "converted", "matched", *(f"filtered_{name}" for name in registry.names())]
    per_day: dict[date, dict[str, Any]] = {}
    for row in db.rows(con, "check_stage_counts", {"first": first, "last": last}):
        counts = per_day.setdefault(row["day"], {"day": row["day"], **dict.fromkeys(stages, 0)})
        counts[row["stage"]] = row["views"]
    return [per_day[day] for day in sorted(per_day)]


def count_growth(counts: list[dict[str, Any]], links: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """The days on which a stage holds more views than its upstream stage."""
    grown = []
    for row in counts:
        for stage, upstream in links:
            if row[stage] > row[upstream]:
                grown.append({"day": row["day"].isoformat(), "stage": stage, "views": row[stage],
                              "upstream": upstream, "upstream_views": row[upstream]})
    return grown


def ledger_without_upsales_id(con: duckdb_module.DuckDBPyConnection) -> tuple[int, list[dict[str, Any]]]:
    rows = db.rows(con, "check_ledger_without_upsales_id")
    return (rows[0]["total"] if rows else 0), _json_safe(rows)


def ledger_duplicates(con: duckdb_module.DuckDBPyConnection) -> tuple[int, list[dict[str, Any]]]:
    rows = db.rows(con, "check_ledger_duplicates")
    return (rows[0]["total"] if rows else 0), _json_safe(rows)


# -- the Dagster checks ----------------------------------------------------------------------------

def connect(duckdb: DuckDBResource, pipeline_settings: PipelineSettings):
    """The DuckDB file, waiting for its lock as long as the run's DB_LOCK_TIMEOUT_S says (its
    default when the value is bad: the stage before has failed on it in its own words)."""
    try:
        lock_wait = pipeline_settings.load().db_lock_timeout_s
    except SettingsError:
        lock_wait = DEFAULT_DB_LOCK_TIMEOUT_S
    return db.connect(duckdb, lock_wait=lock_wait)


def full_emails(pipeline_settings: PipelineSettings) -> bool:
    """PREVIEW_EMAILS=full (masked when the settings cannot be read: the stage before says why)."""
    try:
        return pipeline_settings.load().full_emails
    except SettingsError:
        return False


def _result(passed: bool, description: str, metadata: dict[str, Any], pipeline_settings: PipelineSettings,
            severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    """A check's result as it reaches run storage: its emails masked (privacy.py)."""
    full = full_emails(pipeline_settings)
    return dg.AssetCheckResult(passed=passed, severity=severity, description=privacy.protect(description, full),
                               metadata=privacy.protect(metadata, full))


def unique_key_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    table = asset.key.to_user_string()
    per = "destination and day" if table == "filtered_views" else "day"

    @dg.asset_check(
        asset=asset, name="unique_event_key_per_day", blocking=True, pool=DUCKDB_POOL,
        description=f"Each event_key is held once per {per} in {table} (the days this run materialized).",
    )
    def _check(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource,
               pipeline_settings: PipelineSettings) -> dg.AssetCheckResult:
        first, last = checked_days(context)
        with connect(duckdb, pipeline_settings) as con:
            total, offending = duplicate_keys(con, table, first, last)
        return _result(
            total == 0,
            f"{total} event_keys are held more than once per {per}" if total else f"every event_key once per {per}",
            {"days": describe_days(first, last), "duplicated_keys": total,
             "offending": dg.MetadataValue.json(offending[:SHOWN])},
            pipeline_settings,
        )

    return _check


def count_rule(table: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """The stage's links (count_links, the registry as it is now) and them in words."""
    links = count_links()[table]
    return links, "; ".join(f"{stage} <= {upstream}" for stage, upstream in links)


def count_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    table = asset.key.to_user_string()
    _, rule = count_rule(table)

    @dg.asset_check(
        asset=asset, name="no_more_views_than_upstream", blocking=True, pool=DUCKDB_POOL,
        description=f"Per day, {table} holds no more views than the stage it reads from ({rule}).",
    )
    def _check(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource,
               pipeline_settings: PipelineSettings) -> dg.AssetCheckResult:
        first, last = checked_days(context)
        with connect(duckdb, pipeline_settings) as con:
            counts = stage_counts(con, first, last)
        links, rule_now = count_rule(table)  # the registry as the run sees it
        grown = count_growth(counts, links)
        description = (f"{len(grown)} days where a stage holds more views than its upstream ({rule_now})"
                       if grown else f"counts never grow down the chain ({rule_now})")
        per_day = {row["day"].isoformat(): {k: v for k, v in row.items() if k != "day"} for row in counts}
        return _result(not grown, description, {
            "days": describe_days(first, last),
            "offending": dg.MetadataValue.json(grown[:SHOWN]),
            "counts_per_day": dg.MetadataValue.json(dict(list(per_day.items())[-SHOWN:])),
        }, pipeline_settings)

    return _check


@dg.asset_check(
    asset=SYNCED_LEDGER, name="posted_rows_have_upsales_id", blocking=True, pool=DUCKDB_POOL,
    description="Every ledger row marked posted carries the Upsales id it was posted as (whole ledger).",
)
def posted_rows_have_upsales_id(duckdb: DuckDBResource, pipeline_settings: PipelineSettings) -> dg.AssetCheckResult:
    with connect(duckdb, pipeline_settings) as con:
        total, offending = ledger_without_upsales_id(con)
    return _result(total == 0,
                   f"{total} posted ledger rows have no Upsales id" if total else "every posted row has its Upsales id",
                   {"rows_without_id": total, "offending": dg.MetadataValue.json(offending)}, pipeline_settings)


@dg.asset_check(
    asset=SYNCED_LEDGER, name="one_row_per_destination_and_view", blocking=True, pool=DUCKDB_POOL,
    description="No (destination, event_key) is in the ledger twice (whole ledger).",
)
def one_row_per_destination_and_view(duckdb: DuckDBResource, pipeline_settings: PipelineSettings) -> dg.AssetCheckResult:
    with connect(duckdb, pipeline_settings) as con:
        total, offending = ledger_duplicates(con)
    return _result(total == 0,
                   f"{total} (destination, event_key) pairs are in the ledger more than once" if total
                   else "one ledger row per (destination, event_key)",
                   {"duplicated_pairs": total, "offending": dg.MetadataValue.json(offending)}, pipeline_settings)


def rejected_views(con: duckdb_module.DuckDBPyConnection) -> tuple[int, list[dict[str, Any]]]:
    rows = db.rows(con, "check_ledger_rejected")
    return (rows[0]["total"] if rows else 0), _json_safe(rows)


@dg.asset_check(
    asset=SYNCED_LEDGER, name="no_views_rejected", blocking=False, pool=DUCKDB_POOL,
    description=("Warns while any view is rejected by Upsales (whole ledger): such a view is never posted "
                 "again by itself. Fix the cause, then `wistia-pipeline retry --destination D` re-offers it."),
)
def no_views_rejected(duckdb: DuckDBResource, pipeline_settings: PipelineSettings) -> dg.AssetCheckResult:
    with connect(duckdb, pipeline_settings) as con:
        total, offending = rejected_views(con)
    return _result(
        total == 0,
        (f"{total} views are rejected by Upsales and not retried; `wistia-pipeline explain` says "
         f"why, `wistia-pipeline retry` re-offers them" if total else "no view is rejected"),
        {"rejected_views": total, "newest": dg.MetadataValue.json(offending)},
        pipeline_settings, severity=dg.AssetCheckSeverity.WARN,
    )


STAGE_ASSETS = (wistia_events, converted_views, matched_views, filtered_views)

CHECKS: list[dg.AssetChecksDefinition] = [
    *(unique_key_check(asset) for asset in STAGE_ASSETS),
    *(count_check(asset) for asset in (converted_views, matched_views, filtered_views)),
    posted_rows_have_upsales_id,
    one_row_per_destination_and_view,
    no_views_rejected,
]
