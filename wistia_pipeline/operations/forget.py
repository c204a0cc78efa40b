"""`wistia-pipeline forget EMAIL` and the job `forget_viewer`: erase one person from the DuckDB file.

An EU viewer may ask to be erased. The pipeline keeps their email, names and Wistia's raw JSON in
several tables; `forget` removes them from every table in one transaction (sql/privacy/, which
says what each table keeps and why), keeps in the ledger only what the no-duplicate guarantee
needs, and adds the email's sha256 to `suppressed_emails`, so that later runs, which read the
lookback from Wistia again, keep those views without any personal data and never post them
(reason `suppressed`).

Deleted rows stay as bytes in DuckDB's freed blocks, even after CHECKPOINT, so the file is then
rewritten: copied into a fresh file next to it (`COPY FROM DATABASE`), checked, synced to disk and
swapped in with `os.replace`, all while this process holds the file's lock. An interrupt at any
point leaves either the old file (the erasure committed or not; run `forget` again, it is
idempotent and rewrites the file each time) or the new one, whole. Copies outside the file
(backups, Dagster's run storage with its previews, freed disk blocks of the old file) are not
reached: docs/guarantees.md says so.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from wistia_pipeline import db

# The tables forget_counts.sql reports, in the order they are printed.
TABLES = ("wistia_events", "converted_views", "matched_views", "filtered_views", "view_rejections",
          "view_outcomes", "synced_ledger", "ledger_attempts", "upsales_lookups", "upsales_lookup_contacts")
# The fresh copy, next to the file (same file system, so the swap is a rename).
FRESH_SUFFIX = ".forget-tmp"
FRESH_ALIAS = "forget_fresh"
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_EMAIL_LENGTH = 320


class ForgetError(Exception):
    """The erasure cannot be carried out; one line for the user. Nothing was changed unless it says so."""


class _DryRun(Exception):
    """Ends a dry run's transaction by rolling it back."""

    def __init__(self, result: "ForgetResult") -> None:
        self.result = result


@dataclass
class ForgetResult:
    db_path: str
    email: str | None            # as normalised; None when only its hash was given
    email_sha256: str
    erased: dict[str, int]       # rows erased per table (0 included)
    newly_suppressed: bool
    suppressed_since: datetime | None  # when it was already on the list
    posted: list[tuple[str, str]] = field(default_factory=list)  # (destination, Upsales id) posted before
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.erased.values())


def normalise_email(email: str) -> str:
    """The email as matching and the suppression list know it (trimmed, lower-cased); ForgetError
    for text that is not an email. Looser than the converted stage's rule on purpose: an email
    that stage rejected as invalid was stored all the same and can be erased."""
    text = email.strip().lower()
    local, at, domain = text.partition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in text) or len(text) > MAX_EMAIL_LENGTH:
        raise ForgetError(f"forget needs an email address (name@domain), got {email!r}")
    return text


def check_sha256(value: str) -> str:
    text = value.strip().lower()
    if not _SHA256.fullmatch(text):
        raise ForgetError("email_sha256 must be the 64 hex digits `wistia-pipeline forget --hash EMAIL` prints")
    return text


def email_hash(email: str) -> str:
    """sha256 of the normalised email, computed by DuckDB's own macro (schema.sql: email_sha256),
    so that the hash given to the job is the one ingest compares."""
    with duckdb.connect(":memory:") as con:
        db.prepare(con)
        return con.execute("SELECT email_sha256($email)", {"email": normalise_email(email)}).fetchone()[0]


