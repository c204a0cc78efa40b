"""synced_ledger: posts the views not yet sent and records every (destination, view) posted.

A graph-backed asset, so that a run's page shows each destination's step on its own (timing, log,
failure) while the lineage keeps one asset:

    queue_views -> post_<destination> (one op per registered destination) -> record_outcomes

`queue_views` queues every enabled destination's candidates before anything is sent and checks
the API key; each `post_<destination>` reconciles, posts and records its destination through the
posting engine (sinks/posting.py, which says how a view is posted effectively once) and fails on
its own, without stopping the other destinations; `record_outcomes` describes the run: the
funnel, the ledger's states and a preview of this run's posts.
"""


import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any

import dagster as dg
from pydantic import Field
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db, privacy, retention
from wistia_pipeline.clients.http import ApiError, AuthError
from wistia_pipeline.clients.upsales import UpsalesClient, UpsalesResource
from wistia_pipeline.settings import PipelineSettings, Settings
from wistia_pipeline.sinks import registry
from wistia_pipeline.sinks.contract import SinkContext
from wistia_pipeline.sinks.posting import dry_run_plan, enqueue, post_new_views, read_back, reconcile_in_flight
from wistia_pipeline.stages.common import (
    DUCKDB_POOL, AccountScope, Funnel, record_calls, StepCalls,
    STAGE_ASSET_ARGS, day_window, funnel, funnel_metadata, load_settings,
)
from wistia_pipeline.stages.filtered import filtered_views

SYNCED_LEDGER = dg.AssetKey("synced_ledger")
UPSALES_FORMS = dg.AssetKey("upsales_forms")
CALLS_STEP = "synced_ledger"  # run_calls' step: doctor projects a run's Upsales calls from it


def build_sinks(settings: Settings, client: UpsalesClient, con: duckdb_module.DuckDBPyConnection,
                dry_run: bool = False) -> dict[str, Any]:
    """One sink per enabled destination (the registry's), in posting order, all on the run's `client`."""
    context = SinkContext(client=client, settings=settings, con=con, dry_run=dry_run)
    return {name: registry.get(name).make_sink(context) for name in registry.enabled(settings)}


def unresolved(con: duckdb_module.DuckDBPyConnection, destination: str) -> list[tuple[str, date, str]]:
    """(status, day, event_key) of queued or in-flight rows whose view no run can post now."""
    return db.run_script(con, "ledger_unresolved", {"destination": destination}).fetchall()


class SyncConfig(dg.Config):
    """Run config of the ledger (the UI's launchpad, `wistia-pipeline sync --dry-run/--only`);
    every step of the ledger's graph gets the same."""

    dry_run: bool = Field(default=False, description=(
        "Everything but posting: the chain runs, the ledger is not written, nothing is POSTed; the "
        "materialization shows how many views would be posted and the first payloads."))
    only_emails: list[str] = Field(default_factory=list, description=(
        "Post only the views of these viewers' emails (any case), with every ledger rule, then read "
        "each new entry back from Upsales. Empty: every queued view."))

    def only(self) -> list[str] | None:
        return [email.strip().lower() for email in self.only_emails if email.strip()] or None


# What a step hands on to the next: its metadata (counts, calls, previews) and, for a post step,
# its destination's funnel. Plain values, stored by the run's IO manager, so that re-executing a
# failed post step from the UI finds the other steps' outputs.
StepResult = dict[str, Any]


@dg.op(
    pool=DUCKDB_POOL,
    ins={"filtered_views": dg.In(dg.Nothing), "upsales_forms": dg.In(dg.Nothing)},
    description="Queue every enabled destination's new candidates (before any call to Upsales, so an "
                "outage cannot keep a view from being queued), then check the API key: a rejected key "
                "stops the run before anything is posted.",
)
def queue_views(context: dg.OpExecutionContext, config: SyncConfig, duckdb: DuckDBResource,
                upsales: UpsalesResource, pipeline_settings: PipelineSettings) -> StepResult:
    settings = load_settings(pipeline_settings)
    first, last = day_window(context)
    metadata: dict[str, Any] = {}
    with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
        if not config.dry_run:
            for destination in registry.enabled(settings):
                metadata[f"{destination}/queued"] = enqueue(con, destination, first, last)
        client = upsales.get_client()  # the run's, shared with the matching step and the post steps
        calls = StepCalls(client.session)
        client.verify()
        metadata.update(record_calls(con, context.run.run_id, CALLS_STEP, "upsales", calls))
    context.add_output_metadata(metadata)
    return {"metadata": metadata}


