"""synced_ledger: posts the views not yet sent and records every (destination, view) posted.

Effectively once per (destination, event_key), see docs/guarantees.md: the ledger's unique key
lets one run claim a view (`in_flight`) before its post leaves, the Upsales id moves it to
`posted`; a view left in flight (a crash, a lost response) is looked up in Upsales before it is
offered again, and posted again only when it is provably absent. The ledger step holds the
DuckDB file for its whole length, so two overlapping runs post one after the other.
"""


from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
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
from wistia_pipeline.sinks.forms import FormSink
from wistia_pipeline.stages.common import (
    STAGE_ASSET_ARGS, day_window, funnel, funnel_metadata, load_settings,
)
from wistia_pipeline.stages.filtered import filtered_views

# Upsales answering this many transient failures in a row means it is down: stop posting, the
# next run picks the rest up (their ledger rows stay in flight and are looked up first).
MAX_CONSECUTIVE_TRANSIENT_FAILURES = 3


def build_sinks(settings: Settings, upsales: UpsalesResource, con: duckdb_module.DuckDBPyConnection) -> dict[str, Any]:
    """One sink per enabled destination, in posting order."""
    client = upsales.get_client()
    makers = {"activities": lambda: ActivitySink(client, settings), "forms": lambda: FormSink(client, settings, con)}
    return {destination: makers[destination]() for destination in settings.destinations}


def reconcile_in_flight(con: duckdb_module.DuckDBPyConnection, sink: Any, run_id: str) -> dict[str, int]:
    """Settle posts that were started but never confirmed before anything is posted again.

    One lookup per 100 activities (by externalId) and one read-back per form; a view found in
    Upsales becomes `posted` with its id, the others stay in flight and are offered again.
    """
    rows = con.execute(db.sql("ledger_in_flight"), [sink.destination]).fetchall()
    if not rows:
        return {"found": 0, "missing": 0}
    found = sink.find_posted_many(rows)
    for event_key, upsales_id in found.items():
        con.execute(db.sql("ledger_mark_posted"), [sink.destination, event_key, upsales_id, run_id])
    return {"found": len(found), "missing": len(rows) - len(found)}


def is_permanent(error: ApiError) -> bool:
    """Upsales refused this view for good: a 4xx, but not 408 (timeout), 425 or 429 (try later)."""
    return error.status is not None and 400 <= error.status < 500 and error.status not in (408, 425, 429)


# Candidates are handled in batches: one existence check in Upsales per batch (one call per 100
# activities) proves a view absent before its post, so even a lost ledger cannot double-post.
POST_BATCH = 100


class PostStats:
    """What posting one destination did; `gave_up` once Upsales looks down."""

    def __init__(self) -> None:
        self.new = self.posted = self.found = self.rejected = self.failed = self.skipped = 0
        self.errors: list[str] = []
        self.consecutive_failures = 0

    @property
    def gave_up(self) -> bool:
        return self.consecutive_failures >= MAX_CONSECUTIVE_TRANSIENT_FAILURES

    def failure(self, destination: str, event_key: str, error: Exception, log: Any, permanent: bool = False) -> None:
        if permanent:
            self.rejected += 1
        else:
            self.failed += 1
            self.consecutive_failures += 1
        self.errors.append(f"{event_key}: {error}")
        log.warning(f"{destination}: {event_key} not posted: {error}")

    def as_dict(self) -> dict[str, Any]:
        return {"new": self.new, "posted": self.posted, "found_in_upsales": self.found,
                "rejected": self.rejected, "failed": self.failed, "errors": self.errors}


# Posts in flight at once. Upsales takes 100-200 ms to answer a write; one at a time that caps
# posting near 5-10 a second, while its limit is 20 (the client's limiter keeps us just under).
# With a few in flight the limiter, not the latency, sets the pace (Little's law: 20/s x 0.3 s
# = 6). Every view is claimed in the ledger before its request leaves, so a crash leaves at most
# this many in flight, and those are looked up in Upsales before they are offered again.
POST_THREADS = 6


def candidate_batches(con: duckdb_module.DuckDBPyConnection, first: date, last: date,
                      destination: str) -> Iterator[list[dict[str, Any]]]:
    """The window's candidates, oldest first, in batches of POST_BATCH, each read completely.

    They are staged in a temp table rather than streamed from an open cursor: a reader left open
    keeps a DuckDB transaction alive across the run's ledger writes and makes each of them ten
    times slower. The temp table keeps them out of Python (it spills under DuckDB's memory cap).
    """
    con.execute(db.sql("ledger_post_queue"), [first, last, destination])
    try:
        position = 0
        while True:
            reader = con.execute("SELECT * FROM post_queue WHERE queue_position > ? "
                                 "ORDER BY queue_position LIMIT ?", [position, POST_BATCH])
            columns = [d[0] for d in reader.description]
            rows = reader.fetchall()
            if not rows:
                return
            position = rows[-1][columns.index("queue_position")]
            yield [dict(zip(columns, row)) for row in rows]
    finally:
        con.execute("DROP TABLE IF EXISTS post_queue")


