"""DuckDB plumbing shared by the stages: connections, the schema, the SQL files, day rewrites.

Every connection runs in UTC, knows the rule functions (`is_valid_email`, `is_personal_domain`)
and has the schema in place, so a stage only says what it computes.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
from dagster import get_dagster_logger
from dagster_duckdb import DuckDBResource

from wistia_pipeline import redaction, rules, settings

SQL_DIR = Path(__file__).parent / "sql"

# Tables holding one day's rows per partition, in chain order.
STAGE_TABLES = ("wistia_events", "converted_views", "matched_views", "filtered_views")


@cache
def _sql_files() -> dict[str, Path]:
    """Every SQL file by its name: the folders of sql/ (stages, ledger, checks, operations) group
    them for a reader, while a name stays unique, so callers need not know the folder."""
    files: dict[str, Path] = {}
    for path in sorted(SQL_DIR.rglob("*.sql")):
        if path.stem in files:
            raise RuntimeError(f"two SQL files named {path.stem}: {files[path.stem]} and {path}")
        files[path.stem] = path
    return files


def sql(name: str) -> str:
    """The text of the SQL file `name` (`sql/<folder>/<name>.sql`)."""
    try:
        path = _sql_files()[name]
    except KeyError:
        raise FileNotFoundError(f"no SQL file {name}.sql under {SQL_DIR}") from None
    return path.read_text(encoding="utf-8")


# DuckDB's buffer pool per database. Without a cap it may grow to 80 % of the machine's memory;
# with one, a large window (a million events, ~1 GB of raw JSON) spills to `<file>.tmp` instead,
# so a run's peak memory stays well under 1 GiB whatever the window.
MEMORY_LIMIT = "512MB"


def prepare(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Make a fresh connection ready: UTC, memory cap, rule functions, schema."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    for name, function in (("is_valid_email", rules.is_valid_email), ("is_personal_domain", rules.is_personal_domain)):
        try:
            con.create_function(name, function, [duckdb.sqltypes.VARCHAR], duckdb.sqltypes.BOOLEAN,
                                null_handling="special", side_effects=False)
        except duckdb.CatalogException:
            pass  # already registered on this connection
    con.execute(sql("schema"))
    relax_personal_columns(con)
    con.execute(plain_email_macro())
    return con


# Columns that files written before retention (issue #15) declare NOT NULL: retention sets them to
# NULL past RETENTION_DAYS. Altered only where still NOT NULL (an ALTER is a catalog write).
PERSONAL_NOT_NULL = (("wistia_events", "raw"), ("converted_views", "email"), ("converted_views", "email_lower"),
                     ("matched_views", "email"), ("filtered_views", "email"))


def relax_personal_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Let retention NULL the personal columns of an older file (table and column names from code)."""
    strict = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE is_nullable = 'NO' "
        "AND list_contains($pairs, [table_name, column_name])",
        {"pairs": [list(pair) for pair in PERSONAL_NOT_NULL]}).fetchall()
    for table, column in strict:
        con.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL")


def schema_tables() -> tuple[str, ...]:
    """The tables `sql/schema.sql` creates: what makes a DuckDB file this pipeline's."""
    return tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", sql("schema"), flags=re.IGNORECASE))


def plain_email_macro() -> str:
    """`is_plain_email(e)`: rules.is_plain_email in SQL, so most emails skip the Python check."""
    special = " OR ".join(f"lower(split_part(e, '@', 2)) = '{name}' OR suffix(lower(e), '.{name}')"
                          for name in rules.SPECIAL_USE_DOMAINS)
    return (
        "CREATE OR REPLACE TEMP MACRO is_plain_email(e) AS "
        f"length(e) <= {rules.PLAIN_EMAIL_MAX_LENGTH} "
        f"AND regexp_full_match(e, '{rules.PLAIN_EMAIL_PATTERN}') "
        f"AND NOT regexp_matches(e, '[^.@]{{{rules.PLAIN_EMAIL_MAX_RUN + 1}}}') "
        f"AND NOT ({special or 'false'})"
    )


class DatabaseError(Exception):
    """The DuckDB file cannot be used; the text is one line naming the file and what follows."""


