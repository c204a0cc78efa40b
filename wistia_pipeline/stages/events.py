"""wistia_events: every viewing session Wistia reports for each day of the window."""


import json
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import date, timedelta
from typing import Any

import dagster as dg
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db, privacy
from wistia_pipeline.settings import PipelineSettings
from wistia_pipeline.clients.wistia import WistiaClient, WistiaResource
from wistia_pipeline.stages.common import (
    record_calls,
    STAGE_ASSET_ARGS, day_window, days_in, funnel, funnel_metadata, load_settings, table_metadata,
)


# Days are fetched side by side, one thread each, sharing the client and so its rate limit:
# Wistia takes a few hundred milliseconds for a full page, so one day at a time would use only a
# fraction of the 600 requests a minute. The queue is bounded, so fetching waits for DuckDB and
# the window never piles up in Python.
FETCH_THREADS = 4
QUEUED_PAGES = 16
# Pages staged per INSERT: one DuckDB round trip per page costs about as much as the page itself.
PAGES_PER_INSERT = 20
# A staged page's values, as wistia_events_load_pages.sql names them (one list of each per batch).
PAGE_FIELDS = ("days", "page_numbers", "pages")
EVENT_PAGES_STAGING = "CREATE TABLE _wistia_event_pages (day DATE, page_no INTEGER, position INTEGER, raw JSON)"
# How long a stopping fetch waits for its threads. One blocked in a request (up to the read
# timeout) is left behind: it is a daemon thread, stops at its next step, and never holds the run.
STOP_WAIT_S = 2.0


def fetch_pages(client: WistiaClient, days: list[date], threads: int = FETCH_THREADS
                ) -> Iterator[tuple[date, int, list[dict]]]:
    """(day, page number, page) for every page of every day, days fetched concurrently.

    Pages of one day arrive in order. The first error of any day stops the others and is raised.
    When the consumer stops (an error, SIGINT/SIGTERM as KeyboardInterrupt, an abandoned
    generator) the fetch threads stop between pages, and their retry and rate-limit waits end at
    once (the session's ``cancelled_by``); this returns within seconds, never waiting out a
    backoff or a slow answer: the threads are daemons, so neither this nor the interpreter's exit
    waits for one stuck in a request.
    """
    pages: queue.Queue = queue.Queue(maxsize=QUEUED_PAGES)
    stop = threading.Event()
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for day in days:
        todo.put(day)
    session = getattr(client, "session", None)

    def put(item: tuple) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch(day: date) -> None:
        error = None
        try:
            for page_no, page in enumerate(client.iter_event_pages(day), start=1):
                if stop.is_set() or not put((day, page_no, page)):
                    return
        except BaseException as caught:  # handed to the consumer, raised there
            error = caught
        put((day, None, error))

    def work() -> None:
        with session.cancelled_by(stop) if hasattr(session, "cancelled_by") else nullcontext():
            while not stop.is_set():
                try:
                    day = todo.get_nowait()
                except queue.Empty:
                    return
                fetch(day)

    workers = [threading.Thread(target=work, name=f"wistia-day-{n}", daemon=True)
               for n in range(max(1, min(threads, len(days))))]
    try:
        for worker in workers:
            worker.start()
        remaining = len(days)
        while remaining:
            day, page_no, item = pages.get()
            if page_no is None:  # this day is done
                remaining -= 1
                if item is not None:
                    raise item
                continue
            yield day, page_no, item
    finally:
        stop.set()
        deadline = time.monotonic() + STOP_WAIT_S
        for worker in workers:
            if worker.is_alive():
                worker.join(max(0.0, deadline - time.monotonic()))


@contextmanager
def event_staging(con: duckdb_module.DuckDBPyConnection) -> Iterator[None]:
    """One transaction for staging the window's pages and rewriting wistia_events from them.

    The staged pages go to a table in the DuckDB file, zstd-compressed (a million events' JSON
    takes ~200 MB there, not 1 GB of memory to spill), and the table is dropped before the commit,
    so it is never stored. A failed fetch rolls everything back: the old rows stay.
    """
    with db.zstd_compression(con), db.transaction(con):
        con.execute(EVENT_PAGES_STAGING)
        yield
        con.execute("DROP TABLE _wistia_event_pages")


