"""What the benchmark measures, each run in a subprocess of its own so that its peak RSS is its own.

`python -m benchmarks.child <task> <args.json> <result.json>`; the result carries `peak_rss`
(bytes, `ru_maxrss`) next to the task's figures. Tasks:

- `ingest_ours`: the wistia_events stage's work (fetch every page of the window, stage it in
  DuckDB, type and dedupe it into wistia_events), without Dagster.
- `ingest_dlt`: the same events from the same sandbox into DuckDB with dlt's `rest_api` source.
- `sql_stages`: the SQL from raw event pages to sync candidates on a pre-loaded DuckDB file.
- `sync`: `run_sync` end to end (Dagster included), with each step's wall time from the event log.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from contextlib import ExitStack
from datetime import date, datetime
from typing import Any

EVENT_LOADER = "wistia_events_load"
CONTACT_LOADER = "upsales_contacts_load"


def peak_rss() -> int:
    """The process's high-water mark since exec (VmHWM): ru_maxrss would also count the pages this
    process briefly shared with the benchmark's own (large) process between fork and exec."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _days(args: dict[str, Any]) -> tuple[date, date]:
    return date.fromisoformat(args["first"]), date.fromisoformat(args["last"])


def ingest_ours(args: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    from wistia_pipeline import db
    from wistia_pipeline.clients.wistia import WistiaClient
    from wistia_pipeline.stages import events

    first, last = _days(args)
    client = WistiaClient(args["url"], args["token"], per_minute=args["per_minute"])
    started = time.perf_counter()
    with duckdb.connect(args["db"]) as con:
        db.prepare(con)
        fetched = events.load_events(con, client, first, last)
        rows = con.execute("SELECT count(*) FROM wistia_events").fetchone()[0]
    return {"seconds": time.perf_counter() - started, "fetched": fetched, "rows": rows}


def ingest_dlt(args: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.sources.rest_api import rest_api_source

    first, last = _days(args)
    days = [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
    source = rest_api_source({
        "client": {
            "base_url": args["url"].rstrip("/") + "/",
            "auth": {"type": "bearer", "token": args["token"]},
            "paginator": {"type": "page_number", "base_page": 1, "page_param": "page", "total_path": None,
                          "stop_after_empty_page": True},
        },
        "resource_defaults": {"write_disposition": "append", "table_name": "wistia_events"},
        "resources": [
            {"name": f"events_{d:%Y%m%d}",
             "endpoint": {"path": "stats/events.json",
                          "params": {"start_date": d.isoformat(), "end_date": d.isoformat(), "per_page": 100}}}
            for d in days
        ],
    })
    pipeline = dlt.pipeline(
        pipeline_name="bench_wistia", pipelines_dir=args["pipelines_dir"],
        destination=dlt.destinations.duckdb(args["db"]), dataset_name="wistia",
    )
    started = time.perf_counter()
    pipeline.run(source, loader_file_format=args.get("loader_file_format"))
    seconds = time.perf_counter() - started
    import duckdb

    with duckdb.connect(args["db"], read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM wistia.wistia_events").fetchone()[0]
    return {"seconds": seconds, "rows": rows}


def named_parameters(db) -> bool:
    """Whether the code measured gives its SQL files named parameters (a dict), not positional ones
    (a list, as the code measured as "before" did)."""
    return hasattr(db, "SqlParameterError")


def domains_to_look_up(con, first: date, last: date) -> list[tuple]:
    """The company domains a first sync looks up: every domain of a view with no exact contact,
    none asked before (the code measured as "before" had a file of its own for it)."""
    from wistia_pipeline import db

    try:
        return con.execute(db.sql("match_domains_to_look_up"), [first, last]).fetchall()
    except FileNotFoundError:
        if named_parameters(db):
            db.run_script(con, "lookup_views", {"first": first, "last": last, "min_percent": 0.0, "projects": [],
                                                "matched_destinations": ["activities"]})
            db.run_script(con, "lookup_domains_to_ask", {"fresh_since": datetime(2000, 1, 1)})
        else:
            con.execute(db.sql("lookup_views"), [first, last, 0.0, [], ["activities"]])
            con.execute(db.sql("lookup_domains_to_ask"), [datetime(2000, 1, 1)])
        return con.execute("SELECT asked FROM _domains_to_ask").fetchall()


def sql_stages(args: dict[str, Any]) -> dict[str, Any]:
    """Time each SQL step over the pre-loaded raw pages (events as Wistia's JSON pages of 100,
    contacts as Upsales' pages of 1000), as the stages run them, minus the HTTP."""
    import duckdb

    from wistia_pipeline import db
    from wistia_pipeline.stages import events, matched

    first, last = _days(args)
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}

    def timed(name: str, work):
        started = time.perf_counter()
        result = work()
        timings[name] = time.perf_counter() - started
        return result

    with duckdb.connect(args["db"]) as con:
        db.prepare(con)
        if args.get("threads"):
            con.execute(f"SET threads = {int(args['threads'])}")
        page_reader = con.cursor().execute("SELECT day, page_no, text FROM bench_pages")
        contact_reader = con.cursor().execute("SELECT text FROM bench_contact_pages")

        def stage_events():
            con.execute("CREATE OR REPLACE TEMP TABLE _wistia_event_pages "
                        "(day DATE, page_no INTEGER, position INTEGER, raw JSON)")
            for day, page_no, text in _stream(page_reader):
                con.execute(db.sql(EVENT_LOADER), [day, page_no, text])

        def stage_contacts():
            if hasattr(matched, "CONTACTS_STAGING"):  # the code before the SQL files held all SQL
                con.execute(matched.CONTACTS_STAGING)
            elif named_parameters(db):
                db.run_script(con, "upsales_contacts_staging")
            else:
                db.run_script(con, "upsales_contacts_staging", [])
            if hasattr(matched, "stage_contact_pages"):
                matched.stage_contact_pages(con, (text for (text,) in _stream(contact_reader)))
                return
            for (text,) in _stream(contact_reader):
                if named_parameters(db):
                    db.run_script(con, CONTACT_LOADER, {"page": text})
                else:
                    con.execute(db.sql(CONTACT_LOADER), [text])

        if hasattr(events, "event_staging"):  # staging and rewrite in one transaction
            with ExitStack() as staging:
                staging.enter_context(events.event_staging(con))
                timed("stage event pages", lambda: events.stage_pages(con, _stream(page_reader)))
                started = time.perf_counter()
                events.rewrite_events(con, first, last)
            timings["wistia_events"] = time.perf_counter() - started  # the commit included
        else:
            timed("stage event pages", stage_events)
            timed("wistia_events", lambda: db.rewrite_days(con, "wistia_events", first, last))
        timed("converted_views", lambda: db.rewrite_days(con, "converted_views", first, last))
        timed("stage contact pages", stage_contacts)
        domains = timed("domains to look up", lambda: domains_to_look_up(con, first, last))
        if named_parameters(db):
            matching = {"matched_destinations": ["activities"]}
            filters = {"min_percent": 0.0, "projects": args["projects"], "matched_destinations": ["activities"],
                       "converted_destinations": []}
        else:
            matching = [] if "$3" not in db.sql("matched_views") else [["activities"]]  # before: no parameter
            # The destinations' parameters: one list (the code before the destination registry) or
            # those taking matched views and those taking converted views.
            destinations = [["activities"]] if "$6" not in db.sql("filtered_views") else [["activities"], []]
            filters = [0.0, args["projects"], *destinations]
        timed("matched_views", lambda: db.rewrite_days(con, "matched_views", first, last, matching))
        timed("filtered_views", lambda: db.rewrite_days(con, "filtered_views", first, last, filters))
        timed("sync candidates", lambda: sync_candidates(con, first, last))
        candidates = con.execute("SELECT count(*) FROM post_queue").fetchone()[0]
        for table in ("wistia_events", "converted_views", "matched_views", "filtered_views"):
            counts[table] = db.count(con, table, first, last)
        counts["contacts_staged"] = con.execute("SELECT count(*) FROM _upsales_contacts").fetchone()[0]
        counts["domains_to_look_up"] = len(domains)
        counts["candidates"] = candidates
    return {"timings": timings, "counts": counts, "seconds": sum(timings.values())}


def sync_candidates(con: Any, first: date, last: date) -> None:
    """The post queue of the window: queued in the ledger first where the code measured does so
    (an older checkout, measured as "before", builds the queue from filtered_views alone)."""
    from wistia_pipeline import db
    try:
        from wistia_pipeline.sinks import posting as engine
    except ImportError:  # an older checkout: the posting engine lived in the ledger stage
        from wistia_pipeline.stages import ledger as engine

    if named_parameters(db):
        engine.enqueue(con, "activities", first, last)
        db.run_script(con, "ledger_post_queue", {"first": first, "last": last, "destination": "activities",
                                                 "lookup_first": False, "emails": None})
    elif hasattr(engine, "enqueue"):
        engine.enqueue(con, "activities", first, last)
        con.execute(db.sql("ledger_post_queue"), [first, last, "activities", False, None])
    else:
        con.execute(db.sql("ledger_post_queue"), [first, last, "activities"])


def _stream(cursor, size: int = 64):
    while rows := cursor.fetchmany(size):
        yield from rows


def sync(args: dict[str, Any]) -> dict[str, Any]:
    """`run_sync` as the CLI and the schedule run it; per-step wall time from Dagster's event log."""
    started = time.perf_counter()
    import dagster as dg

    from wistia_pipeline.cli import run_sync

    imported = time.perf_counter()
    first, last = _days(args)
    if args.get("profile"):  # where the time goes, for looking into a slow figure
        import cProfile

        profiler = cProfile.Profile()
        report = profiler.runcall(run_sync, first, last)
        profiler.dump_stats(args["profile"])
    else:
        report = run_sync(first, last)
    finished = time.perf_counter()
    steps: dict[str, dict[str, float]] = {}
    with dg.DagsterInstance.get() as instance:
        for record in instance.all_logs(report.run_id):
            event = record.dagster_event
            if event is None or not record.step_key:
                continue
            step = steps.setdefault(record.step_key, {})
            if event.event_type_value == "STEP_START":
                step["start"] = record.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                step["end"] = record.timestamp
    return {
        "calls": run_calls(report.run_id),
        "success": report.success, "error": report.error, "funnels": report.funnels, "posted": report.posted,
        "import_seconds": imported - started, "run_sync_seconds": finished - imported,
        "steps": {k: v["end"] - v["start"]
                  for k, v in sorted(steps.items(), key=lambda kv: kv[1].get("start", 0))
                  if "start" in v and "end" in v},
    }


def run_calls(run_id: str) -> dict[str, dict[str, int]] | None:
    """The run's own count of its calls per API and endpoint (table run_calls), to cross-check
    the emulators' request logs; None for code that does not count them (a "before")."""
    import duckdb

    path = os.environ.get("WISTIA_PIPELINE_DB")
    if not path or not os.path.exists(path):
        return None
    with duckdb.connect(path, read_only=True) as con:
        tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "run_calls" not in tables:
            return None
        calls: dict[str, dict[str, int]] = {}
        for api, endpoint, n in con.execute("SELECT api, endpoint, sum(calls) FROM run_calls WHERE run_id = ? "
                                            "GROUP BY ALL ORDER BY ALL", [run_id]).fetchall():
            calls.setdefault(api, {})[endpoint] = int(n)
    return calls


TASKS = {"ingest_ours": ingest_ours, "ingest_dlt": ingest_dlt, "sql_stages": sql_stages, "sync": sync}


def main() -> None:
    task, args_path, result_path = sys.argv[1:4]
    with open(args_path, encoding="utf-8") as handle:
        args = json.load(handle)
    result = TASKS[task](args)
    import wistia_pipeline

    result["package"] = os.path.dirname(wistia_pipeline.__file__)
    result["peak_rss"] = peak_rss()
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle, default=str)


if __name__ == "__main__":
    main()