class DatabaseLocked(DatabaseError):
    """Another process held the file's lock for longer than this process would wait."""

    def __init__(self, path: str, holder: str | None, waited: float) -> None:
        self.path, self.holder, self.waited = path, holder, waited
        super().__init__(f"the DuckDB file {path} is locked by {holder_words(holder)} (another sync?) and was not "
                         f"released within {waited:g} s (DB_LOCK_TIMEOUT_S)")

    def __reduce__(self):  # picklable, as an error crossing processes must be
        return type(self), (self.path, self.holder, self.waited)


class DatabaseCorrupt(DatabaseError):
    """The file is truncated, damaged or not a DuckDB database: it has to be moved aside."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        wal = Path(f"{path}.wal")
        moves = f"mv {path} {path}.corrupt" + (f"; mv {wal} {path}.corrupt.wal" if wal.exists() else "")
        self.problem = f"{path} is not a readable DuckDB database ({reason})"
        # Safe because the ledger is checked against Upsales whenever it is empty (docs/guarantees.md).
        self.fix = (f"move it aside ({moves}); the next sync rebuilds it from Wistia and Upsales "
                    f"and posts nothing twice")
        super().__init__(f"{self.problem}: {self.fix}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)


def holder_words(holder: str | None) -> str:
    return f"pid {holder}" if holder else "another process"


# What DuckDB says when a file (or its .wal) cannot be read as a database: truncated, damaged,
# empty or random bytes. DuckDB raises these as IOException or as its base Error.
_CORRUPT = ("not a valid DuckDB database file", "Could not read enough bytes", "Corrupt database file",
            "Corrupt WAL file", "Failure while replaying WAL file", "WAL does not match database file")
_LOCK = re.compile(r"Could not set lock on file|Conflicting lock", re.IGNORECASE)
_LOCK_PID = re.compile(r"\(PID (\d+)\)")
# Bytes 8..11 of every DuckDB file, and the three 4 KiB headers before its first block.
DUCKDB_MAGIC = b"DUCK"
DUCKDB_HEADERS = 3 * 4096


def duckdb_message(error: BaseException) -> str:
    """DuckDB's message on one line (redaction.one_line), without its "IO Error: " style prefix
    and its docs link."""
    text = redaction.one_line(str(error))
    text = re.sub(r"^[A-Za-z ]*Error: ", "", text)
    return re.sub(r"\s*See also https?://\S+$", "", text)


def lock_holder(error: BaseException) -> tuple[bool, str | None]:
    """(is it a lock conflict, the holder's pid when DuckDB names it)."""
    text = str(error)
    if not isinstance(error, duckdb.Error) or not _LOCK.search(text):
        return False, None
    found = _LOCK_PID.search(text)
    return True, found.group(1) if found else None


def corruption(path: str, error: BaseException) -> DatabaseCorrupt | None:
    """The error as DatabaseCorrupt when it says the file cannot be read as a database."""
    if isinstance(error, duckdb.Error) and any(marker in str(error) for marker in _CORRUPT):
        return DatabaseCorrupt(path, duckdb_message(error))
    return None


def check_header(path: str) -> None:
    """Refuse a file that is not a DuckDB database before DuckDB sees it.

    For a file in another known format (SQLite, say) DuckDB would try to download the extension
    that reads it, which hangs or fails on a network error instead of saying what the file is.
    """
    try:
        with open(path, "rb") as file:
            head = file.read(12)
    except OSError:
        return  # missing (DuckDB creates it) or not readable (DuckDB says why)
    # Shorter: DuckDB decides (another process may be creating it: it writes its header at once).
    if len(head) == 12 and head[8:12] != DUCKDB_MAGIC:
        raise DatabaseCorrupt(path, "the file does not start with a DuckDB header")


def check_length(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Refuse a file too short for the blocks in use (a full disk, a partial copy) when it is opened.

    Such a file often opens (its catalog is at the front) and fails only when a run reads a lost
    block, halfway through, after writing to it. Free blocks may lie past the end of a sound file,
    so only the used ones count: a shorter cut is still found, when its block is read.
    """
    try:
        used, block_size = con.execute("SELECT used_blocks, block_size FROM pragma_database_size() "
                                       "WHERE database_name = current_database()").fetchone()
        length = os.path.getsize(path)
    except (duckdb.Error, OSError, TypeError):
        return  # nothing to compare: the run finds out, and says so through `corruption`
    needed = DUCKDB_HEADERS + used * block_size
    if length < needed:
        con.close()
        raise DatabaseCorrupt(path, f"the file is cut short: {length} bytes, its {used} blocks in use need {needed}")


# DuckDB lets one process write a file at a time. A run that finds the file held by another
# (a backfill next to a scheduled run, a CLI sync next to the UI's) waits its turn, so two
# overlapping runs are serialized instead of failing; the ledger then sees the first one's posts.
# It says so every LOCK_REPORT_SECONDS and gives up after DB_LOCK_TIMEOUT_S, so a run stuck
# behind a hung process fails with one line instead of waiting in silence.
LOCK_REPORT_SECONDS = 10.0


def lock_timeout() -> float:
    """DB_LOCK_TIMEOUT_S from the environment; its default when the value is bad (the run's
    settings check reports that one in its own words)."""
    return float(settings.value_or_default("DB_LOCK_TIMEOUT_S"))


def open_database(path: str, *, read_only: bool = False, config: dict[str, Any] | None = None,
                  lock_wait: float | None = None, report_every: float | None = None) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, waiting up to `lock_wait` s (default DB_LOCK_TIMEOUT_S) for another process's
    lock; DatabaseLocked or DatabaseCorrupt (one line each) when the file cannot be used."""
    lock_wait = lock_timeout() if lock_wait is None else lock_wait
    report_every = LOCK_REPORT_SECONDS if report_every is None else report_every
    if path != ":memory:":
        check_header(path)
    started = time.monotonic()
    next_report = started + report_every
    pause = 0.1
    while True:
        try:
            con = duckdb.connect(path, read_only=read_only, config=config or {})
        except duckdb.Error as error:
            locked, holder = lock_holder(error)
            if not locked:
                corrupt = corruption(path, error)
                if corrupt is not None:
                    raise corrupt from None
                raise
        else:
            if path != ":memory:":
                check_length(con, path)
            return con
        now = time.monotonic()
        if now - started >= lock_wait:
            raise DatabaseLocked(path, holder, lock_wait)
        if now >= next_report:
            get_dagster_logger().warning(
                f"waiting for the DuckDB lock on {path} held by {holder_words(holder)} "
                f"({now - started:.0f} s so far; giving up after {lock_wait:g} s, DB_LOCK_TIMEOUT_S)")
            next_report = now + report_every
        time.sleep(max(0.0, min(pause, started + lock_wait - now)))
        pause = min(pause * 2, 2.0)


@contextmanager
def connect(resource: DuckDBResource, lock_wait: float | None = None,
            report_every: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A prepared connection to the Dagster DuckDB resource's file, waiting for another writer.

    Opened here rather than by `resource.get_connection()`, whose own retries (about 100 s per
    call) would hide a lock from the reports and a corrupt file behind a long wait; the
    configuration is the resource's, so connections in one process share the database.
    """
    path = resource.database
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    config = {"custom_user_agent": "dagster", **resource.connection_config}
    con = open_database(path, config=config, lock_wait=lock_wait, report_every=report_every)
    # Closed on failure too: a failed step must not keep the file locked for other processes.
    try:
        yield prepare(con)
    except duckdb.Error as error:
        con.close()  # first: closing ends the .wal, which the recovery then need not move
        corrupt = corruption(path, error)  # a damaged block is only found when it is read
        if corrupt is not None:
            raise corrupt from None
        raise
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: a day is never left half rewritten.

    BEGIN and COMMIT are inside the `try`: an interrupt (SIGINT, or SIGTERM as an exception) on
    any statement must not leave the transaction open, or the connection's next BEGIN fails with
    "cannot start a transaction within a transaction" instead of the interrupt's own story.
    """
    try:
        con.execute("BEGIN TRANSACTION")
        yield con
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)
        raise


def rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back what is open; nothing open (BEGIN never ran, COMMIT did) is fine."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error as error:
        if "no transaction is active" not in str(error):
            raise


def delete_days(con: duckdb.DuckDBPyConnection, table: str, first: date, last: date) -> None:
    """Delete a stage table's rows for days first..last (table names come from code, never input)."""
    if table not in STAGE_TABLES:
        raise ValueError(f"not a partitioned stage table: {table}")
    con.execute(f"DELETE FROM {table} WHERE day BETWEEN $1 AND $2", [first, last])


def rewrite_days(con: duckdb.DuckDBPyConnection, stage: str, first: date, last: date,
                 params: Mapping[str, Any] | None = None) -> None:
    """Replace a stage's rows and its recorded reasons for days first..last in one transaction.

    The stage's SQL file is named after its table and takes `$first` and `$last` (the days), plus
    the named `params` of its own.
    """
    with transaction(con):
        clear_days(con, stage, first, last)
        run_script(con, stage, {"first": first, "last": last, **(params or {})})


def clear_days(con: duckdb.DuckDBPyConnection, stage: str, first: date, last: date) -> None:
    """Remove a stage's rows and recorded reasons for days first..last."""
    delete_days(con, stage, first, last)
    con.execute("DELETE FROM view_rejections WHERE stage = $1 AND day BETWEEN $2 AND $3", [stage, first, last])


class SqlParameterError(ValueError):
    """A SQL file was run without a value for one of its `$name` parameters, or with a name it
    does not use (a typo would otherwise bind nothing, or NULL)."""


def run_script(con: duckdb.DuckDBPyConnection, name: str,
               params: Mapping[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """Run the SQL file `name`, statement by statement, with its named parameters; the connection
    is returned holding the last statement's result (to fetch a query's rows).

    `params` maps each `$name` the file uses to its value (None is NULL); every name must be used
    somewhere in the file and every name the file uses must be given, or SqlParameterError says
    which. DuckDB binds parameters to the last statement of a text only, and wants exactly the names
    a statement uses, so each statement runs on its own with its own names. (Not `SET VARIABLE` and
    `getvariable`: a variable never set reads as NULL, so a typo would go unnoticed.)
    """
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise TypeError(f"the parameters of {name}.sql are named: a mapping of name to value, "
                        f"not {type(params).__name__}")
    statements = _parsed(sql(name))
    _check_parameters(name, sorted({n for _, names in statements for n in names}), params)
    for statement, names in statements:
        con.execute(statement, {n: params[n] for n in names})
    return con


def parameters(name: str) -> list[str]:
    """The names of the `$name` parameters the SQL file `name` uses, sorted."""
    return sorted({n for _, names in _parsed(sql(name)) for n in names})


def _check_parameters(name: str, takes: list[str], params: Mapping[str, Any]) -> None:
    positional = [n for n in takes if n[0].isdigit()]
    if positional:
        raise SqlParameterError(f"{name}.sql uses ${positional[0]}: SQL files take named parameters "
                                f"($first, $destination, ...), not positional ones")
    missing = [n for n in takes if n not in params]
    unknown = [n for n in params if n not in takes]
    if missing or unknown:
        problems = ([f"no value for {', '.join('$' + n for n in missing)}"] if missing else []) + (
            [f"{', '.join('$' + n for n in unknown)} not used by it"] if unknown else [])
        taken = ", ".join("$" + n for n in takes) or "no parameters"
        raise SqlParameterError(f"{name}.sql takes {taken}: {'; '.join(problems)}")


# What a parameter scan skips (string literals, quoted names, comments) and the `$name` it finds.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$\$.*?\$\$|--[^\n]*|/\*.*?\*/|\$(\w+)", re.DOTALL)


@cache
def _parsed(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The statements of a SQL text, each with the `$name` parameters it uses (first use first)."""
    parsed = []
    for statement in split_statements(text):
        names = tuple(dict.fromkeys(m.group(1) for m in _TOKENS.finditer(statement) if m.group(1)))
        parsed.append((statement, names))
    return tuple(parsed)


def split_statements(text: str) -> list[str]:
    """Split a SQL file on the semicolons that end statements (our files keep ';' out of strings)."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


def load_page(con: duckdb.DuckDBPyConnection, loader: str, page: list[dict]) -> None:
    """Stage one API page through a loader SQL file, which takes the page (as JSON text) as `$page`.

    The page goes to DuckDB as one JSON text and is unpacked there (`json_each`), so Python never
    builds rows, and the window is held by DuckDB, not by this process.
    """
    if page:
        run_script(con, loader, {"page": json.dumps(page)})


def load_pages(con: duckdb.DuckDBPyConnection, loader: str, fields: Sequence[str],
               pages: Sequence[tuple[Any, ...]]) -> None:
    """Stage a batch of API pages with one statement (the loader takes one list per field).

    `pages` holds one tuple per page, a value for each of `fields` (the page as JSON text among
    them); the loader takes `$<field>` as the list of that field's values, one per page. One INSERT
    per batch instead of one per page: a round trip into DuckDB costs about as much as unpacking a
    page.
    """
    if pages:
        run_script(con, loader, {field: list(values) for field, values in zip(fields, zip(*pages), strict=True)})


@contextmanager
def zstd_compression(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Compress what is written meanwhile with zstd instead of what DuckDB's analysis picks (FSST).

    For raw JSON (the staged Wistia pages and wistia_events): DuckDB's FSST analysis takes most of
    such a write (a million events' JSON writes in about 7 s instead of 10 on two cores) and zstd
    takes less disk. Storage only: what is read back is the same.
    """
    con.execute("SET force_compression = 'zstd'")
    try:
        yield
    finally:
        con.execute("RESET force_compression")


def rows(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows of the named SQL file's query (sql/<folder>/<name>.sql, its named `params`), each
    as a dict by column name."""
    relation = run_script(con, name, params)
    columns = [d[0] for d in relation.description]
    return [dict(zip(columns, values)) for values in relation.fetchall()]


def count(con: duckdb.DuckDBPyConnection, table: str, first: date, last: date, where: str = "",
          params: Sequence[Any] = ()) -> int:
    """Rows of a stage table for days first..last (optionally narrowed by a fixed clause)."""
    query = f"SELECT count(*) FROM {table} WHERE day BETWEEN ? AND ? {where}"
    return con.execute(query, [first, last, *params]).fetchone()[0]


# A preview cell longer than this is cut (and the table says so); a URL in it is never cut.
PREVIEW_CELL_CHARS = 200
_URL = re.compile(r"https?://\S+")


def preview_cell(value: Any, limit: int = PREVIEW_CELL_CHARS) -> tuple[str, bool]:
    """One value as a markdown table cell, and whether it was cut: whole up to `limit`
    characters; past that cut, but never inside a URL (a heatmap link must stay usable)."""
    text = "" if value is None else str(value).replace("\n", " ")
    end = limit
    for url in _URL.finditer(text):
        if url.start() < end < url.end():
            end = url.end()
    cut = len(text) > end
    if cut:
        text = text[:end] + " …"
    return text.replace("|", "\\|"), cut


def preview_markdown(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any], limit: int = 10) -> str:
    """The first rows of a query as a markdown table for the Dagster UI, with a line under it
    saying how many rows of how many it shows and whether a cell was cut: a preview that
    silently drops rows or characters reads as the whole table."""
    relation = con.execute(f"SELECT * FROM ({query}) LIMIT {int(limit)}", list(params))
    columns = [d[0] for d in relation.description]
    rows = relation.fetchall()
    if not rows:
        return "_no rows_"
    total = len(rows)
    if total == limit:
        total = con.execute(f"SELECT count(*) FROM ({query})", list(params)).fetchone()[0]

    any_cut = False
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [preview_cell(v) for v in row]
        any_cut = any_cut or any(cut for _, cut in cells)
        lines.append("| " + " | ".join(text for text, _ in cells) + " |")
    shown = f"{len(rows)} of {total} rows" if total > len(rows) else f"all {total} row{'s' if total != 1 else ''}"
    note = f"_{shown}"
    if any_cut:
        note += f"; cells over {PREVIEW_CELL_CHARS} characters cut at … (URLs kept whole)"
    return "\n".join(lines) + "\n\n" + note + "_"


def column_schema(con: duckdb.DuckDBPyConnection, table: str):
    """The table's columns as Dagster's TableSchema (shown on the asset page)."""
    from dagster import TableColumn, TableSchema

    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return TableSchema(columns=[TableColumn(name=name, type=kind) for name, kind in rows])