def stage_pages(con: duckdb_module.DuckDBPyConnection, pages: Iterable[tuple[date, int, str]]) -> None:
    """Stage (day, page number, page as JSON text) into _wistia_event_pages, a batch per INSERT."""
    batch: list[tuple[date, int, str]] = []
    for page in pages:
        batch.append(page)
        if len(batch) == PAGES_PER_INSERT:
            db.load_pages(con, "wistia_events_load_pages", PAGE_FIELDS, batch)
            batch = []
    db.load_pages(con, "wistia_events_load_pages", PAGE_FIELDS, batch)


def rewrite_events(con: duckdb_module.DuckDBPyConnection, first: date, last: date) -> None:
    """Replace the window's rows of wistia_events with the staged pages (inside `event_staging`)."""
    db.clear_days(con, "wistia_events", first, last)
    db.run_script(con, "wistia_events", {"first": first, "last": last})


def load_events(con: duckdb_module.DuckDBPyConnection, client: WistiaClient, first: date, last: date,
                log: Any = None, extra_days: int = 0) -> int:
    """Fetch every day of the window from Wistia and rewrite its rows of wistia_events.

    `extra_days` (WISTIA_EXTRA_DAYS) more days are read on each side, for an account whose Wistia
    days are not UTC days (`probe` says so): each view is kept on the UTC day of its received_at,
    so those near midnight at the window's edges come from the neighbouring Wistia day.
    Returns how many events were fetched. The benchmark calls this too (without Dagster).
    """
    margin = timedelta(days=extra_days)
    fetched: dict[date, int] = dict.fromkeys(days_in(first - margin, last + margin), 0)

    def texts() -> Iterator[tuple[date, int, str]]:
        for day, page_no, page in fetch_pages(client, list(fetched)):
            fetched[day] += len(page)
            yield day, page_no, json.dumps(page)

    with event_staging(con):
        stage_pages(con, texts())
        if log is not None:
            log.info("Wistia events fetched: " + ", ".join(f"{day.isoformat()} {n}" for day, n in fetched.items()))
        rewrite_events(con, first, last)
    return sum(fetched.values())


@dg.asset(
    **STAGE_ASSET_ARGS,
    description=(
        "Every viewing session Wistia reports for the day (Stats API, one bounded UTC day at a "
        "time, pages of 100), one row per event_key with typed columns and the raw JSON. Each "
        "run re-reads the whole lookback window, because Wistia can take hours to show a view."
    ),
)
def wistia_events(context: dg.AssetExecutionContext, duckdb: DuckDBResource, wistia: WistiaResource,
                  pipeline_settings: PipelineSettings) -> dg.MaterializeResult:
    settings = load_settings(pipeline_settings)
    first, last = day_window(context)
    client = wistia.get_client()
    with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
        fetched = load_events(con, client, first, last, context.log, settings.wistia_extra_days)
        metadata = table_metadata(
            con, "wistia_events", first, last,
            preview_query="SELECT day, event_key, received_at, email, conversion_email, percent_viewed, media_name "
                          "FROM wistia_events WHERE day BETWEEN ? AND ? ORDER BY received_at DESC",
            preview_params=(first, last),
        )
        metadata["events_fetched"] = fetched
        # Issue #13: Wistia is re-read over the whole window (the seed's lookback, its lower bound).
        metadata["wistia_days_read"] = (last - first).days + 1 + 2 * settings.wistia_extra_days
        metadata.update(record_calls(con, context.run.run_id, "wistia_events", "wistia", client.session))
        metadata.update(funnel_metadata({"activities": funnel(con, first, last, upto="events")}))
    return dg.MaterializeResult(metadata=privacy.protect(metadata, settings.full_emails))
