"""synced_ledger: posts the views not yet sent and records every (destination, view) posted.

The asset queues, posts and reconciles each enabled destination through the posting engine
(sinks/posting.py, which says how a view is posted effectively once) and describes the outcome:
per-destination counts, the funnel, the ledger's states and a preview of this run's posts.
"""


import json
from datetime import date
from typing import Any

import dagster as dg
from pydantic import Field
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db
from wistia_pipeline.clients.http import ApiError, AuthError
from wistia_pipeline.clients.upsales import UpsalesClient, UpsalesResource
from wistia_pipeline.settings import PipelineSettings, Settings
from wistia_pipeline.sinks import registry
from wistia_pipeline.sinks.contract import SinkContext
from wistia_pipeline.sinks.posting import dry_run_plan, enqueue, post_new_views, read_back, reconcile_in_flight
from wistia_pipeline.stages.common import (
    record_calls, StepCalls,
    STAGE_ASSET_ARGS, day_window, funnel, funnel_metadata, load_settings,
)
from wistia_pipeline.stages.filtered import filtered_views


def build_sinks(settings: Settings, client: UpsalesClient, con: duckdb_module.DuckDBPyConnection,
                dry_run: bool = False) -> dict[str, Any]:
    """One sink per enabled destination (the registry's), in posting order, all on the run's `client`."""
    context = SinkContext(client=client, settings=settings, con=con, dry_run=dry_run)
    return {name: registry.get(name).make_sink(context) for name in registry.enabled(settings)}


def unresolved(con: duckdb_module.DuckDBPyConnection, destination: str) -> list[tuple[str, date, str]]:
    """(status, day, event_key) of queued or in-flight rows whose view no run can post now."""
    return con.execute(db.sql("ledger_unresolved"), [destination]).fetchall()


class SyncConfig(dg.Config):
    """Run config of the ledger step (the UI's launchpad, `wistia-pipeline sync --dry-run/--only`)."""

    dry_run: bool = Field(default=False, description=(
        "Everything but posting: the chain runs, the ledger is not written, nothing is POSTed; the "
        "materialization shows how many views would be posted and the first payloads."))
    only_emails: list[str] = Field(default_factory=list, description=(
        "Post only the views of these viewers' emails (any case), with every ledger rule, then read "
        "each new entry back from Upsales. Empty: every queued view."))


@dg.asset(
    **STAGE_ASSET_ARGS,
    deps=[filtered_views, "upsales_forms"],
    description=(
        "The ledger of what is sent to Upsales: one row per (destination, event_key) with the "
        "status (pending, in_flight, posted, rejected), the Upsales id, the posted text and the run. "
        "Materializing it queues the window's filtered views not yet in it, then posts every queued "
        "view whatever its day (the sink) and records it; a view is never posted twice, and a view "
        "queued inside the lookback is posted even after its day left the window. The outcome of "
        "every view is in table view_outcomes; the history of failed attempts in ledger_attempts."
    ),
)
def synced_ledger(context: dg.AssetExecutionContext, config: SyncConfig, duckdb: DuckDBResource,
                  upsales: UpsalesResource, pipeline_settings: PipelineSettings) -> dg.MaterializeResult:
    settings = load_settings(pipeline_settings)
    first, last = day_window(context)
    run_id = context.run.run_id
    only = [email.strip().lower() for email in config.only_emails if email.strip()] or None
    if config.dry_run:
        return dry_run(context, settings, duckdb, upsales, first, last, only)
    funnels: dict[str, dict[str, int]] = {}
    metadata: dict[str, Any] = {}
    problems: list[str] = []  # one line each, the first is shown
    systematic: list[str] = []  # destinations whose posts Upsales refused wholesale
    unposted = rejected = 0   # views the next run retries / views Upsales refused for good
    stopped: list[str] = []   # destinations that could not post at all
    with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
        for destination in registry.enabled(settings):
            metadata[f"{destination}/queued"] = enqueue(con, destination, first, last)
        client = upsales.get_client()  # the run's, shared with the matching step
        calls = StepCalls(client.session)
        client.verify()  # a rejected key stops the run before anything is posted
        sinks = build_sinks(settings, client, con)
        for destination, sink in sinks.items():
            # One destination failing (Upsales' form endpoint down, say) does not stop the other.
            try:
                reconciled = reconcile_in_flight(con, sink, run_id)
                stats = post_new_views(con, sink, first, last, run_id, context.log, only)
            except AuthError:
                raise
            except ApiError as error:
                context.log.error(f"{destination}: {error}")
                problems.append(f"{destination}: {error}")
                stopped.append(destination)
                funnels[destination] = funnel(con, first, last, destination)
                continue
            funnels[destination] = funnel(con, first, last, destination, new=stats["new"] - stats["carried_over"])
            metadata.update({
                f"{destination}/posted": stats["posted"],
                f"{destination}/failed": stats["failed"],
                f"{destination}/rejected": stats["rejected"],
                f"{destination}/found_in_upsales": reconciled["found"] + stats["found_in_upsales"],
                f"{destination}/unconfirmed": stats["unconfirmed"],
                f"{destination}/not_attempted": stats["not_attempted"],
                f"{destination}/refused_retryable": stats["refused_retryable"],
                f"{destination}/carried_over": stats["carried_over"],
                f"{destination}/reconciled_found": reconciled["found"],
                f"{destination}/reconciled_missing": reconciled["missing"],
            })
            metadata.update(registry.get(destination).metadata(sink))
            if stats["systematic"]:
                systematic.append(f"{destination}: {stats['systematic']}")
            if only:
                checked = read_back(sink, con, run_id)
                metadata[f"{destination}/read_back"] = dg.MetadataValue.json(checked)
                problems += [f"{destination}: {c['event_key']} posted as {c['upsales_id']} but not found again "
                             f"in Upsales" for c in checked if not c["found"]]
            problems += [f"{destination}: {e}" for e in stats["errors"]]
            unposted += stats["failed"]
            rejected += stats["rejected"]
        for destination in sinks:
            stuck = unresolved(con, destination)
            metadata[f"{destination}/unresolved"] = len(stuck)
            if stuck:
                context.log.warning(
                    f"{destination}: {len(stuck)} queued or unconfirmed views are not in filtered_views "
                    f"(first: {stuck[0][2]} of {stuck[0][1]}); a sync of their days settles them")
        db.run_script(con, "view_outcomes", [first, last, list(sinks), run_id])
        metadata.update(funnel_metadata(funnels))
        metadata.update(ledger_metadata(con, first, last, run_id, list(sinks)))
        metadata.update(record_calls(con, run_id, "synced_ledger", "upsales", calls))
    if problems or systematic:
        parts = list(systematic)
        parts += [f"{d} stopped before posting; the next run retries its views" for d in stopped]
        if unposted:
            parts.append(f"{unposted} views were not posted; the next run retries them")
        if rejected:
            parts.append(f"{rejected} views were rejected by Upsales and are not retried (reason in "
                         f"synced_ledger.last_error; `wistia-pipeline retry` re-offers them)")
        first_problem = f". First: {problems[0]}" if problems and not systematic else ""
        raise dg.Failure(description=f"{'; '.join(parts)}{first_problem}", metadata=metadata)
    return dg.MaterializeResult(metadata=metadata)


