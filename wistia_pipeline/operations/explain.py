"""`wistia-pipeline explain <email or event_key>`: what happened to a view, and why.

Lists every view of an email (trimmed, any case; the Turnstile email or the viewer's email) or
the one view with that exact event_key, newest first: its day, video and percent watched, and
per enabled destination the outcome recorded by the last run over its day (table
`view_outcomes`) in plain words, with the Upsales id when posted and the ledger's error when it
failed. A view whose day is outside the lookback window is flagged: the schedule does not read
it again, so a changed setting only reaches it through a backfill of that day.

The DuckDB file is opened read-only and never created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from wistia_pipeline import db, retention
from wistia_pipeline.settings import Settings, database_path
from wistia_pipeline.sinks import registry


class ExplainError(Exception):
    """The outcomes cannot be read (no sync yet, file in use or damaged); one line for the user."""


@dataclass
class DestinationOutcome:
    destination: str
    outcome: str | None  # synced | already_synced | skipped | failed; None: not decided yet
    reason: str | None
    words: str  # the outcome and its reason in plain words
    upsales_id: str | None = None


@dataclass
class ViewExplanation:
    day: date
    event_key: str
    received_at: datetime | None
    email: str | None
    media_id: str | None
    media_name: str | None
    percent: float | None  # 0..100
    in_lookback: bool
    outcomes: list[DestinationOutcome] = field(default_factory=list)
    past_retention: bool = False  # its day is before the retention cutoff (RETENTION_DAYS)
    removed_on: datetime | None = None  # when retention removed its personal data (None: not yet)


@dataclass
class Explanation:
    query: str
    db_path: str
    window: tuple[date, date]  # the current lookback window
    lookback_days: int
    views: list[ViewExplanation] = field(default_factory=list)
    # When the email asked about was erased (`wistia-pipeline forget`): its views no longer carry it.
    suppressed_since: datetime | None = None
    retention_days: int = 90
    first_day_kept: date | None = None  # days before it are past retention


def format_percent(percent: float | None) -> str:
    return "? %" if percent is None else f"{round(percent, 2):g} %"


def skipped_words(reason: str, detail: str | None, view: ViewExplanation, settings: Settings) -> str:
    """A stage's reason for stopping a view, in plain words."""
    detail = detail or ""
    if reason == "not_converted":
        return "not converted: the viewer left no email in a Turnstile on this view"
    if reason == "invalid_email":
        return f"invalid email {detail or view.email!r}: not a valid address, so it cannot be matched or submitted"
    if reason == "no_match":
        return "no contact or domain match: no active Upsales contact has this email or its domain"
    if reason == "personal_domain":
        return f"personal domain ({detail}): free-mail domains are never matched to an account"
    if reason == "ambiguous_domain":
        return f"ambiguous domain ({detail}): its active contacts are split evenly between accounts"
    if reason == "below_min_percent":
        return (f"below minimum %: watched {format_percent(view.percent)}, "
                f"MIN_PERCENT_WATCHED is {settings.min_percent_watched:g} %")
    if reason == "project_not_enabled":
        return f"project not enabled: {detail or 'its project'} is not in WISTIA_PROJECTS"
    if reason == "unknown_project":
        return (f"unknown project: Wistia does not list video {view.media_id or detail} "
                f"(deleted, or in a folder the API token cannot read)")
    if reason == "suppressed":
        return ("suppressed: the viewer was erased (`wistia-pipeline forget`); the view is kept without "
                "personal data and never posted")
    if reason in INPUT_PROBLEMS:
        return f"bad input from Wistia: {INPUT_PROBLEMS[reason]}; the view is kept, never posted"
    return f"skipped: {reason}"


INPUT_PROBLEMS = {
    "missing_event_key": "the view came without an event_key",
    "invalid_received_at": "its received_at is not a readable time",
    "invalid_percent_viewed": "its percent_viewed is not a fraction from 0 to 1",
}


