"""synced_ledger: posts the views not yet sent and records every (destination, view) posted."""


from datetime import date
from typing import Any

import dagster as dg
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db
from wistia_pipeline.clients.http import ApiError, AuthError
from wistia_pipeline.clients.upsales import UpsalesResource
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks.activities import ActivitySink
from wistia_pipeline.stages.common import (
    STAGE_ASSET_ARGS, day_window, funnel, funnel_metadata, load_settings,
)
from wistia_pipeline.stages.filtered import filtered_views

# Upsales answering this many transient failures in a row means it is down: stop posting, the
# next run picks the rest up (their ledger rows stay in flight and are looked up first).
MAX_CONSECUTIVE_TRANSIENT_FAILURES = 3


def build_sinks(settings: Settings, upsales: UpsalesResource) -> dict[str, Any]:
    client = upsales.get_client()
    sinks: dict[str, Any] = {}
    for destination in settings.destinations:
        if destination == "activities":
            sinks[destination] = ActivitySink(client, settings)
        else:
            raise dg.Failure(description=f"SYNC_FORMS=true, but the forms destination is not available in this "
                                         f"version: set SYNC_FORMS=false", allow_retries=False)
    return sinks


def reconcile_in_flight(con: duckdb_module.DuckDBPyConnection, sink: Any, run_id: str) -> dict[str, int]:
    """Settle posts that were started but never confirmed before anything is posted again."""
    found = missing = 0
    for event_key, external_id in con.execute(db.sql("ledger_in_flight"), [sink.destination]).fetchall():
        upsales_id = sink.find_posted(external_id, event_key)
        if upsales_id is not None:
            con.execute(db.sql("ledger_mark_posted"), [sink.destination, event_key, upsales_id, run_id])
            found += 1
        else:
            missing += 1  # provably absent: the candidate query offers it for posting again
    return {"found": found, "missing": missing}


def post_new_views(con: duckdb_module.DuckDBPyConnection, sink: Any, first: date, last: date,
                   run_id: str, log: Any) -> dict[str, Any]:
    """Post every candidate of the window once: intent in the ledger, post, then the Upsales id."""
    reader = con.cursor().execute(db.sql("ledger_candidates"), [first, last, sink.destination])
    columns = [d[0] for d in reader.description]
    stats: dict[str, Any] = {"new": 0, "posted": 0, "rejected": 0, "failed": 0, "errors": []}
    consecutive_failures = 0
    while chunk := reader.fetchmany(500):
        for values in chunk:
            view = dict(zip(columns, values))
            stats["new"] += 1
            if consecutive_failures >= MAX_CONSECUTIVE_TRANSIENT_FAILURES:
                stats["failed"] += 1
                continue
            payload = sink.payload(view)
            facts = sink.ledger_facts(view, payload)
            con.execute(db.sql("ledger_mark_in_flight"), [
                sink.destination, view["event_key"], view["day"], facts["external_id"], facts["client_id"],
                facts["contact_id"], facts["score"], facts["value"], run_id])
            try:
                upsales_id = sink.post(payload)
            except AuthError:
                raise
            except ApiError as error:
                permanent = error.status is not None and 400 <= error.status < 500 and error.status != 429
                con.execute(db.sql("ledger_mark_failed"), [sink.destination, view["event_key"],
                                                          "rejected" if permanent else "in_flight", str(error)])
                stats["rejected" if permanent else "failed"] += 1
                consecutive_failures = 0 if permanent else consecutive_failures + 1
                stats["errors"].append(f"{view['event_key']}: {error}")
                log.warning(f"{sink.destination}: {view['event_key']} not posted: {error}")
                continue
            con.execute(db.sql("ledger_mark_posted"), [sink.destination, view["event_key"], upsales_id, run_id])
            stats["posted"] += 1
            consecutive_failures = 0
    return stats


@dg.asset(
    **STAGE_ASSET_ARGS,
    deps=[filtered_views],
    description=(
        "The ledger of what was sent to Upsales: one row per (destination, event_key) with the "
        "Upsales id, status, the posted text and the run. Materializing it posts the filtered views "
        "not yet in it (the sink) and records them; rows are only ever added, so a rerun or a "
        "backfill never posts a view twice. The outcome of every view is in table view_outcomes."
    ),
)
def synced_ledger(context: dg.AssetExecutionContext, duckdb: DuckDBResource, upsales: UpsalesResource) -> dg.MaterializeResult:
    settings = load_settings()
    first, last = day_window(context)
    sinks = build_sinks(settings, upsales)
    upsales.get_client().verify()  # a rejected key stops the run before anything is posted
    funnels: dict[str, dict[str, int]] = {}
    metadata: dict[str, Any] = {}
    problems: list[str] = []
    with db.connect(duckdb) as con:
        for destination, sink in sinks.items():
            reconciled = reconcile_in_flight(con, sink, context.run_id)
            stats = post_new_views(con, sink, first, last, context.run_id, context.log)
            funnels[destination] = funnel(con, first, last, destination, new=stats["new"])
            metadata.update({
                f"{destination}/posted": stats["posted"],
                f"{destination}/failed": stats["failed"],
                f"{destination}/rejected": stats["rejected"],
                f"{destination}/in_flight_found_in_upsales": reconciled["found"],
            })
            problems += stats["errors"]
            if stats["failed"] and not stats["errors"]:
                problems.append(f"{destination}: {stats['failed']} views not attempted after repeated failures")
        db.run_script(con, "view_outcomes", [first, last, list(sinks), context.run_id])
        metadata.update(funnel_metadata(funnels))
        metadata.update(ledger_metadata(con, first, last, context.run_id))
    if problems:
        raise dg.Failure(
            description=f"{len(problems)} views were not posted; they are retried by the next run. First: {problems[0]}",
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


def ledger_metadata(con: duckdb_module.DuckDBPyConnection, first: date, last: date, run_id: str) -> dict[str, Any]:
    """Row count, outcomes and a preview of what this run posted, with the Upsales ids."""
    outcomes = con.execute(
        "SELECT destination, outcome, coalesce(reason, ''), count(*) FROM view_outcomes "
        "WHERE day BETWEEN ? AND ? GROUP BY ALL ORDER BY ALL", [first, last]).fetchall()
    lines = ["| destination | outcome | reason | views |", "|---|---|---|---|"]
    lines += [f"| {d} | {o} | {r} | {n} |" for d, o, r, n in outcomes]
    return {
        "dagster/row_count": db.count(con, "synced_ledger", first, last),
        "dagster/column_schema": db.column_schema(con, "synced_ledger"),
        "days": f"{first.isoformat()} .. {last.isoformat()}",
        "outcomes": dg.MetadataValue.md("\n".join(lines)),
        "posted_this_run": dg.MetadataValue.md(db.preview_markdown(
            con,
            "SELECT destination, event_key, day, upsales_id, client_id, contact_id, score, value "
            "FROM synced_ledger WHERE run_id = ? AND status = 'posted' ORDER BY destination, posted_at",
            [run_id], limit=20)),
    }