def post_step(destination: str) -> dg.OpDefinition:
    """The op that posts one destination's queued views (skips at once when the settings leave the
    destination off: the graph has a step per registered destination, the run's settings decide)."""

    @dg.op(
        name=f"post_{destination}",
        pool=DUCKDB_POOL,
        description=f"Post the queued views of destination `{destination}` "
                    f"({registry.get(destination).description}), each once, and record them in the ledger.",
    )
    def post(context: dg.OpExecutionContext, config: SyncConfig, queued: StepResult, duckdb: DuckDBResource,
             upsales: UpsalesResource, pipeline_settings: PipelineSettings) -> StepResult:
        settings = load_settings(pipeline_settings)
        if destination not in registry.enabled(settings):
            setting = registry.get(destination).setting
            context.log.info(f"{destination}: off{f' ({setting})' if setting else ''}; nothing to post")
            return {}
        first, last = day_window(context)
        with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
            client = upsales.get_client()
            calls = StepCalls(client.session)
            sink = registry.get(destination).make_sink(
                SinkContext(client=client, settings=settings, con=con, dry_run=config.dry_run))
            try:
                log = privacy.MaskingLog(context.log, settings.full_emails)
                if config.dry_run:
                    result = plan_destination(context, log, con, sink, first, last, config.only())
                else:
                    result = post_destination(context, log, con, sink, first, last, config.only())
            finally:
                calls_metadata = record_calls(con, context.run.run_id, CALLS_STEP, "upsales", calls)
        result["metadata"].update(calls_metadata)
        # What reaches run storage (and, through the IO manager, the next step) has its emails masked.
        result["metadata"] = privacy.protect(result["metadata"], settings.full_emails)
        if result.get("failure"):
            raise dg.Failure(description=privacy.protect(result["failure"], settings.full_emails),
                             metadata=result["metadata"])
        context.add_output_metadata(result["metadata"])
        return result

    return post


def post_destination(context: dg.OpExecutionContext, log: privacy.MaskingLog,
                     con: duckdb_module.DuckDBPyConnection, sink: Any,
                     first: date, last: date, only: list[str] | None) -> StepResult:
    """Reconcile, post and record one destination; its outcomes, counts and funnel, and `failure`
    (the step's one-line failure) when views are left for the next run or were refused."""
    destination, run_id = sink.destination, context.run.run_id
    problems: list[str] = []
    metadata: dict[str, Any] = {}
    failure = ""
    try:
        reconciled = reconcile_in_flight(con, sink, run_id)
        stats = post_new_views(con, sink, first, last, run_id, log, only)
    except AuthError:
        raise
    except ApiError as error:
        # One destination failing (Upsales' form endpoint down, say) does not stop the other.
        log.error(f"{destination}: {error}")
        counts = funnel(con, first, last, destination)
        failure = (f"{destination} stopped before posting; the next run retries its views. "
                   f"First: {destination}: {error}")
    else:
        counts = funnel(con, first, last, destination, new=stats["new"] - stats["carried_over"])
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
            f"{destination}/reconciled_withdrawn_erased": reconciled["withdrawn"],
        })
        metadata.update(registry.get(destination).metadata(sink))
        if only:
            checked = read_back(sink, con, run_id)
            metadata[f"{destination}/read_back"] = dg.MetadataValue.json(checked)
            problems += [f"{destination}: {c['event_key']} posted as {c['upsales_id']} but not found again "
                         f"in Upsales" for c in checked if not c["found"]]
        problems += [f"{destination}: {e}" for e in stats["errors"]]
        failure = failure_description(destination, stats, problems)
    stuck = unresolved(con, destination)
    metadata[f"{destination}/unresolved"] = len(stuck)
    if stuck:
        log.warning(
            f"{destination}: {len(stuck)} queued or unconfirmed views are not in filtered_views "
            f"(first: {stuck[0][2]} of {stuck[0][1]}); a sync of their days settles them")
    db.run_script(con, "view_outcomes", {"first": first, "last": last, "destinations": [destination],
                                         "run_id": run_id})
    metadata.update(ledger_totals(con, destination))
    metadata.update(funnel_metadata({destination: counts}))
    metadata[f"posted_this_run/{destination}"] = dg.MetadataValue.md(posted_preview(con, run_id, destination))
    return {"destination": destination, "metadata": metadata, "funnel": dict(counts), "failure": failure}