class Poster:
    """Keeps up to POST_THREADS posts in flight; all DuckDB work stays on the calling thread.

    The ledger is written per group, each group in one transaction: the claims of the views about
    to leave (committed before any of their requests does) and the outcomes of the posts that
    came back. Slow start: after a failure one post at a time (so a down Upsales is spared after
    MAX_CONSECUTIVE_TRANSIENT_FAILURES), doubling with each good answer up to POST_THREADS.
    """

    def __init__(self, con: duckdb_module.DuckDBPyConnection, sink: Any, run_id: str, stats: PostStats,
                 log: Any, pool: ThreadPoolExecutor) -> None:
        self.con, self.sink, self.run_id, self.stats, self.log, self.pool = con, sink, run_id, stats, log, pool
        self.in_flight: dict[Future, dict[str, Any]] = {}
        self.width = 1

    def post(self, prepared: list[tuple[dict[str, Any], Any]], existing: dict[str, str]) -> None:
        """Claim and post one batch; returns with its last posts possibly still in flight."""
        queue = deque(prepared)
        while queue:
            if self.stats.gave_up:
                self.stats.failed += len(queue)  # not claimed: still candidates for the next run
                return
            room = self.width - len(self.in_flight)
            if room <= 0:
                self.settle(wait(self.in_flight, return_when=FIRST_COMPLETED).done)
                continue
            group = [queue.popleft() for _ in range(min(room, len(queue)))]
            with db.transaction(self.con):
                claimed = [(view, payload) for view, payload in group
                           if claim(self.con, self.sink, view, payload, existing.get(view["event_key"]),
                                    self.run_id, self.stats)]
            for view, payload in claimed:
                self.in_flight[self.pool.submit(try_post, self.sink, payload)] = view

    def settle(self, done: Iterable[Future]) -> None:
        """Record the finished posts in one transaction; stop the run on a bug or a rejected key."""
        answers, stop = [], None
        for future in done:
            view = self.in_flight.pop(future)
            try:
                answer = future.result()
            except Exception as error:  # a bug, not an API answer: the view stays in flight
                stop = stop or error
                continue
            answers.append((view, answer))
            if isinstance(answer, AuthError):
                stop = stop or answer
        with db.transaction(self.con):
            for view, answer in answers:
                record(self.con, self.sink, view, answer, self.run_id, self.stats, self.log)
        if answers:
            failed = any(isinstance(answer, ApiError) for _, answer in answers)
            self.width = 1 if failed else min(self.width * 2, POST_THREADS)
        if stop is not None:
            self.drain()  # the other answers are recorded before the run stops
            raise stop

    def drain(self) -> None:
        """Wait for every post still in flight and record it."""
        while self.in_flight:
            self.settle(wait(self.in_flight).done)


def post_new_views(con: duckdb_module.DuckDBPyConnection, sink: Any, first: date, last: date,
                   run_id: str, log: Any) -> dict[str, Any]:
    """Post every candidate of the window once: intent in the ledger, post, then the Upsales id."""
    stats = PostStats()
    with ThreadPoolExecutor(max_workers=POST_THREADS, thread_name_prefix="upsales-post") as pool:
        poster = Poster(con, sink, run_id, stats, log, pool)
        try:
            with closing(candidate_batches(con, first, last, sink.destination)) as batches:
                for views in batches:
                    stats.new += len(views)
                    if stats.gave_up:
                        stats.failed += len(views)
                        continue
                    ready = prepare_batch(sink, views, stats, log)
                    if ready:
                        poster.post(*ready)
        finally:
            poster.drain()
    return stats.as_dict()


def prepare_batch(sink: Any, views: list[dict[str, Any]], stats: PostStats,
                  log: Any) -> tuple[list[tuple[dict[str, Any], Any]], dict[str, str]] | None:
    """The batch's payloads and the views of it Upsales already holds (one check per batch).

    None when nothing of it may be posted now: Upsales could not prove its views absent.
    """
    prepared = []
    for view in views:
        try:
            prepared.append((view, sink.payload(view)))  # may create the view's form first
        except AuthError:
            raise
        except ApiError as error:  # nothing was posted: the view stays a candidate
            stats.failure(sink.destination, view["event_key"], error, log)
    if not prepared:
        return None
    try:
        return prepared, sink.find_existing(prepared)
    except AuthError:
        raise
    except ApiError as error:  # absence not proven: post nothing of this batch now
        for view, _ in prepared:
            stats.failure(sink.destination, view["event_key"], error, log)
        return None


def post_one(con: duckdb_module.DuckDBPyConnection, sink: Any, view: dict[str, Any], payload: Any,
             existing_id: str | None, run_id: str, stats: PostStats, log: Any) -> None:
    """One view from claim to record, as `post_new_views` does it for a group."""
    if stats.gave_up:
        stats.failed += 1
        return
    if claim(con, sink, view, payload, existing_id, run_id, stats):
        answer = try_post(sink, payload)
        record(con, sink, view, answer, run_id, stats, log)
        if isinstance(answer, AuthError):
            raise answer


