"""synced_ledger: posts the views not yet sent and records every (destination, view) posted.

Effectively once per (destination, event_key), see docs/guarantees.md: the ledger's unique key
lets one run claim a view (`in_flight`) before its post leaves, the Upsales id moves it to
`posted`; a view left in flight (a crash, a lost response) is looked up in Upsales before it is
offered again, and posted again only when it is provably absent. The ledger step holds the
DuckDB file for its whole length, so two overlapping runs post one after the other.

Nothing qualifying is lost when a failure is the run's rather than one view's: every candidate of
the window is queued in the ledger (`pending`) before anything is sent, and every run settles
every pending and in-flight row, whatever its day, so a view whose day left the window before it
could be posted is still posted. A 4xx marks a view `rejected` only while Upsales accepts other
posts of the same run; refusals in a row with nothing accepted between (an API change, a gateway)
stop the destination and leave every view queued for the next run.
"""


import json
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from datetime import date
from typing import Any

import dagster as dg
from pydantic import Field
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db
from wistia_pipeline.clients.http import ApiError, AuthError
from wistia_pipeline.clients.upsales import UpsalesResource
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks.activities import ActivitySink
from wistia_pipeline.sinks.forms import FormSink
from wistia_pipeline.stages.common import (
    record_calls,
    STAGE_ASSET_ARGS, day_window, funnel, funnel_metadata, load_settings,
)
from wistia_pipeline.stages.filtered import filtered_views

# Upsales answering this many transient failures in a row means it is down: stop posting, the
# next run picks the rest up (their ledger rows stay in flight and are looked up first).
MAX_CONSECUTIVE_TRANSIENT_FAILURES = 3
# Upsales refusing this many posts in a row, with none accepted between, is refusing the run (a
# required field it started to ask for, a proxy, an API change), not the views: stop posting to
# that destination and leave every view queued, so one bad day in Upsales rejects nothing.
SYSTEMATIC_REFUSALS = 5

# 4xx answers that say nothing about the view itself: the key (401/403, handled as AuthError), a
# gateway or moved endpoint (404, 405, 421), a proxy (407), "later" (408, 425, 429), and a
# conflict (409: the entry may exist). A post answered so is never marked rejected.
NOT_A_REFUSAL = frozenset({401, 403, 404, 405, 407, 408, 409, 421, 425, 429})


def build_sinks(settings: Settings, upsales: UpsalesResource, con: duckdb_module.DuckDBPyConnection,
                dry_run: bool = False, client: Any = None) -> dict[str, Any]:
    """One sink per enabled destination, in posting order (sharing `client`, so that the step's
    calls are counted in one place)."""
    client = client or upsales.get_client()
    makers = {"activities": lambda: ActivitySink(client, settings),
              "forms": lambda: FormSink(client, settings, con, dry_run=dry_run)}
    return {destination: makers[destination]() for destination in settings.destinations}


def enqueue(con: duckdb_module.DuckDBPyConnection, destination: str, first: date, last: date) -> int:
    """Queue the window's new candidates (`pending`) and withdraw queued views that no longer
    qualify; before any call to Upsales, so an outage cannot keep a view from being queued.

    Views queued while the destination's ledger is empty (a first run, a lost DuckDB file) are
    looked up in Upsales before their post. Returns how many were queued.
    """
    with db.transaction(con):
        empty = con.execute("SELECT count(*) = 0 FROM synced_ledger WHERE destination = ?",
                            [destination]).fetchone()[0]
        (queued,) = con.execute(db.sql("ledger_enqueue"), [first, last, destination, empty]).fetchone()
        con.execute(db.sql("ledger_withdraw"), [first, last, destination])
    return queued


def unresolved(con: duckdb_module.DuckDBPyConnection, destination: str) -> list[tuple[str, date, str]]:
    """(status, day, event_key) of queued or in-flight rows whose view no run can post now."""
    return con.execute(db.sql("ledger_unresolved"), [destination]).fetchall()


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


def is_refusal(error: ApiError) -> bool:
    """Upsales answered a 4xx about this request (not stored): the view may be at fault."""
    return error.status is not None and 400 <= error.status < 500 and error.status not in NOT_A_REFUSAL