def failure_description(destination: str, stats: Mapping[str, Any], problems: Sequence[str]) -> str:
    """The step's one-line failure ("" when it succeeded): Upsales refusing the run, views left for
    the next run, views refused for good, then the first problem when it is not the refusal."""
    if not (problems or stats["systematic"]):
        return ""
    parts = [f"{destination}: {stats['systematic']}"] if stats["systematic"] else []
    if stats["failed"]:
        parts.append(f"{stats['failed']} views were not posted; the next run retries them")
    if stats["rejected"]:
        parts.append(f"{stats['rejected']} views were rejected by Upsales and are not retried (reason in "
                     f"synced_ledger.last_error; `wistia-pipeline retry` re-offers them)")
    first_problem = f". First: {problems[0]}" if problems and not stats["systematic"] else ""
    return f"{'; '.join(parts)}{first_problem}"


def plan_destination(context: dg.OpExecutionContext, log: privacy.MaskingLog,
                     con: duckdb_module.DuckDBPyConnection, sink: Any,
                     first: date, last: date, only: list[str] | None) -> StepResult:
    """A dry run's step: what would be posted; Upsales is read, never written, nor the ledger."""
    destination = sink.destination
    plan = dry_run_plan(con, sink, first, last, only)
    shown = len(plan["payloads"])
    log.info(f"dry run: {destination} would post {plan['would_post']}")
    return {"destination": destination, "metadata": {
        f"{destination}/would_post": plan["would_post"],
        f"{destination}/found_in_upsales": plan["found_in_upsales"],
        f"{destination}/unconfirmed": plan["unconfirmed"],
        f"{destination}/would_post_payloads": dg.MetadataValue.json(plan["payloads"]),
        f"{destination}/would_post_preview": dg.MetadataValue.md(
            f"**Would post {plan['would_post']}** ({destination}; first {shown} payloads as they would be "
            f"sent):\n\n```json\n{json.dumps(plan['payloads'], indent=2, ensure_ascii=False, default=str)}\n```"),
    }}