def forget(db_path: str, email: str | None = None, email_sha256: str | None = None, *, dry_run: bool = False,
           lock_wait: float | None = None, before_swap: Callable[[], None] | None = None) -> ForgetResult:
    """Erase the person with this email (or only its hash) from the DuckDB file and suppress them.

    `dry_run` counts what would be erased and changes nothing. `before_swap` runs between the
    verified copy and the swap (tests interrupt there). DatabaseError (one line) when the file is
    locked or damaged; ForgetError for a bad argument or an erasure that would leave the email.
    """
    if (email is None) == (email_sha256 is None):
        raise ForgetError("give the email or its email_sha256, one of the two")
    normal = normalise_email(email) if email is not None else None
    digest = email_hash(normal) if normal is not None else check_sha256(email_sha256 or "")
    remove_fresh_copy(db_path)  # a leftover of an interrupted forget: never the database
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    con = db.open_database(db_path, lock_wait=lock_wait)
    try:
        db.prepare(con)
        with db.transaction(con):
            db.run_script(con, "forget_targets", {
                "email": normal, "email_json": json.dumps(normal)[1:-1] if normal else None,
                "email_sha256": digest})
            counts = dict(db.run_script(con, "forget_counts").fetchall())
            posted = [(r["destination"], r["upsales_id"]) for r in db.rows(con, "forget_posted")]
            since = suppressed_since(con, digest)
            result = ForgetResult(db_path, normal, digest, {t: counts.get(t, 0) for t in TABLES},
                                  newly_suppressed=since is None, suppressed_since=since, posted=posted,
                                  dry_run=dry_run)
            if dry_run:
                raise _DryRun(result)  # rolls the transaction back
            db.run_script(con, "forget_erase", {"erased_at": datetime.now(timezone.utc).replace(tzinfo=None)})
            if normal is not None:
                left = mentions_left(con, [normal, json.dumps(normal)[1:-1]])
                if left:
                    raise ForgetError(f"the erasure would leave the email in {', '.join(left)}: nothing was "
                                      f"changed; report this to the pipeline's maintainers")
        rewrite_file(con, db_path, before_swap)
        return result
    except _DryRun as stop:
        return stop.result
    finally:
        con.close()


def suppressed_since(con: duckdb.DuckDBPyConnection, digest: str) -> datetime | None:
    row = db.run_script(con, "suppression_status", {"email_sha256": digest}).fetchone()
    return row[0] if row else None


def text_columns(con: duckdb.DuckDBPyConnection, database: str | None = None) -> dict[str, list[str]]:
    """Every table of the file and its columns, as the catalog lists them (a column added later
    is searched too)."""
    database = database or con.execute("SELECT current_database()").fetchone()[0]
    columns: dict[str, list[str]] = {}
    for table, column in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = $db AND schema_name = 'main' "
            "AND NOT internal ORDER BY table_name, column_index", {"db": database}).fetchall():
        columns.setdefault(table, []).append(column)
    return columns


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def mentions_left(con: duckdb.DuckDBPyConnection, needles: list[str]) -> list[str]:
    """`table.column` of every cell of every table that still contains one of the needles (any
    case, the value read as text): the safety net for a column this module does not know."""
    found = []
    for table, columns in text_columns(con).items():
        checks = ", ".join(f"count(*) FILTER (WHERE list_bool_or([contains(lower(CAST({quoted(c)} AS VARCHAR)), n) "
                           f"FOR n IN $needles::VARCHAR[]]))" for c in columns)
        counts = con.execute(f"SELECT {checks} FROM {quoted(table)}", {"needles": needles}).fetchone()
        found += [f"{table}.{column}" for column, n in zip(columns, counts) if n]
    return found


def remove_fresh_copy(db_path: str) -> None:
    for path in (f"{db_path}{FRESH_SUFFIX}", f"{db_path}{FRESH_SUFFIX}.wal"):
        Path(path).unlink(missing_ok=True)