# Candidates are handled in batches: one existence check in Upsales per batch (one call per 100
# activities) proves a view absent before its post, so even a lost ledger cannot double-post.
POST_BATCH = 100


class PostStats:
    """What posting one destination did; `stopped` once Upsales looks down or refuses the run."""

    def __init__(self) -> None:
        self.new = self.carried_over = self.posted = self.found = self.skipped = 0
        self.unconfirmed = self.not_attempted = 0
        # "In a row" is in the order the posts left (queue order), not the order their answers
        # came back in: with several posts in flight the answers may cross.
        self.refused: list[tuple[int, str]] = []  # (queue position, event_key) Upsales refused (not stored)
        self.last_accepted = 0                    # queue position of the latest post Upsales accepted
        self.rejected: list[str] = []             # event_keys settled as the views' own fault
        self.systematic: str | None = None   # why this destination stopped: refusals in a row
        self.errors: list[str] = []
        self.consecutive_failures = 0

    @property
    def gave_up(self) -> bool:
        return self.consecutive_failures >= MAX_CONSECUTIVE_TRANSIENT_FAILURES

    @property
    def stopped(self) -> bool:
        return self.gave_up or self.systematic is not None

    @property
    def refusal_streak(self) -> list[str]:
        """The refusals after the latest accepted post: refused in a row, none accepted between."""
        return [key for position, key in self.refused if position > self.last_accepted]

    @property
    def refused_retryable(self) -> int:
        return len(self.refused) - len(self.rejected)

    @property
    def failed(self) -> int:
        """Views this run did not settle and the next one retries."""
        return self.unconfirmed + self.not_attempted + self.refused_retryable

    def failure(self, destination: str, event_key: str, error: Exception, log: Any) -> None:
        """A post that may have been stored, or a batch that could not be prepared."""
        self.consecutive_failures += 1
        self.errors.append(f"{event_key}: {error}")
        log.warning(f"{destination}: {event_key} not posted: {error}")

    def refusal(self, destination: str, position: int, event_key: str, error: ApiError, log: Any) -> None:
        self.refused.append((position, event_key))
        self.errors.append(f"{event_key}: {error}")
        log.warning(f"{destination}: {event_key} refused by Upsales: {error}")
        streak = len(self.refusal_streak)
        if streak >= SYSTEMATIC_REFUSALS and self.systematic is None:
            self.systematic = (
                f"Upsales refused {streak} posts in a row and accepted none between "
                f"({error}); none of them is marked rejected: they and the views not tried stay queued "
                f"and the next run tries again. Check what Upsales asks for (a required field, an API "
                f"change), the API key's permissions and UPSALES_API_URL")

    def accepted(self, position: int) -> None:
        self.posted += 1
        self.consecutive_failures = 0
        self.last_accepted = max(self.last_accepted, position)

    def as_dict(self) -> dict[str, Any]:
        return {"new": self.new, "carried_over": self.carried_over, "posted": self.posted,
                "found_in_upsales": self.found, "rejected": len(self.rejected),
                "refused_retryable": self.refused_retryable, "unconfirmed": self.unconfirmed,
                "not_attempted": self.not_attempted, "failed": self.failed, "errors": self.errors,
                "systematic": self.systematic}


def settle_refusals(con: duckdb_module.DuckDBPyConnection, destination: str, stats: PostStats, run_id: str) -> None:
    """Decide this run's refusals: the view's own fault (`rejected`) only when Upsales accepted
    other posts of the run; a streak that stopped the destination stays queued either way."""
    if not stats.refused or stats.posted == 0:
        return
    keep = set(stats.refusal_streak) if stats.systematic else set()
    stats.rejected = [key for _, key in stats.refused if key not in keep]
    if stats.rejected:
        con.execute(db.sql("ledger_confirm_rejected"), [destination, stats.rejected, run_id])


