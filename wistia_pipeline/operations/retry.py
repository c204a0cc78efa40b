"""`wistia-pipeline retry`: re-offer the ledger rows a run gave up on.

A view Upsales refused for good (`rejected`) is never posted again by itself. Once the cause is
fixed (a contact repaired, a field Upsales now requires), `retry` makes those rows queued again
(`pending`); the next sync looks each one up in Upsales and posts it when it is absent, whatever
its day. `--status failed` names the rows a run left unsettled (queued, or in flight): every run
retries those by itself, so `retry` only marks them to be looked up first and says so. Each
re-offer is kept in `ledger_attempts` with the row's state before, so the history stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from dagster_duckdb import DuckDBResource

from wistia_pipeline import db
from wistia_pipeline.sinks import registry

# What each --status selects in the ledger.
STATUSES = {"rejected": ("rejected",), "failed": ("pending", "in_flight")}


class RetryError(ValueError):
    """The request cannot be carried out; one line for the user."""


@dataclass(frozen=True)
class RetryResult:
    destination: str
    status: str
    by_status: dict[str, int]  # rows re-offered, by their status before

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def retry(db_path: str, destination: str, status: str = "rejected", *, start: date | None = None,
          end: date | None = None, email: str | None = None, event_key: str | None = None) -> RetryResult:
    """Re-offer the matching ledger rows in one transaction; what was re-offered, by status."""
    if destination not in registry.names():
        raise RetryError(f"--destination must be one of {', '.join(registry.names())}, got {destination!r}")
    if status not in STATUSES:
        raise RetryError(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    if start and end and start > end:
        raise RetryError(f"--start {start} is after --end {end}")
    if not Path(db_path).exists():
        raise RetryError(f"no sync has run yet: {db_path} does not exist (point WISTIA_PIPELINE_DB at the "
                         f"pipeline's DuckDB file)")
    email = email.strip().lower() if email else None
    with db.connect(DuckDBResource(database=db_path)) as con, db.transaction(con):
        db.run_script(con, "ledger_retry", {
            "destination": destination, "statuses": list(STATUSES[status]), "first": start, "last": end,
            "email": email, "event_key": event_key,
            "requested_at": datetime.now(timezone.utc).replace(tzinfo=None)})
        by_status = dict(con.execute("SELECT status, count(*) FROM retry_rows GROUP BY ALL").fetchall())
        con.execute("DROP TABLE retry_rows")
    return RetryResult(destination, status, by_status)


def format_retry(result: RetryResult) -> str:
    if not result.total:
        return f"No {result.destination} ledger rows match (status {result.status}): nothing to re-offer."
    rejected = result.by_status.get("rejected", 0)
    waiting = result.total - rejected
    lines = []
    if rejected:
        lines.append(f"{rejected} {result.destination} views rejected by Upsales are queued again.")
    if waiting:
        lines.append(f"{waiting} {result.destination} views were already retried by every run "
                     f"(queued or in flight); they are now looked up in Upsales first.")
    lines.append("The next sync looks each one up in Upsales and posts it if it is not there "
                 "(the history is in the table ledger_attempts).")
    return "\n".join(lines)