def claim(con: duckdb_module.DuckDBPyConnection, sink: Any, view: dict[str, Any], payload: Any,
          existing_id: str | None, run_id: str, stats: PostStats) -> bool:
    """Claim the view in the ledger; True when it is this run's to post now.

    A view Upsales already holds is recorded as posted with its id instead.
    """
    facts = sink.ledger_facts(view, payload)
    claimed = con.execute(db.sql("ledger_mark_in_flight"), [
        sink.destination, view["event_key"], view["day"], facts["external_id"], facts["client_id"],
        facts["contact_id"], facts["score"], facts["value"], facts["form_id"], facts["form_name"], run_id,
    ]).fetchall()
    if not claimed:  # posted, rejected, or already tried by this run: never a second post
        stats.skipped += 1
        return False
    if existing_id is not None:
        con.execute(db.sql("ledger_mark_posted"), [sink.destination, view["event_key"], existing_id, run_id])
        stats.found += 1
        return False
    return True


def try_post(sink: Any, payload: Any) -> str | ApiError:
    """The Upsales id of the new entry, or the error (run in a worker thread: no DuckDB here)."""
    try:
        return sink.post(payload)
    except ApiError as error:
        return error


def record(con: duckdb_module.DuckDBPyConnection, sink: Any, view: dict[str, Any], answer: str | ApiError,
           run_id: str, stats: PostStats, log: Any) -> None:
    """Write a post's outcome to the ledger."""
    if isinstance(answer, AuthError):
        return  # stays in flight (looked up next time); the caller stops the run
    if isinstance(answer, ApiError):
        # A 4xx (but 408/425/429) is Upsales refusing this view for good; anything else may or
        # may not have been stored, so the row stays in flight and is looked up before a re-post.
        permanent = is_permanent(answer)
        con.execute(db.sql("ledger_mark_failed"), [sink.destination, view["event_key"],
                                                  "rejected" if permanent else "in_flight", str(answer)])
        stats.failure(sink.destination, view["event_key"], answer, log, permanent=permanent)
        return
    con.execute(db.sql("ledger_mark_posted"), [sink.destination, view["event_key"], answer, run_id])
    stats.posted += 1
    stats.consecutive_failures = 0


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
    upsales.get_client().verify()  # a rejected key stops the run before anything is posted
    funnels: dict[str, dict[str, int]] = {}
    metadata: dict[str, Any] = {}
    problems: list[str] = []  # one line each, the first is shown
    unposted = rejected = 0   # views the next run retries / views Upsales refused for good
    stopped: list[str] = []   # destinations that could not post at all
    with db.connect(duckdb) as con:
        sinks = build_sinks(settings, upsales, con)
        for destination, sink in sinks.items():
            # One destination failing (Upsales' form endpoint down, say) does not stop the other.
            try:
                reconciled = reconcile_in_flight(con, sink, context.run.run_id)
                stats = post_new_views(con, sink, first, last, context.run.run_id, context.log)
            except AuthError:
                raise
            except ApiError as error:
                context.log.error(f"{destination}: {error}")
                problems.append(f"{destination}: {error}")
                stopped.append(destination)
                funnels[destination] = funnel(con, first, last, destination)
                continue
            funnels[destination] = funnel(con, first, last, destination, new=stats["new"])
            metadata.update({
                f"{destination}/posted": stats["posted"],
                f"{destination}/failed": stats["failed"],
                f"{destination}/rejected": stats["rejected"],
                f"{destination}/found_in_upsales": reconciled["found"] + stats["found_in_upsales"],
            })
            if isinstance(sink, FormSink):
                metadata["forms/created"] = ", ".join(sink.forms_created) or "none"
            problems += [f"{destination}: {e}" for e in stats["errors"]]
            unposted += stats["failed"]
            rejected += stats["rejected"]
            if stats["failed"] > len(stats["errors"]) - stats["rejected"]:
                problems.append(f"{destination}: {stats['failed'] - len(stats['errors']) + stats['rejected']} "
                                f"views not attempted after repeated failures")
        db.run_script(con, "view_outcomes", [first, last, list(sinks), context.run.run_id])
        metadata.update(funnel_metadata(funnels))
        metadata.update(ledger_metadata(con, first, last, context.run.run_id))
    if problems:
        parts = [f"{d} stopped before posting; the next run retries its views" for d in stopped]
        if unposted:
            parts.append(f"{unposted} views were not posted; the next run retries them")
        if rejected:
            parts.append(f"{rejected} views were rejected by Upsales and are not retried "
                         f"(reason in synced_ledger.last_error)")
        raise dg.Failure(description=f"{'; '.join(parts)}. First: {problems[0]}", metadata=metadata)
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
        # What the ledger holds for these days, this run's posts or not (newest first).
        "preview": dg.MetadataValue.md(db.preview_markdown(
            con,
            "SELECT destination, event_key, day, status, upsales_id, form_name, value, posted_at "
            "FROM synced_ledger WHERE day BETWEEN ? AND ? ORDER BY posted_at DESC NULLS FIRST, event_key",
            [first, last])),
    }
