"""Retention of personal data in the DuckDB file (issue #15, RETENTION_DAYS): which days are past
it, and dropping their emails, names, heatmap links and raw JSON.

Why here and not in a stage: the file keeps every viewer's email for as long as it exists unless
something removes it, and the removal must come after the run has used the data (a backfill of an
old day re-reads Wistia, posts what is missing, then scrubs the day again). The ledger's last step
(`record_outcomes`) calls `apply` once per run; the SQL is `sql/retention/`.

The boundary: today (UTC) is day 1, as in the lookback, so RETENTION_DAYS=90 keeps today and the 89
days before it; a day before `cutoff(today, days)` is past retention.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from wistia_pipeline import db

# The tables retention changes, in the order its metadata lists them.
TABLES = ("wistia_events", "converted_views", "matched_views", "filtered_views", "view_rejections",
          "view_outcomes", "synced_ledger", "ledger_attempts", "upsales_lookups", "upsales_lookup_contacts")


def cutoff(today: date, retention_days: int) -> date:
    """The first day kept: today counts as day 1, so `retention_days` days are kept, today included."""
    return today - timedelta(days=retention_days - 1)


def is_expired(day: date, today: date, retention_days: int) -> bool:
    return day < cutoff(today, retention_days)


def due(con: duckdb.DuckDBPyConnection, first_kept: date) -> dict[str, int]:
    """Rows per table that still hold personal data of days before `first_kept`, and
    `held_unsettled`: views of those days kept because a destination has not settled them yet."""
    db.run_script(con, "retention_mark", {"cutoff": first_kept})  # temp tables, dropped by the caller
    return {name: rows for name, rows in db.run_script(con, "retention_due", {"cutoff": first_kept}).fetchall()}


def apply(con: duckdb.DuckDBPyConnection, first_kept: date, retention_days: int, run_id: str | None) -> dict[str, int]:
    """Scrub every day before `first_kept` in one transaction and record what was removed; returns
    the rows changed per table and `held_unsettled` (see `due`). A checkpoint follows a scrub, so
    the removed values leave the write-ahead log for the file at once (its freed blocks are
    overwritten by later writes)."""
    with db.transaction(con):
        counts = due(con, first_kept)
        removed = {table: counts.get(table, 0) for table in TABLES}
        if any(removed.values()):
            db.run_script(con, "retention_scrub", {"cutoff": first_kept})
            db.run_script(con, "retention_record", {
                "run_id": run_id, "cutoff": first_kept, "retention_days": retention_days,
                "tables": list(removed), "rows": list(removed.values())})
        db.run_script(con, "retention_unmark")
    if any(removed.values()):
        con.execute("CHECKPOINT")
    return {**removed, "held_unsettled": counts.get("held_unsettled", 0)}


def metadata(removed: dict[str, int], first_kept: date, retention_days: int) -> dict[str, Any]:
    """What retention did, for the ledger's materialization (`retention/<table>`: rows changed)."""
    values: dict[str, Any] = {
        "retention/days": retention_days,
        "retention/first_day_kept": first_kept.isoformat(),
        "retention/rows_scrubbed": sum(removed.get(t, 0) for t in TABLES),
        "retention/held_unsettled": removed.get("held_unsettled", 0),
    }
    values.update({f"retention/{table}": removed.get(table, 0) for table in TABLES})
    return values


def removed_on(con: duckdb.DuckDBPyConnection, days: list[date]) -> dict[date, datetime | None]:
    """When the personal data of each day was first removed (None: not yet, or the file predates
    the table retention_runs)."""
    if not days:
        return {}
    try:
        return dict(db.run_script(con, "retention_removed_on", {"days": days}).fetchall())
    except duckdb.CatalogException:
        return dict.fromkeys(days)