# Posts in flight at once. Upsales takes 100-200 ms to answer a write; one at a time that caps
# posting near 5-10 a second, while its limit is 20 (the client's limiter keeps us just under).
# With a few in flight the limiter, not the latency, sets the pace (Little's law: 20/s x 0.3 s
# = 6). Every view is claimed in the ledger before its request leaves, so a crash leaves at most
# this many in flight, and those are looked up in Upsales before they are offered again.
POST_THREADS = 6


def candidate_batches(con: duckdb_module.DuckDBPyConnection, first: date, last: date, destination: str,
                      only: list[str] | None = None) -> Iterator[list[dict[str, Any]]]:
    """The queued views of the destination, any day, oldest first, in batches of POST_BATCH, each
    read completely; with `only`, those of these viewers' emails alone.

    They are staged in a temp table rather than streamed from an open cursor: a reader left open
    keeps a DuckDB transaction alive across the run's ledger writes and makes each of them ten
    times slower. The temp table keeps them out of Python (it spills under DuckDB's memory cap).
    """
    unknown_to_ledger = con.execute("SELECT count(*) = 0 FROM synced_ledger WHERE destination = ?",
                                    [destination]).fetchone()[0]
    con.execute(db.sql("ledger_post_queue"), [first, last, destination, unknown_to_ledger,
                                              [e.strip().lower() for e in only] if only else None])
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
    MAX_CONSECUTIVE_TRANSIENT_FAILURES, a refusing one after SYSTEMATIC_REFUSALS), doubling with
    each good answer up to POST_THREADS.
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
            if self.stats.stopped:
                self.stats.not_attempted += len(queue)  # not claimed: still queued for the next run
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
                   run_id: str, log: Any, only: list[str] | None = None) -> dict[str, Any]:
    """Post every queued view once (with `only`: those of these emails): intent in the ledger,
    post, then the Upsales id.

    Queues the window's new candidates first (see `enqueue`); the synced_ledger asset does that
    before any call to Upsales, and doing it again here is a no-op.
    """
    enqueue(con, sink.destination, first, last)
    stats = PostStats()
    with ThreadPoolExecutor(max_workers=POST_THREADS, thread_name_prefix="upsales-post") as pool:
        poster = Poster(con, sink, run_id, stats, log, pool)
        try:
            with closing(candidate_batches(con, first, last, sink.destination, only)) as batches:
                for views in batches:
                    stats.new += len(views)
                    stats.carried_over += sum(1 for view in views if view["carried_over"])
                    if stats.stopped:
                        stats.not_attempted += len(views)
                        continue
                    ready = prepare_batch(sink, views, stats, log)
                    if ready:
                        poster.post(*ready)
        finally:
            poster.drain()
            settle_refusals(con, sink.destination, stats, run_id)
    return stats.as_dict()


# Payloads a dry run shows, per destination.
DRY_RUN_SHOWN = 10


def dry_run_plan(con: duckdb_module.DuckDBPyConnection, sink: Any, first: date, last: date,
                 only: list[str] | None = None) -> dict[str, Any]:
    """What a sync would post now, without writing the ledger or posting: the queue as a real run
    would build it, Upsales' existence checks (reads only), and the first payloads exactly as
    they would be sent (the API key is a header, never in a payload)."""
    plan: dict[str, Any] = {"would_post": 0, "found_in_upsales": 0, "unconfirmed": 0, "payloads": []}
    with closing(candidate_batches(con, first, last, sink.destination, only)) as batches:
        for views in batches:
            existing = sink.find_existing(views)
            plan["found_in_upsales"] += len(existing)
            for view in views:
                if view["event_key"] in existing:
                    continue
                plan["would_post"] += 1
                plan["unconfirmed"] += view["ledger_status"] == "in_flight"  # looked up first
                if len(plan["payloads"]) < DRY_RUN_SHOWN:
                    plan["payloads"].append(sink.payload(view))
    return plan