def dry_run(context: dg.AssetExecutionContext, settings: Settings, duckdb: DuckDBResource,
            upsales: UpsalesResource, first: date, last: date, only: list[str] | None) -> dg.MaterializeResult:
    """`dry_run`: what would be posted, per destination; Upsales is read, never written, nor the ledger."""
    metadata: dict[str, Any] = {"dry_run": True, "days": f"{first.isoformat()} .. {last.isoformat()}"}
    with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
        client = upsales.get_client()
        client.verify()
        for destination, sink in build_sinks(settings, client, con, dry_run=True).items():
            plan = dry_run_plan(con, sink, first, last, only)
            metadata[f"{destination}/would_post"] = plan["would_post"]
            metadata[f"{destination}/found_in_upsales"] = plan["found_in_upsales"]
            metadata[f"{destination}/unconfirmed"] = plan["unconfirmed"]
            metadata[f"{destination}/would_post_payloads"] = dg.MetadataValue.json(plan["payloads"])
            shown = len(plan["payloads"])
            metadata[f"{destination}/would_post_preview"] = dg.MetadataValue.md(
                f"**Would post {plan['would_post']}** ({destination}; first {shown} payloads as they would be "
                f"sent):\n\n```json\n{json.dumps(plan['payloads'], indent=2, ensure_ascii=False, default=str)}\n```")
            context.log.info(f"dry run: {destination} would post {plan['would_post']}")
    return dg.MaterializeResult(metadata=metadata)


PREVIEW_ROWS = 20


def posted_preview(con: duckdb_module.DuckDBPyConnection, run_id: str, destination: str) -> str:
    """This run's posts to one destination, the first PREVIEW_ROWS (the table says of how many)."""
    return db.preview_markdown(
        con, "SELECT event_key, day, upsales_id, client_id, contact_id, form_name, score, value "
             "FROM synced_ledger WHERE run_id = ? AND status = 'posted' AND destination = ? ORDER BY posted_at",
        [run_id, destination], limit=PREVIEW_ROWS)


def ledger_metadata(con: duckdb_module.DuckDBPyConnection, first: date, last: date, run_id: str,
                    destinations: list[str]) -> dict[str, Any]:
    """Row count, outcomes, what is still rejected and a preview of what this run posted."""
    outcomes = con.execute(
        "SELECT destination, outcome, coalesce(reason, ''), count(*) FROM view_outcomes "
        "WHERE day BETWEEN ? AND ? GROUP BY ALL ORDER BY ALL", [first, last]).fetchall()
    lines = ["| destination | outcome | reason | views |", "|---|---|---|---|"]
    lines += [f"| {d} | {o} | {r} | {n} |" for d, o, r, n in outcomes]
    states = dict(((d, s), n) for d, s, n in con.execute(
        "SELECT destination, status, count(*) FROM synced_ledger GROUP BY ALL").fetchall())
    metadata: dict[str, Any] = {}
    for destination in destinations:
        # The whole ledger, not only this window: a rejected view is never silent.
        metadata[f"{destination}/rejected_total"] = states.get((destination, "rejected"), 0)
        metadata[f"{destination}/pending_total"] = states.get((destination, "pending"), 0)
        metadata[f"{destination}/in_flight_total"] = states.get((destination, "in_flight"), 0)
    return {
        "dagster/row_count": db.count(con, "synced_ledger", first, last),
        "dagster/column_schema": db.column_schema(con, "synced_ledger"),
        "days": f"{first.isoformat()} .. {last.isoformat()}",
        "outcomes": dg.MetadataValue.md("\n".join(lines)),
        **metadata,
        **{f"posted_this_run/{destination}": dg.MetadataValue.md(posted_preview(con, run_id, destination))
           for destination in destinations},
        # What the ledger holds for these days, this run's posts or not (newest first).
        "preview": dg.MetadataValue.md(db.preview_markdown(
            con,
            "SELECT destination, event_key, day, status, upsales_id, form_name, value, posted_at "
            "FROM synced_ledger WHERE day BETWEEN ? AND ? ORDER BY posted_at DESC NULLS FIRST, event_key",
            [first, last])),
    }