@dg.op(
    pool=DUCKDB_POOL,
    description="Describe the run on the asset: every destination's counts, the funnel, the ledger's "
                "states, this run's posts and the outcomes of the window's views.",
)
def record_outcomes(context: dg.OpExecutionContext, config: SyncConfig, queued: StepResult,
                    posted: list[StepResult], duckdb: DuckDBResource,
                    pipeline_settings: PipelineSettings) -> None:
    settings = load_settings(pipeline_settings)
    first, last = day_window(context)
    results = [queued, *posted]
    metadata = merge_metadata([result.get("metadata", {}) for result in results])
    if config.dry_run:
        context.add_output_metadata(privacy.protect(
            {"dry_run": True, "days": f"{first.isoformat()} .. {last.isoformat()}", **metadata},
            settings.full_emails))
        return
    enabled = registry.enabled(settings)
    with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
        # Outcomes of destinations the settings turned off since: gone, as their views are not posted.
        con.execute("DELETE FROM view_outcomes WHERE day BETWEEN ? AND ? AND NOT list_contains(?, destination)",
                    [first, last, list(enabled)])
        funnels = {result["destination"]: Funnel(result["funnel"], first, last)
                   for result in posted if result.get("funnel")}
        metadata.update(funnel_metadata(funnels))
        metadata.update(ledger_metadata(con, first, last))
        # Last, once this run has used them: the personal data of days past RETENTION_DAYS goes.
        first_kept = retention.cutoff(utc_today(), settings.retention_days)
        removed = retention.apply(con, first_kept, settings.retention_days, context.run.run_id)
        metadata.update(retention.metadata(removed, first_kept, settings.retention_days))
    if removed["held_unsettled"]:
        context.log.warning(f"retention: {removed['held_unsettled']} views before {first_kept} keep their "
                            f"personal data until their queued or unconfirmed posts are settled")
    context.add_output_metadata(privacy.protect(metadata, settings.full_emails))


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def merge_metadata(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The steps' metadata as one: `calls/...` counts added up (each step counts its own calls),
    the rest as they are (each step's keys are its destination's)."""
    merged: dict[str, Any] = {}
    calls: Counter[str] = Counter()
    for part in parts:
        for key, value in part.items():
            if key.startswith("calls/"):
                calls[key] += value
            elif not key.startswith("funnel"):  # funnels are rebuilt over every destination
                merged[key] = value
    merged.update(sorted(calls.items()))
    return merged


def build_synced_ledger(scope: AccountScope | None = None) -> dg.AssetsDefinition:
    """The ledger asset over the destinations registered now (one post step each, in posting
    order); with `scope`, one account's copy (issue #14: its keys, group, pool, ops, resources)."""
    args = {key: STAGE_ASSET_ARGS[key] for key in ("partitions_def", "backfill_policy", "group_name", "kinds")}
    ins_keys = {"filtered_views": filtered_views.key, "upsales_forms": UPSALES_FORMS}
    first, steps, last = queue_views, [post_step(destination) for destination in registry.names()], record_outcomes
    if scope is not None:
        args.update(partitions_def=scope.partitions_def, group_name=scope.name, key_prefix=[scope.name])
        ins_keys = {name: scope.key(key) for name, key in ins_keys.items()}
        first, steps, last = scope.op(first), [scope.op(step) for step in steps], scope.op(last)
    ops_config = {op.name: {"config": {}} for op in [first, *steps, last]}

    def every_step(config: Mapping[str, Any]) -> dict[str, Any]:
        return {name: {"config": dict(config)} for name in ops_config}

    @dg.graph_asset(
        name=SYNCED_LEDGER.path[-1],
        ins={"filtered_views": dg.AssetIn(key=ins_keys["filtered_views"], dagster_type=dg.Nothing),
             # The forms the form policy posts to (stages/form_registry.py).
             "upsales_forms": dg.AssetIn(key=ins_keys["upsales_forms"], dagster_type=dg.Nothing)},
        config=dg.ConfigMapping(config_fn=every_step, config_schema=SyncConfig.to_config_schema()),
        description=(
            "The ledger of what is sent to Upsales: one row per (destination, event_key) with the "
            "status (pending, in_flight, posted, rejected), the Upsales id, the posted text and the run. "
            "Materializing it queues the window's filtered views not yet in it, then posts every queued "
            "view whatever its day, one step per destination, and records it; a view is never posted "
            "twice, and a view queued inside the lookback is posted even after its day left the window. "
            "The outcome of every view is in table view_outcomes; the history of failed attempts in "
            "ledger_attempts."
        ),
        **args,
    )
    def synced_ledger(filtered_views, upsales_forms):
        queued = first(filtered_views=filtered_views, upsales_forms=upsales_forms)
        return last(queued, [step(queued) for step in steps])

    return synced_ledger


PREVIEW_ROWS = 20


def posted_preview(con: duckdb_module.DuckDBPyConnection, run_id: str, destination: str) -> str:
    """This run's posts to one destination, the first PREVIEW_ROWS (the table says of how many)."""
    return db.preview_markdown(
        con, "SELECT event_key, day, upsales_id, client_id, contact_id, form_name, score, value "
             "FROM synced_ledger WHERE run_id = ? AND status = 'posted' AND destination = ? ORDER BY posted_at",
        [run_id, destination], limit=PREVIEW_ROWS)


def ledger_totals(con: duckdb_module.DuckDBPyConnection, destination: str) -> dict[str, int]:
    """The whole ledger's states of one destination, not only this window: a rejected view is never silent."""
    states = dict(con.execute("SELECT status, count(*) FROM synced_ledger WHERE destination = ? GROUP BY ALL",
                              [destination]).fetchall())
    return {f"{destination}/{state}_total": states.get(state, 0) for state in ("rejected", "pending", "in_flight")}


def ledger_metadata(con: duckdb_module.DuckDBPyConnection, first: date, last: date) -> dict[str, Any]:
    """Row count, outcomes and what the ledger holds for the window's days."""
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
        # What the ledger holds for these days, this run's posts or not (newest first).
        "preview": dg.MetadataValue.md(db.preview_markdown(
            con,
            "SELECT destination, event_key, day, status, upsales_id, form_name, value, posted_at "
            "FROM synced_ledger WHERE day BETWEEN ? AND ? ORDER BY posted_at DESC NULLS FIRST, event_key",
            [first, last])),
    }


def posting_steps(account: str | None = None) -> set[str]:
    """Step keys of the ledger's steps that report counts of their own (queueing and posting),
    for the CLI's summary; `record_outcomes` repeats them for the asset page. With `account`, its
    copies' (`<account>__synced_ledger.<account>__queue_views`)."""
    name, op = SYNCED_LEDGER.path[-1], ""
    if account:
        name, op = f"{account}__{name}", f"{account}__"
    return {f"{name}.{op}{queue_views.name}", *(f"{name}.{op}post_{d}" for d in registry.names())}
