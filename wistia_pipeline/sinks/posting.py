"""The posting engine: queue, claim, post, record and reconcile the views of one destination.

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

The sinks (marketing_events.py, forms.py; contract.py says what a sink does) say what a post
is; this module, how every post is made safe.
The synced_ledger asset (stages/ledger.py) drives it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from datetime import date
from typing import Any

import duckdb as duckdb_module

from wistia_pipeline import db
from wistia_pipeline.clients.http import ApiError, AuthError

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

# What the ledger keeps of a post (a sink's `ledger_facts`), each a parameter of ledger_mark_in_flight.sql.
LEDGER_FACTS = ("external_id", "client_id", "contact_id", "score", "value", "form_id", "form_name")
# Facts a sink may leave out (NULL): added after plug-ins were written against the seven above.
OPTIONAL_LEDGER_FACTS = ("notified",)


def enqueue(con: duckdb_module.DuckDBPyConnection, destination: str, first: date, last: date) -> int:
    """Queue the window's new candidates (`pending`) and withdraw queued views that no longer
    qualify; before any call to Upsales, so an outage cannot keep a view from being queued.

    Views queued while the destination's ledger is empty (a first run, a lost DuckDB file) are
    looked up in Upsales before their post. Returns how many were queued.
    """
    with db.transaction(con):
        empty = con.execute("SELECT count(*) = 0 FROM synced_ledger WHERE destination = ?",
                            [destination]).fetchone()[0]
        window = {"first": first, "last": last, "destination": destination}
        (queued,) = db.run_script(con, "ledger_enqueue", {**window, "lookup_first": empty}).fetchone()
        db.run_script(con, "ledger_withdraw", window)
    return queued


def reconcile_in_flight(con: duckdb_module.DuckDBPyConnection, sink: Any, run_id: str) -> dict[str, int]:
    """Settle posts that were started but never confirmed before anything is posted again.

    One lookup per 100 activities (by externalId) and one read-back per form; a view found in
    Upsales becomes `posted` with its id, the others stay in flight and are offered again, but
    those of erased viewers (suppressed: never offered again) leave the ledger (`withdrawn`).
    """
    rows = db.run_script(con, "ledger_in_flight", {"destination": sink.destination}).fetchall()
    if not rows:
        return {"found": 0, "missing": 0, "withdrawn": 0}
    found = sink.find_posted_many(rows)
    for event_key, upsales_id in found.items():
        mark_posted(con, sink.destination, event_key, upsales_id, run_id)
    withdrawn = db.run_script(con, "ledger_withdraw_suppressed", {"destination": sink.destination}).fetchone()[0]
    return {"found": len(found), "missing": len(rows) - len(found) - withdrawn, "withdrawn": withdrawn}


def mark_posted(con: duckdb_module.DuckDBPyConnection, destination: str, event_key: str, upsales_id: str,
                run_id: str) -> None:
    """The view's row in flight becomes `posted` with its Upsales id."""
    db.run_script(con, "ledger_mark_posted", {"destination": destination, "event_key": event_key,
                                              "upsales_id": upsales_id, "run_id": run_id})


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
                "skipped": self.skipped, "found_in_upsales": self.found, "rejected": len(self.rejected),
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
        db.run_script(con, "ledger_confirm_rejected",
                      {"destination": destination, "event_keys": stats.rejected, "run_id": run_id})


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
    db.run_script(con, "ledger_post_queue", {
        "first": first, "last": last, "destination": destination, "lookup_first": unknown_to_ledger,
        "emails": [e.strip().lower() for e in only] if only else None})
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


def claim(con: duckdb_module.DuckDBPyConnection, sink: Any, view: dict[str, Any], payload: Any,
          existing_id: str | None, run_id: str, stats: PostStats) -> bool:
    """Claim the view in the ledger; True when it is this run's to post now.

    A view Upsales already holds is recorded as posted with its id instead.
    """
    facts = sink.ledger_facts(view, payload)
    claimed = db.run_script(con, "ledger_mark_in_flight", {
        "destination": sink.destination, "event_key": view["event_key"], "day": view["day"],
        **{name: facts[name] for name in LEDGER_FACTS},
        **{name: facts.get(name) for name in OPTIONAL_LEDGER_FACTS}, "run_id": run_id,
    }).fetchall()
    if not claimed:  # posted, rejected, or already tried by this run: never a second post
        stats.skipped += 1
        return False
    if existing_id is not None:
        mark_posted(con, sink.destination, view["event_key"], existing_id, run_id)
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
    """Write a post's outcome to the ledger (failures also to ledger_attempts)."""
    if isinstance(answer, AuthError):
        return  # stays in flight (looked up next time); the caller stops the run
    if isinstance(answer, ApiError):
        if is_refusal(answer):
            # Not stored. Queued again until the end of the run says whose fault it was
            # (settle_refusals): the view's, or Upsales refusing everything.
            status, outcome = "pending", "refused"
            stats.refusal(sink.destination, view["queue_position"], view["event_key"], answer, log)
        else:
            # May or may not have been stored: looked up before any re-post.
            status, outcome = "in_flight", "unconfirmed"
            stats.unconfirmed += 1
            stats.failure(sink.destination, view["event_key"], answer, log)
        db.run_script(con, "ledger_mark_failed", {
            "destination": sink.destination, "event_key": view["event_key"], "status": status,
            "error": str(answer), "run_id": run_id, "outcome": outcome})
        return
    mark_posted(con, sink.destination, view["event_key"], answer, run_id)
    stats.accepted(view["queue_position"])