def read_back(sink: Any, con: duckdb_module.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    """This run's posts, each looked up again in Upsales (`sync --only`: proof it is there)."""
    rows = con.execute("SELECT event_key, external_id, form_id, upsales_id FROM synced_ledger "
                       "WHERE destination = ? AND run_id = ? AND status = 'posted' ORDER BY posted_at",
                       [sink.destination, run_id]).fetchall()
    getattr(sink, "refresh", lambda: None)()  # read-backs from before the posts are stale
    found = sink.find_posted_many([(key, external_id, form_id) for key, external_id, form_id, _ in rows])
    return [{"event_key": key, "upsales_id": upsales_id, "found": found.get(key) == upsales_id}
            for key, _, _, upsales_id in rows]


def prepare_batch(sink: Any, views: list[dict[str, Any]], stats: PostStats,
                  log: Any) -> tuple[list[tuple[dict[str, Any], Any]], dict[str, str]] | None:
    """The batch's payloads and the views of it Upsales already holds (one check per batch).

    The check comes first, so a view Upsales holds costs no payload work (a form is not created
    for a view that is found submitted elsewhere). None when nothing of it may be posted now:
    Upsales could not prove its views absent.
    """
    try:
        existing = sink.find_existing(views)
    except AuthError:
        raise
    except ApiError as error:  # absence not proven: post nothing of this batch now
        stats.not_attempted += len(views)
        for view in views:
            stats.failure(sink.destination, view["event_key"], error, log)
        return None
    prepared = []
    for view in views:
        try:
            prepared.append((view, sink.payload(view)))  # may create the view's form first
        except AuthError:
            raise
        except ApiError as error:  # nothing was posted: the view stays queued
            stats.not_attempted += 1
            stats.failure(sink.destination, view["event_key"], error, log)
    return (prepared, existing) if prepared else None


def post_one(con: duckdb_module.DuckDBPyConnection, sink: Any, view: dict[str, Any], payload: Any,
             existing_id: str | None, run_id: str, stats: PostStats, log: Any) -> None:
    """One view from claim to record, as `post_new_views` does it for a group."""
    if stats.stopped:
        stats.not_attempted += 1
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


def queue_position(view: dict[str, Any], stats: PostStats) -> int:
    """Where the view stood in the post queue (a view posted on its own counts as the latest)."""
    return view.get("queue_position") or (max([stats.last_accepted, *(p for p, _ in stats.refused)]) + 1)


def record(con: duckdb_module.DuckDBPyConnection, sink: Any, view: dict[str, Any], answer: str | ApiError,
           run_id: str, stats: PostStats, log: Any) -> None:
    """Write a post's outcome to the ledger (failures also to ledger_attempts)."""
    if isinstance(answer, AuthError):
        return  # stays in flight (looked up next time); the caller stops the run
    if isinstance(answer, ApiError):
        if is_refusal(answer):
            # Not stored. Queued again until the end of the run says whose fault it was
            # (settle_refusals): the view's, or Upsales refusing everything.
            status, outcome = "pending", "refused"
            stats.refusal(sink.destination, queue_position(view, stats), view["event_key"], answer, log)
        else:
            # May or may not have been stored: looked up before any re-post.
            status, outcome = "in_flight", "unconfirmed"
            stats.unconfirmed += 1
            stats.failure(sink.destination, view["event_key"], answer, log)
        db.run_script(con, "ledger_mark_failed",
                      [sink.destination, view["event_key"], status, str(answer), run_id, outcome])
        return
    con.execute(db.sql("ledger_mark_posted"), [sink.destination, view["event_key"], answer, run_id])
    stats.accepted(queue_position(view, stats))


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
    deps=[filtered_views],
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
                  upsales: UpsalesResource) -> dg.MaterializeResult:
    settings = load_settings()
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
    with db.connect(duckdb) as con:
        for destination in settings.destinations:
            metadata[f"{destination}/queued"] = enqueue(con, destination, first, last)
        client = upsales.get_client()
        client.verify()  # a rejected key stops the run before anything is posted
        sinks = build_sinks(settings, upsales, con, client=client)
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
            if isinstance(sink, FormSink):
                metadata["forms/created"] = ", ".join(sink.forms_created) or "none"
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
        metadata.update(record_calls(con, run_id, "synced_ledger", "upsales", client.session))
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
    with db.connect(duckdb) as con:
        upsales.get_client().verify()
        for destination, sink in build_sinks(settings, upsales, con, dry_run=True).items():
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