def ledger_words(outcome: str, reason: str | None, ledger: dict[str, Any] | None) -> str:
    """A ledger outcome (posted or failed) in plain words."""
    ledger = ledger or {}
    upsales_id = ledger.get("upsales_id")
    error = ledger.get("last_error")
    target = f" to form {ledger['form_name']!r}" if ledger.get("form_name") else ""
    verb = "submitted" if target else "posted"
    # The ledger keeps whether the entry carried `notify` (a file from before ACTIVITY_NOTIFY: no column).
    notified = ", notifying the account managers" if ledger.get("notified") else ""
    if outcome == "synced":
        return (f"{verb}{target} as Upsales id {upsales_id}{notified} by run "
                f"{str(ledger.get('run_id') or '')[:8]}").rstrip()
    if outcome == "already_synced":
        posted_at = ledger.get("posted_at")
        when = f" on {posted_at:%Y-%m-%d}" if isinstance(posted_at, datetime) else ""
        return f"already synced: {verb}{target} as Upsales id {upsales_id}{when}{notified}; not posted again"
    if reason == "rejected_by_upsales":
        return (f"failed: Upsales rejected it ({error or 'no reason given'}); it is not retried until "
                f"`wistia-pipeline retry` re-offers it")
    if reason == "post_unconfirmed":
        return (f"failed: the post was not confirmed ({error or 'no answer'}); the next run looks it up "
                f"in Upsales before posting again")
    if reason == "not_posted":
        if ledger.get("status") == "pending" and not error:
            return "queued: not attempted yet (the run stopped before it); the next run posts it"
        return f"failed: not posted ({error or 'Upsales did not answer'}); the next run retries it"
    if reason == "not_processed":
        return "failed: the last run over this day did not reach it; the next run retries it"
    return f"failed: {reason or error or 'unknown'}"


def open_read_only(path: str) -> duckdb.DuckDBPyConnection:
    if not Path(path).exists():
        raise ExplainError(f"no sync has run yet: {path} does not exist (run `wistia-pipeline sync`, "
                           f"or point WISTIA_PIPELINE_DB at the pipeline's DuckDB file)")
    try:
        con = db.open_database(path, read_only=True, lock_wait=0)
    except db.DatabaseLocked as error:
        raise ExplainError(f"{path} is in use by a running sync ({db.holder_words(error.holder)}): "
                           f"try again when it has finished") from None
    except db.DatabaseCorrupt as error:
        raise ExplainError(str(error)) from None
    except duckdb.Error as error:
        raise ExplainError(f"cannot open {path}: {' '.join(str(error).split())}") from None
    con.execute("SET TimeZone = 'UTC'")
    # Only the temp macros of the schema (strip_ws): a read-only file takes no CREATE TABLE.
    for statement in db.split_statements(db.sql("schema")):
        if statement.upper().startswith("CREATE OR REPLACE TEMP MACRO"):
            con.execute(statement)
    return con