def rewrite_file(con: duckdb.DuckDBPyConnection, db_path: str,
                 before_swap: Callable[[], None] | None = None) -> None:
    """Rewrite the open database into a fresh file and swap it in, under the lock `con` holds.

    The fresh file holds only live rows; the copy is checked (every table's definition with its
    keys, defaults and constraints, the sequences, every table's row count) before the swap; it is
    synced to disk before the rename and the folder after. The old file's WAL is emptied first
    (CHECKPOINT), so no WAL of the old file can be replayed onto the new one.
    """
    fresh = f"{db_path}{FRESH_SUFFIX}"
    remove_fresh_copy(db_path)
    con.execute("CHECKPOINT")
    source = con.execute("SELECT current_database()").fetchone()[0]
    attached = False
    try:
        con.execute(f"ATTACH $path AS {FRESH_ALIAS}", {"path": fresh})
        attached = True
        con.execute(f"COPY FROM DATABASE {quoted(source)} TO {FRESH_ALIAS}")
        check_copy(con, source, FRESH_ALIAS)
        con.execute(f"DETACH {FRESH_ALIAS}")  # checkpoints the copy: no WAL left beside it
        attached = False
        if Path(f"{fresh}.wal").exists() or Path(f"{db_path}.wal").exists():
            raise ForgetError("a WAL file was left beside the database or its copy: the file was not swapped; "
                              "run forget again")
        fsync(fresh)
        if before_swap is not None:
            before_swap()
        os.replace(fresh, db_path)
        fsync(str(Path(db_path).parent), directory=True)
    finally:
        if attached:
            try:
                con.execute(f"DETACH {FRESH_ALIAS}")
            except duckdb.Error:
                pass
        remove_fresh_copy(db_path)


# What makes a copy faithful: each table's definition (columns, defaults, NOT NULL, keys), the
# constraints and indexes DuckDB lists, the sequences.
_CATALOG = (
    "SELECT table_name, sql FROM duckdb_tables() WHERE database_name = $db ORDER BY ALL",
    "SELECT table_name, constraint_type, constraint_text FROM duckdb_constraints() WHERE database_name = $db ORDER BY ALL",
    "SELECT index_name, table_name, sql FROM duckdb_indexes() WHERE database_name = $db ORDER BY ALL",
    "SELECT sequence_name, start_value, increment_by FROM duckdb_sequences() WHERE database_name = $db ORDER BY ALL",
    "SELECT view_name, sql FROM duckdb_views() WHERE database_name = $db AND NOT internal ORDER BY ALL",
)


def check_copy(con: duckdb.DuckDBPyConnection, source: str, copy: str) -> None:
    """ForgetError unless the copy has the source's schema and every table's row count."""
    for query in _CATALOG:
        if con.execute(query, {"db": source}).fetchall() != con.execute(query, {"db": copy}).fetchall():
            raise ForgetError(f"the rewritten copy differs from the database ({query.split(' FROM ')[1].split('(')[0]}): "
                              f"the file was not swapped; nothing of the erasure is lost, run forget again")
    for table in text_columns(con, source):
        counts = [con.execute(f"SELECT count(*) FROM {quoted(d)}.main.{quoted(table)}").fetchone()[0]
                  for d in (source, copy)]
        if counts[0] != counts[1]:
            raise ForgetError(f"the rewritten copy of {table} has {counts[1]} rows, not {counts[0]}: the file was "
                              f"not swapped; run forget again")


def fsync(path: str, directory: bool = False) -> None:
    """Flush a file (or a folder's entries) to disk, so a crash after the rename finds it whole."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def format_forget(result: ForgetResult) -> str:
    """Per table what was removed, then the suppression status and what is left in Upsales."""
    who = result.email or f"the email with sha256 {result.email_sha256[:12]}…"
    verb = "would erase" if result.dry_run else "erased"
    lines = [f"{'Dry run: ' if result.dry_run else ''}{who} in {result.db_path}:"]
    width = max(len(t) for t in TABLES)
    lines += [f"  {table:<{width}}  {n} row{'s' if n != 1 else ''} {verb}" for table, n in result.erased.items()]
    if result.newly_suppressed:
        state = "would be added to" if result.dry_run else "added to"
        lines.append(f"Suppression: {state} suppressed_emails (its sha256 only): later syncs keep its views "
                     f"without the email and never post them (reason suppressed).")
    else:
        lines.append(f"Suppression: already suppressed since {result.suppressed_since:%Y-%m-%d %H:%M} UTC.")
    if not result.dry_run:
        lines.append("The file was rewritten: no copy of the erased rows is left in it.")
    if result.posted:
        ids = ", ".join(f"{destination} {upsales_id}" for destination, upsales_id in result.posted)
        lines.append(f"Posted to Upsales before the erasure (not deleted there; delete them in Upsales if the "
                     f"request covers it): {ids}")
    return "\n".join(lines)