def _rows(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """db.rows, its DuckDB errors as one-line ExplainErrors (no sync yet, a damaged file)."""
    try:
        return db.rows(con, name, params)
    except duckdb.CatalogException:
        raise ExplainError("no sync has run yet: the DuckDB file holds no outcomes "
                           "(run `wistia-pipeline sync` first)") from None
    except duckdb.Error as error:
        corrupt = db.corruption(path, error)  # a damaged block is only found when it is read
        if corrupt is None:
            raise
        raise ExplainError(str(corrupt)) from None


def suppressed_since(con: duckdb.DuckDBPyConnection, email: str) -> datetime | None:
    """When the email joined the suppression list (looked up by its hash: the list keeps no
    email); None when it is not on it, or the file predates the list."""
    try:
        digest = con.execute("SELECT email_sha256($email)", {"email": email}).fetchone()[0]
        row = db.run_script(con, "suppression_status", {"email_sha256": digest}).fetchone()
    except duckdb.CatalogException:
        return None
    return row[0] if row else None


def explain(query: str, settings: Settings, today: date, db_path: str | None = None) -> Explanation:
    """Every view matching `query` (an email or an event_key) with its outcome per enabled destination."""
    from wistia_pipeline.automation import lookback_window

    query = query.strip()
    path = db_path or database_path()
    window = lookback_window(today, settings.lookback_days)
    result = Explanation(query=query, db_path=path, window=window, lookback_days=settings.lookback_days,
                         retention_days=settings.retention_days,
                         first_day_kept=retention.cutoff(today, settings.retention_days))
    con = open_read_only(path)
    try:
        rows = _rows(con, "explain_views", {"event_key": query, "email": query.lower()}, path)
        if "@" in query:
            result.suppressed_since = suppressed_since(con, query)
        keys = sorted({row["event_key"] for row in rows})
        ledger = ({(r["destination"], r["event_key"]): r
                   for r in _rows(con, "explain_ledger", {"event_keys": keys}, path)} if keys else {})
        expired_days = sorted({row["day"] for row in rows if row["day"] < result.first_day_kept})
        removed = retention.removed_on(con, expired_days)
    finally:
        con.close()

    views: dict[tuple[date, str], ViewExplanation] = {}
    recorded: dict[tuple[date, str], dict[str, dict[str, Any]]] = {}
    for row in rows:
        key = (row["day"], row["event_key"])
        if key not in views:
            percent = row["percent_viewed"]
            views[key] = ViewExplanation(
                day=row["day"], event_key=row["event_key"], received_at=row["received_at"], email=row["email"],
                media_id=row["media_id"], media_name=row["media_name"],
                percent=None if percent is None else percent * 100,
                in_lookback=window[0] <= row["day"] <= window[1],
                past_retention=row["day"] < result.first_day_kept,
                removed_on=removed.get(row["day"]),
            )
            recorded[key] = {}
        if row["destination"] is not None:
            recorded[key][row["destination"]] = row

    for key, view in views.items():
        for destination in registry.enabled(settings):
            row = recorded[key].get(destination)
            if row is None:
                view.outcomes.append(DestinationOutcome(
                    destination, None, None,
                    "no outcome recorded yet: no run over this day has reached the ledger since the view "
                    "arrived (see the latest run in the Dagster UI)"))
                continue
            outcome, reason = row["outcome"], row["reason"]
            entry = ledger.get((destination, view.event_key))
            if outcome == "skipped":
                words = skipped_words(reason, row["detail"], view, settings)
                if reason == "suppressed" and (entry or {}).get("status") == "posted":
                    words += (f"; posted before the erasure as Upsales id {entry['upsales_id']} "
                              f"(not deleted in Upsales)")
            else:
                words = ledger_words(outcome, reason, entry)
            upsales_id = (entry or {}).get("upsales_id") if outcome in ("synced", "already_synced") else None
            view.outcomes.append(DestinationOutcome(destination, outcome, reason, words, upsales_id))
    result.views = list(views.values())
    return result


def retention_words(view: ViewExplanation, retention_days: int) -> str:
    """A view past retention: what was removed, when, and what the ledger still says."""
    if view.email:  # held: a destination has not settled it (retention.py)
        return (f"past retention (RETENTION_DAYS={retention_days}): its email and raw data are kept until "
                f"its queued or unconfirmed post is settled")
    when = (f"were removed on {view.removed_on:%Y-%m-%d}" if view.removed_on
            else "are removed by the next run")
    posted = [f"{o.upsales_id} ({o.destination})" for o in view.outcomes if o.upsales_id]
    kept = (f"the ledger keeps that it was posted as {', '.join(posted)}" if posted
            else "its outcome is kept below")
    return f"past retention (RETENTION_DAYS={retention_days}): its email and raw data {when}; {kept}"


def retention_note(result: Explanation) -> str:
    """Said when asked by email: a view past retention has no email left to be found by."""
    return (f"Views before {result.first_day_kept} are past retention (RETENTION_DAYS={result.retention_days}): "
            f"their emails were removed, so only their event_key finds them.")


def format_explanation(result: Explanation) -> str:
    first, last = result.window
    erased = ""
    if result.suppressed_since is not None:
        erased = (f"{result.query} was erased on {result.suppressed_since:%Y-%m-%d} (`wistia-pipeline forget`) and "
                  f"is suppressed: its views are kept without the email, so they are not listed by it, and none "
                  f"is posted again.")
        if not result.views:
            return erased
    by_email = "@" in result.query
    if not result.views:
        return (f"No view of {result.query!r} in {result.db_path}. Only days that were synced are known: "
                f"sync the day of the view first (`wistia-pipeline sync --start YYYY-MM-DD --end YYYY-MM-DD`)."
                + (f"\n{retention_note(result)}" if by_email and result.first_day_kept else ""))
    noun = "view" if len(result.views) == 1 else "views"
    lines = [f"{len(result.views)} {noun} of {result.query} (newest first; lookback window "
             f"{first} .. {last}, LOOKBACK_DAYS={result.lookback_days}):"]
    for view in result.views:
        when = f"{view.received_at:%Y-%m-%d %H:%M:%S} UTC" if view.received_at else f"{view.day} (time unknown)"
        video = f'"{view.media_name}"' if view.media_name else f"video {view.media_id or '?'}"
        email = view.email or ("(email removed: past retention)" if view.past_retention else "(no email)")
        lines += ["", f"{when}  {video}  {format_percent(view.percent)}  {email}",
                  f"  event_key {view.event_key}"]
        if view.past_retention:
            lines.append(f"  {retention_words(view, result.retention_days)}")
        lines += [f"  {o.destination}: {o.words}" for o in view.outcomes]
        if not view.in_lookback:
            lines.append(f"  outside the lookback window: the schedule no longer re-reads {view.day}; "
                         f"to apply changed settings, run `wistia-pipeline sync --start {view.day} --end {view.day}`")
    if erased:
        lines += ["", erased]
    if by_email and result.first_day_kept:
        lines += ["", retention_note(result)]
    return "\n".join(lines)
